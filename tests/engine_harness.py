"""Building blocks for engine tests: a config aimed at FakeLLM, an event recorder that waits on
conditions (never sleeps), and a context manager that runs a real SessionManager on a real
SQLite file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_core.config import Config, deep_merge, default_config_dict
from agent_core.events import Event
from agent_core.llm import get_litellm
from agent_core.manager import SessionManager
from agent_core.store import Store
from agent_core.tools.base import ToolSpec
from agent_core.tools.router import ToolRouter

ORIGIN = {"platform": "test", "requester": "U_REQ", "channel": "C1", "thread_ts": "1.0"}


def make_config(**overrides: Any) -> Config:
    """The shipped defaults with a fake model and fast retries, plus ``overrides``."""
    base = default_config_dict()
    base["model_name"] = "openai/fake"
    base = deep_merge(
        base,
        {
            "llm_retry_base_s": 0.01,
            "llm_retry_max_s": 0.2,
            "llm_timeout_s": 30,
            "context_window": 100_000,
            # tests.llm_transports runs a suite over both LLM transports through this.
            "llm_transport": os.environ.get("ML_INTERN_TEST_LLM_TRANSPORT", "auto"),
            # Tests that set HF_TOKEN would otherwise get Space sandboxes; sandbox tests opt in.
            "sandbox": {"backend": "off"},
        },
    )
    return Config.model_validate(deep_merge(base, overrides))


class EventRecorder:
    """Collects events; ``wait_for`` blocks on a condition until a match arrives."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = asyncio.Condition()

    async def __call__(self, event: Event) -> None:
        async with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, session_id: str | None = None, type_: str | None = None) -> list[Event]:
        return [
            e
            for e in self.events
            if (session_id is None or e.session_id == session_id)
            and (type_ is None or e.type == type_)
        ]

    def types(self, session_id: str | None = None) -> list[str]:
        return [e.type for e in self.of(session_id)]

    async def wait_for(
        self,
        type_: str,
        session_id: str | None = None,
        predicate: Callable[[Event], bool] | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> Event:
        def matches() -> list[Event]:
            return [e for e in self.of(session_id, type_) if predicate is None or predicate(e)]

        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: len(matches()) >= count), timeout)
            return matches()[count - 1]


@dataclass
class Engine:
    manager: SessionManager
    store: Store
    events: EventRecorder
    config: Config
    path: Path


def tool(
    name: str,
    handler: Callable[..., Any],
    *,
    params: dict[str, Any] | None = None,
    read_only: bool = True,
    **kw: Any,
) -> ToolSpec:
    async def wrapped(args: dict[str, Any], ctx: Any) -> tuple[str, bool]:
        result = handler(args, ctx)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    return ToolSpec(
        name=name,
        description=f"test tool {name}",
        parameters=params or {"type": "object", "properties": {}},
        handler=wrapped,
        read_only=read_only,
        **kw,
    )


@asynccontextmanager
async def run_engine(
    path: Path,
    base_url: str,
    *,
    tools: list[ToolSpec] | None = None,
    config: Config | None = None,
    with_builtin: bool = True,
) -> AsyncIterator[Engine]:
    """A started SessionManager on ``path`` talking to the fake LLM at ``base_url``."""
    os.environ["OPENAI_API_BASE"] = base_url
    os.environ["OPENAI_API_KEY"] = "sk-fake-test-key"
    cfg = config or make_config()
    # litellm's import takes seconds (more on a loaded CI box): pay it here, not inside a
    # test's 10 s wait for an event.
    await asyncio.to_thread(get_litellm)
    store = await Store.open(path)
    specs: list[ToolSpec] = []
    if with_builtin:
        from agent_core.tools import plan_tool

        specs.extend(plan_tool.tools(None))  # type: ignore[arg-type]
    specs.extend(tools or [])
    manager = SessionManager(store, cfg, router=ToolRouter(specs))
    recorder = EventRecorder()
    manager.add_listener(recorder)
    await manager.start()
    try:
        yield Engine(manager, store, recorder, cfg, path)
    finally:
        await manager.close(grace_s=2)
        await store.close()
