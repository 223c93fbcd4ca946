"""Build a real :class:`ToolContext` for tool unit tests, recording what the tool emits.

Not a fake of a remote system: a small harness so each tool test does not repeat the dozen
fields a context needs. ``emitted`` collects ``(kind, payload)``; ``cleanups`` collects the hooks
a tool registered, keyed as the tool keyed them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_core.config import Config
from agent_core.tools.base import CleanupHook, Services, ToolContext


@dataclass
class ToolHarness:
    ctx: ToolContext
    emitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cleanups: dict[str, CleanupHook] = field(default_factory=dict)

    def logs(self, tool: str | None = None) -> list[dict[str, Any]]:
        return [
            p
            for k, p in self.emitted
            if k == "tool_log" and (tool is None or p.get("tool") == tool)
        ]


def make_config(**tools: Any) -> Config:
    return Config.model_validate({"model_name": "openai/fake", "tools": tools})


def make_harness(
    state_dir: Path,
    *,
    config: Config | None = None,
    session_id: str = "sess-1",
    services: Services | None = None,
    session_state: dict[str, Any] | None = None,
    model: str = "openai/fake",
) -> ToolHarness:
    services = services or Services(config=config or make_config(), state_dir=state_dir)
    if services.state_dir is None:
        services.state_dir = state_dir
    if services.config is None:
        services.config = config or make_config()
    emitted: list[tuple[str, dict[str, Any]]] = []
    cleanups: dict[str, CleanupHook] = {}

    async def emit(kind: str, payload: dict[str, Any]) -> Any:
        emitted.append((kind, payload))
        return None

    ctx = ToolContext(
        session_id=session_id,
        tool_call_id="call-1",
        origin={},
        services=services,
        emit=emit,
        cancel_event=asyncio.Event(),
        session_state=session_state if session_state is not None else {},
        register_cleanup=lambda key, hook: cleanups.__setitem__(key, hook),
        model=model,
    )
    return ToolHarness(ctx=ctx, emitted=emitted, cleanups=cleanups)
