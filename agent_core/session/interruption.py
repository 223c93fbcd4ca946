"""How a running turn is stopped: cancel what it waits on, never the loop itself.

A stop (a person, or the host shutting down) must leave the history consistent and the store
up to date. Cancelling the loop coroutine would skip its cleanup, so instead the turn awaits
every LLM call and tool task through :meth:`Interruption.race`; a stop cancels those awaits and
the loop sees :class:`TurnCancelled` at a point where it can tidy up. Tools that start
something outside the process (a sandbox, a job) register a cleanup hook that runs on stop.

With several replicas, the same places are where a replica checks it still drives the session
before acting (:attr:`Interruption.fence`, set by the manager from its claim; see
:mod:`agent_core.replicas.claims`): a replica that lost its lease raises there instead of
calling the model or running tools a second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..tools.base import CleanupHook

log = logging.getLogger(__name__)

CLEANUP_TIMEOUT_S = 10

Fence = Callable[[], Awaitable[None]]


class TurnCancelled(Exception):
    """The turn was interrupted; raised where the loop awaits, caught where it cleans up."""


class Interruption:
    """The stop signal of one session and everything a stop must cancel or clean up."""

    def __init__(self) -> None:
        self.event = asyncio.Event()  # tools watch it (ToolContext.cancel_event)
        self.by: str | None = None  # who asked for the stop: ``interrupted.stopped_by``
        self._inflight: set[asyncio.Task[Any]] = set()
        self._cleanups: dict[str, CleanupHook] = {}
        # Raises when this process no longer drives the session (None: it always does).
        self.fence: Fence | None = None

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def request(self, by: str | None) -> None:
        """Stop the running turn: set the flag and cancel every awaited task."""
        self.by = by
        self.event.set()
        for task in list(self._inflight):
            task.cancel()

    def reset(self) -> None:
        """Forget a previous stop (called around every operation)."""
        self.event.clear()
        self.by = None
        self._inflight.clear()

    async def before_acting(self) -> None:
        """The fencing check before a step that acts (a model call, tool calls)."""
        if self.fence is not None:
            await self.fence()

    async def race(self, coro: Awaitable[Any]) -> Any:
        """Await ``coro`` unless the turn is interrupted first (then raise TurnCancelled)."""
        if self.fence is not None and not self.requested:
            try:
                await self.fence()
            except BaseException:
                if asyncio.iscoroutine(coro):
                    coro.close()
                raise
        if self.requested:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise TurnCancelled
        task = asyncio.ensure_future(coro)
        self._inflight.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            if self.requested:
                raise TurnCancelled from None
            raise
        finally:
            self._inflight.discard(task)

    def track(self, tasks: Iterable[asyncio.Task[Any]]) -> None:
        """Let a stop cancel these tasks (concurrent tool calls) until :meth:`untrack`."""
        self._inflight.update(tasks)

    def untrack(self, tasks: Iterable[asyncio.Task[Any]]) -> None:
        self._inflight.difference_update(tasks)

    def register_cleanup(self, name: str, hook: CleanupHook) -> None:
        """A tool's undo for a stop (kill a process, cancel a job); the latest per name wins."""
        self._cleanups[name] = hook

    async def run_cleanups(self) -> None:
        hooks, self._cleanups = self._cleanups, {}
        for name, hook in hooks.items():
            try:
                await asyncio.wait_for(hook(), timeout=CLEANUP_TIMEOUT_S)
            except Exception:
                log.warning("cleanup hook %s failed", name, exc_info=True)
