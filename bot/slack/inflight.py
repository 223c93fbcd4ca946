"""Work started by an acked Slack input, tracked so shutdown can wait for it.

Bolt acks an envelope before the listener's work is done; a message that was acked must still
reach the engine's queue before the engine stops taking work. Listeners wrap their work in
:meth:`InFlight.track`, and fire-and-forget work (a refusal note) goes through
:meth:`InFlight.spawn`; :meth:`InFlight.wait` is the bounded wait at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# A button's handler: (body, action, respond).
ButtonHandler = Callable[[dict[str, Any], dict[str, Any], Any], Awaitable[None]]


class InFlight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "slack-task") -> asyncio.Task[Any]:
        """Run ``coro`` after the ack, tracked; a failure is logged, never lost silently."""
        task = asyncio.create_task(self._guard(coro), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background Slack task failed")

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        """Mark listener work in progress for the duration of the block."""
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def wait(self, timeout: float) -> None:
        """Wait (bounded) for listener work and spawned tasks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("shutting down with %d Slack input(s) still being handled", self._count)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=max(0.0, deadline - loop.time()))

    def button(self, handler: ButtonHandler) -> Callable[..., Awaitable[None]]:
        """A Bolt listener for a button: ack at once (Slack's 3-second limit), then run
        ``handler(body, action, respond)`` as tracked work."""

        async def listener(
            ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
        ) -> None:
            await ack()
            async with self.track():
                await handler(body, action, respond)

        return listener
