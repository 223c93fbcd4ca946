"""Dispatches tool calls: lookup, timeout, exception capture, output cap.

A handler that raises never takes the turn down: the model gets a short error it can act on,
and the traceback goes to the log (scrubbed), not into the conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from ..redact import scrub_text
from .base import ToolContext, ToolSpec, cap_output

log = logging.getLogger(__name__)

DEFAULT_OUTPUT_CAP = 25_000


class ToolRouter:
    """The set of tools one session may call."""

    def __init__(self, specs: Iterable[ToolSpec] = (), default_cap: int = DEFAULT_OUTPUT_CAP):
        self._specs: dict[str, ToolSpec] = {}
        self._schemas: list[dict[str, Any]] | None = None
        self.default_cap = default_cap
        for spec in specs:
            self.register(spec)

    def register(self, spec: ToolSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"duplicate tool name: {spec.name}")
        self._specs[spec.name] = spec
        self._schemas = None

    def get(self, name: str) -> ToolSpec | None:
        return self._specs.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[ToolSpec]:
        return list(self._specs.values())

    def openai_tools(self, only: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The schemas; the full set is the same list object until a tool is registered, so
        the LLM client encodes it once (treat it as read-only)."""
        if only is None:
            if self._schemas is None:
                self._schemas = [s.openai_schema() for s in self._specs.values()]
            return self._schemas
        allowed = set(only) if only is not None else None
        return [
            s.openai_schema() for s in self._specs.values() if allowed is None or s.name in allowed
        ]

    def subset(self, names: Iterable[str]) -> ToolRouter:
        wanted = set(names)
        return ToolRouter(
            (s for s in self._specs.values() if s.name in wanted), default_cap=self.default_cap
        )

    async def call(self, name: str, args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
        spec = self._specs.get(name)
        if spec is None:
            available = ", ".join(sorted(self._specs)) or "none"
            return f"ERROR: unknown tool '{name}'. Available tools: {available}", False
        try:
            coro = spec.handler(args, ctx)
            if spec.timeout_s:
                text, ok = await asyncio.wait_for(coro, timeout=spec.timeout_s)
            else:
                text, ok = await coro
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            return f"ERROR: tool '{name}' timed out after {spec.timeout_s:.0f}s", False
        except Exception as exc:  # a tool bug must not end the turn
            log.warning("tool %s failed: %s", name, scrub_text(repr(exc)), exc_info=True)
            return f"ERROR: tool '{name}' failed: {type(exc).__name__}: {exc}", False
        text = text if isinstance(text, str) else str(text)
        cap = spec.output_cap or self.default_cap
        return cap_output(text, cap, hint="ask for a narrower range to see the middle"), bool(ok)
