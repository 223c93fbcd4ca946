"""The Postgres connection that LISTENs for wake-ups, kept alive across server restarts.

``LISTEN`` belongs to one connection, outside the pool: if that connection dies (the server
restarted, a proxy cut it, an admin terminated it) every channel goes silent for the rest of the
process unless someone listens again. :class:`PgListener` notices the loss (asyncpg's
termination listener), reconnects with backoff and re-subscribes every channel. Wake-ups sent
while it was away are lost — they are only hints; the replicas' patrol finds the work anyway
(see :mod:`agent_core.store.wakeups`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from ..retry import backoff_delay
from .wakeups import Callback, Listeners

log = logging.getLogger(__name__)

RECONNECT_BASE_S = 0.5
RECONNECT_MAX_S = 15.0


class PgListener:
    """The callbacks per channel, and the one connection that delivers them."""

    def __init__(self, url: str, connect_timeout_s: float) -> None:
        self._url = url  # with its password: never logged
        self._timeout = connect_timeout_s
        self._listeners = Listeners()
        self.connection: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False
        # Set while every channel is subscribed on a live connection (cleared on a loss).
        self.ready = asyncio.Event()

    async def listen(self, channel: str, callback: Callback) -> None:
        if self._listeners.add(channel, callback):
            conn = await self._connection()
            await conn.add_listener(channel, self._deliver)
        if self._reconnecting is None or self._reconnecting.done():
            self.ready.set()

    async def unlisten(self, channel: str, callback: Callback) -> None:
        if self._listeners.remove(channel, callback) and self.connection is not None:
            if not self.connection.is_closed():
                await self.connection.remove_listener(channel, self._deliver)

    async def close(self) -> None:
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        if self.connection is not None and not self.connection.is_closed():
            await self.connection.close()

    def _deliver(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        self._listeners.deliver(channel, payload)

    async def _connection(self) -> asyncpg.Connection:
        if self.connection is None or self.connection.is_closed():
            conn = await asyncpg.connect(self._url, timeout=self._timeout)
            conn.add_termination_listener(self._on_lost)
            self.connection = conn
        return self.connection

    def _on_lost(self, conn: object) -> None:
        if self._closed or conn is not self.connection:
            return
        log.warning("lost the wake-up connection to the store; listening again")
        self.ready.clear()
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(
                self._listen_again(), name="store-relisten"
            )

    async def _listen_again(self) -> None:
        attempt = 0
        while not self._closed:
            try:
                conn = await self._connection()
                for channel in self._listeners.channels():
                    await conn.add_listener(channel, self._deliver)
                self.ready.set()
                return
            except Exception as exc:
                attempt += 1
                log.warning(
                    "cannot listen for wake-ups yet (%s); retry %d", type(exc).__name__, attempt
                )
                await asyncio.sleep(
                    backoff_delay(attempt, base=RECONNECT_BASE_S, cap=RECONNECT_MAX_S)
                )
