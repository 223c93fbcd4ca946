"""Socket Mode: the WebSocket the bot connects to, the envelopes pushed on it, their acks.

``apps.connections.open`` (app token) hands out a ``wss`` URL with a one-time ticket; the
socket says ``hello``; every envelope (events, interactivity) must be acked with its
``envelope_id`` within the ack timeout, or :class:`AckTimeout` is raised (Slack would retry).
Slack's periodic ``disconnect`` refresh, an abrupt server-side drop, redelivery with the same
``event_id`` and the 10-connection limit are reproduced. Payload shapes are in ``payloads``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.slack import payloads
from tests.fakes.slack.records import APP_ID, Ack, AckTimeout
from tests.fakes.slack.state import SlackState

MAX_WEBSOCKETS = 10  # Slack refuses an 11th concurrent Socket Mode connection


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    number: int
    ticket: str | None
    opened_at: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def open(self) -> bool:
        return not self.ws.closed

    async def send(self, obj: Mapping[str, Any]) -> None:
        async with self.lock:  # aiohttp writers must not interleave frames
            await self.ws.send_str(json.dumps(obj))


class SocketMode:
    """The ``/link/`` endpoint, its connections, and envelope delivery with ack tracking."""

    def __init__(self, state: SlackState, *, ack_timeout: float = 5.0) -> None:
        self.state = state
        self.ack_timeout = ack_timeout
        self.connections_opened = 0
        self._conns: list[Connection] = []
        self._pending_acks: dict[str, tuple[asyncio.Future[Ack], float, dict[str, Any]]] = {}
        self._tickets: set[str] = set()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/link", self._handle_link)
        app.router.add_get("/link/", self._handle_link)

    @property
    def ws_url(self) -> str:
        return self.state.origin.replace("http://", "ws://", 1) + "/link/"

    def connections_open(self, state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
        """``apps.connections.open``: a socket URL with a fresh ticket (strict mode checks it)."""
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        return {"url": f"{self.ws_url}?ticket={ticket}&app_id={APP_ID}"}

    @property
    def ws_connections(self) -> int:
        return sum(1 for c in self._conns if c.open)

    async def wait_connected(self, timeout: float = 5.0) -> int:
        """Wait for at least one open Socket Mode connection; returns the count."""
        return await self.state.wait_for(lambda: self.ws_connections, timeout)

    async def close(self) -> None:
        """Fail pending ack waits and close every socket (server shutdown)."""
        for fut, _, _ in self._pending_acks.values():
            if not fut.done():
                fut.cancel()
        self._pending_acks.clear()
        await asyncio.gather(
            *(c.ws.close(code=1001, message=b"server shutdown") for c in list(self._conns)),
            return_exceptions=True,
        )

    def current_conn(self) -> Connection | None:
        """Newest open socket: the websockets adapter opens the new socket before closing the old."""
        for conn in reversed(self._conns):
            if conn.open:
                return conn
        return None

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket")
        if self.state.strict and ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        self.connections_opened += 1
        conn = Connection(
            ws=ws, number=self.connections_opened, ticket=ticket, opened_at=time.monotonic()
        )
        if self.ws_connections >= MAX_WEBSOCKETS:
            await conn.send({"type": "disconnect", "reason": "too_many_websockets"})
            await ws.close()
            return ws
        self._conns.append(conn)
        await conn.send(
            {
                "type": "hello",
                "num_connections": self.ws_connections,
                "debug_info": {
                    "host": "fake-slack",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        )
        self.state.changed()
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_frame(frame.data)
                elif frame.type == WSMsgType.ERROR:
                    break
        finally:
            if conn in self._conns:
                self._conns.remove(conn)
            self.state.changed()
        return ws

    def _on_frame(self, data: str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            self.state.unexpected_frames.append(data)
            return
        envelope_id = msg.get("envelope_id") if isinstance(msg, dict) else None
        if not envelope_id:
            self.state.unexpected_frames.append(data)
            return
        pending = self._pending_acks.pop(envelope_id, None)
        now = time.monotonic()
        latency = now - pending[1] if pending else float("nan")
        ack = Ack(envelope_id, latency, msg.get("payload"), pending[2] if pending else None, now)
        self.state.acks.append(ack)
        if pending and not pending[0].done():
            pending[0].set_result(ack)
        self.state.changed()

    async def push_envelope(
        self, envelope: dict[str, Any], *, ack_timeout: float | None = None
    ) -> Ack:
        """Send any envelope to the newest connection and wait for the bot's ack."""
        timeout = self.ack_timeout if ack_timeout is None else ack_timeout
        try:
            await self.wait_connected(timeout)
        except TimeoutError:
            raise AckTimeout(
                "no Socket Mode connection: did the bot call connect_async()?"
            ) from None
        conn = self.current_conn()
        assert conn is not None
        envelope_id = envelope["envelope_id"]
        fut: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = (fut, time.monotonic(), envelope)
        self.state.envelopes.append(envelope)
        await conn.send(envelope)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise AckTimeout(
                f"bot did not ack {envelope.get('type')} envelope {envelope_id} within {timeout}s"
            ) from None

    async def send_event(
        self,
        event: dict[str, Any],
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        *,
        ack_timeout: float | None = None,
    ) -> Ack:
        """Push an Events API event; returns once the bot acked (``Ack.envelope`` to redeliver)."""
        envelope = payloads.event_envelope(
            event,
            fallback_ts=self.state.next_ts(),
            event_id=event_id,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
        return await self.push_envelope(envelope, ack_timeout=ack_timeout)

    async def redeliver(
        self,
        envelope: dict[str, Any] | Ack,
        retry_attempt: int = 1,
        retry_reason: str = "timeout",
        *,
        ack_timeout: float | None = None,
    ) -> Ack:
        """Resend an event as Slack's retry does: new envelope_id, same event_id."""
        if isinstance(envelope, Ack):
            if envelope.envelope is None:
                raise ValueError("this Ack has no envelope (late or unknown ack)")
            envelope = envelope.envelope
        again = json.loads(json.dumps(envelope))
        again["envelope_id"] = str(uuid.uuid4())
        again["retry_attempt"] = retry_attempt
        again["retry_reason"] = retry_reason
        return await self.push_envelope(again, ack_timeout=ack_timeout)

    async def request_reconnect(
        self, reason: str = "refresh_requested", *, timeout: float = 5.0, close_old: bool = False
    ) -> None:
        """Ask the bot to reconnect (as Slack does periodically) and wait for the new socket."""
        await self.wait_connected(timeout)
        old = self.current_conn()
        assert old is not None
        before = self.connections_opened
        await old.send(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
        )
        await self.state.wait_for(
            lambda: (
                self.connections_opened > before
                and (c := self.current_conn()) is not None
                and c is not old
            ),
            timeout,
        )
        if close_old and old.open:
            await old.ws.close(code=1000, message=b"refreshed")

    async def drop_connections(self, code: int = 1011) -> None:
        """Close every socket from the server side (abrupt loss; tests auto-reconnect)."""
        await asyncio.gather(
            *(c.ws.close(code=code) for c in list(self._conns)), return_exceptions=True
        )
