"""The gateways' reading of the engine's event log: from a durable cursor, per session, in order.

The store keeps our cursor per session ("events up to here are routed"). A live event and a
restart take the same path — :meth:`EventFeed.catch_up` reads the session's wanted events past
the cursor and hands each to the handler — so there is no separate replay code to drift, and an
event whose listener call is still on its way (another emitter of the same session) is routed
by whichever call comes first; the other finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from agent_core.events import Event

if TYPE_CHECKING:
    from agent_core.store import Store

log = logging.getLogger(__name__)

Handler = Callable[[Event, dict[str, Any]], Awaitable[Any]]


class EventFeed:
    """Hands a consumer's wanted events to ``handle(event, session origin)``, each once."""

    def __init__(self, store: Store, consumer: str, types: frozenset[str], handle: Handler) -> None:
        self.store = store
        self.consumer = consumer
        self.types = types
        self.handle = handle
        # One catch-up per session at a time (a turn and the job watcher emit concurrently).
        self._session_locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def replay_missed(self) -> int:
        """After a restart: route what was persisted but not routed; returns how many events.

        On the consumer's very first start nothing is replayed — history from before it
        existed is not announced.
        """
        if await self.store.register_consumer(self.consumer):
            return 0
        handled = 0
        for session_id in await self.store.sessions_behind(self.consumer, untracked=True):
            handled += await self.catch_up(session_id)
        return handled

    async def catch_up(self, session_id: str, upto: int | None = None) -> int:
        """Handle the session's wanted events past the cursor (up to ``upto``, default: all),
        then move the cursor. A failing event is logged and skipped, never retried forever."""
        async with self._session_lock(session_id):
            cursor = await self.store.cursor(self.consumer, session_id)
            after = cursor.seq if cursor else 0
            if upto is None:
                upto = await self.store.last_seq(session_id)
            if upto <= after:
                return 0
            events = await self.store.events_after(session_id, after, upto=upto, types=self.types)
            origin: dict[str, Any] = {}
            if events:
                session = await self.store.get_session(session_id)
                origin = (session or {}).get("origin") or {}
            for event in events:
                try:
                    await self.handle(event, origin)
                except Exception:
                    log.exception("%s: %s #%s failed", self.consumer, event.type, event.seq)
            await self.store.advance_cursor(self.consumer, session_id, upto)
            return len(events)

    @asynccontextmanager
    async def _session_lock(self, session_id: str) -> AsyncIterator[None]:
        lock, users = self._session_locks.get(session_id) or (asyncio.Lock(), 0)
        self._session_locks[session_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._session_locks[session_id]
            if users <= 1:
                del self._session_locks[session_id]
            else:
                self._session_locks[session_id] = (lock, users - 1)
