"""Socket Mode: the WebSockets the bot connects to, the envelopes pushed on them, their acks.

``apps.connections.open`` (app token) hands out a ``wss`` URL with a one-time ticket; the
socket says ``hello``; every envelope (events, interactivity) must be acked with its
``envelope_id`` within the ack timeout. Slack's periodic ``disconnect`` refresh, an abrupt
server-side drop and the 10-connection limit are reproduced. Payload shapes are in ``payloads``.

Several connections, as Slack runs them (api.slack.com "Socket Mode": an app may hold up to
10 open connections; bolt-python #1071, the SDK maintainer: "Slack's API server delivers to
any of the active connections and does retries for Events API messages"):

- each envelope goes to **one** open connection; envelopes are spread over the connections
  (round robin here — Slack does not document its choice, only that any one may get it), so
  N bot replicas each see about 1/N of the traffic. A connection that was sent a
  ``disconnect`` gets no new envelopes.
- an ``events_api`` envelope not acked within the ack timeout is delivered again, up to
  ``retries`` times (Slack: 3), as a new envelope with the same ``event_id``,
  ``retry_attempt`` counting up and ``retry_reason`` ``"timeout"`` — possibly on another
  connection. One sent on a connection that closes before acking it is delivered again at
  once on another (or the next) connection. Interactive envelopes are never retried (Slack
  shows the user an error instead): :class:`AckTimeout`.
- every send is recorded as a :class:`Delivery` (which connection got which envelope, and
  when it was acked), and each :class:`Connection` records its peer address, so a test can
  tell which bot process got what and assert the spread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.slack.event_delivery import EventDelivery
from tests.fakes.slack.records import APP_ID, Ack, AckTimeout
from tests.fakes.slack.state import SlackState

MAX_WEBSOCKETS = 10  # Slack refuses an 11th concurrent Socket Mode connection
EVENT_RETRIES = 3  # Slack retries an unacknowledged Events API delivery 3 times


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    number: int
    ticket: str | None
    opened_at: float
    peer: tuple[str, int] | None = None  # the bot's (host, port): which process this is
    draining: bool = False  # sent a ``disconnect``: Slack sends nothing new on it
    closed_at: float | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def open(self) -> bool:
        return not self.ws.closed and not self.closed.is_set()

    async def send(self, obj: Mapping[str, Any]) -> None:
        async with self.lock:  # aiohttp writers must not interleave frames
            await self.ws.send_str(json.dumps(obj))

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "peer_port": self.peer[1] if self.peer else None,
            "open": self.open,
            "draining": self.draining,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
        }


@dataclass
class Delivery:
    """One envelope sent on one connection (a redelivery is a new Delivery)."""

    envelope_id: str
    type: str
    event_id: str | None
    connection: int  # Connection.number
    retry_attempt: int
    sent_at: float
    acked_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _event_id(envelope: Mapping[str, Any]) -> str | None:
    payload = envelope.get("payload")
    return payload.get("event_id") if isinstance(payload, dict) else None


def retry_of(envelope: Mapping[str, Any], retry_attempt: int, retry_reason: str) -> dict[str, Any]:
    """Slack's retry of an envelope: new envelope_id, same event (and event_id)."""
    again = json.loads(json.dumps(envelope))
    again["envelope_id"] = str(uuid.uuid4())
    again["retry_attempt"] = retry_attempt
    again["retry_reason"] = retry_reason
    return again


class SocketMode(EventDelivery):
    """The ``/link/`` endpoint, its connections, and envelope delivery with ack tracking."""

    def __init__(
        self, state: SlackState, *, ack_timeout: float = 5.0, retries: int = EVENT_RETRIES
    ) -> None:
        self.state = state
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.connections_opened = 0
        self.connections: list[Connection] = []  # every connection ever opened, in order
        self.deliveries: list[Delivery] = []
        self._conns: list[Connection] = []  # the open ones
        self._pending_acks: dict[str, tuple[asyncio.Future[Ack], float, dict[str, Any]]] = {}
        self._deliveries_by_envelope: dict[str, Delivery] = {}
        self._tickets: set[str] = set()
        self._turn = itertools.count()

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

    def connection(self, number: int) -> Connection:
        """A connection by its number (1 = the first ever opened)."""
        return self.connections[number - 1]

    def deliveries_of(self, event_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.event_id == event_id]

    def _pick(self, connection: int | None, avoid: Collection[int]) -> Connection | None:
        """The connection for the next envelope: the one asked for, else the next in turn."""
        if connection is not None:
            conn = self.connection(connection)
            return conn if conn.open else None
        live = [c for c in self._conns if c.open and not c.draining and c.number not in avoid]
        if not live:  # only draining ones left: Slack still has to deliver somewhere
            live = [c for c in self._conns if c.open and c.number not in avoid]
        return live[next(self._turn) % len(live)] if live else None

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket")
        if self.state.strict and ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        conn = Connection(
            ws=ws,
            number=self.connections_opened + 1,
            ticket=ticket,
            opened_at=time.monotonic(),
            peer=tuple(peer[:2]) if peer else None,
        )
        if self.ws_connections >= MAX_WEBSOCKETS:
            await conn.send({"type": "disconnect", "reason": "too_many_websockets"})
            await ws.close()
            return ws
        self.connections_opened += 1
        self.connections.append(conn)
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
            conn.closed_at = time.monotonic()
            conn.closed.set()
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
        if (delivery := self._deliveries_by_envelope.get(envelope_id)) is not None:
            delivery.acked_at = now
        if pending and not pending[0].done():
            pending[0].set_result(ack)
        self.state.changed()

    async def push_envelope(
        self,
        envelope: dict[str, Any],
        *,
        ack_timeout: float | None = None,
        connection: int | None = None,
        avoid: Collection[int] = (),
    ) -> Ack:
        """Deliver an envelope to one connection and wait for the bot's ack.

        ``connection`` sends it on that connection (by number) and nowhere else; ``avoid``
        keeps it off those connections. Unacked ``events_api`` envelopes are retried as
        Slack does (see the module docstring); returns the ack of whichever delivery was
        acked first.
        """
        timeout = self.ack_timeout if ack_timeout is None else ack_timeout
        retries = self.retries if envelope.get("type") == "events_api" else 0
        for attempt in itertools.count():
            ack, reason = await self._deliver_once(envelope, timeout, connection, avoid)
            if ack is not None:
                return ack
            if attempt >= retries or connection is not None:
                raise AckTimeout(
                    f"bot did not ack {envelope.get('type')} envelope "
                    f"{envelope['envelope_id']} within {timeout}s ({reason})"
                )
            envelope = retry_of(envelope, int(envelope.get("retry_attempt") or 0) + 1, "timeout")
        raise AssertionError("unreachable")

    async def _deliver_once(
        self,
        envelope: dict[str, Any],
        timeout: float,
        connection: int | None,
        avoid: Collection[int],
    ) -> tuple[Ack | None, str]:
        """Send on one connection; (the ack, "") or (None, why not)."""
        try:
            conn = await self.state.wait_for(lambda: self._pick(connection, avoid), timeout)
        except TimeoutError:
            raise AckTimeout(
                "no Socket Mode connection: did the bot call connect_async()?"
            ) from None
        envelope_id = envelope["envelope_id"]
        fut: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = (fut, time.monotonic(), envelope)
        self.state.envelopes.append(envelope)
        delivery = Delivery(
            envelope_id,
            str(envelope.get("type")),
            _event_id(envelope),
            conn.number,
            int(envelope.get("retry_attempt") or 0),
            time.monotonic(),
        )
        self.deliveries.append(delivery)
        self._deliveries_by_envelope[envelope_id] = delivery
        self.state.changed()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.send(envelope)  # a socket closing under us counts as not acked
        closed = asyncio.ensure_future(conn.closed.wait())
        try:
            await asyncio.wait({fut, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if fut.done() and not fut.cancelled():
            return fut.result(), ""
        return None, "its connection closed" if conn.closed.is_set() else "timed out"

    async def redeliver(
        self,
        envelope: dict[str, Any] | Ack,
        retry_attempt: int = 1,
        retry_reason: str = "timeout",
        *,
        ack_timeout: float | None = None,
        connection: int | None = None,
        avoid: Collection[int] = (),
    ) -> Ack:
        """Resend an event as Slack's retry does: new envelope_id, same event_id."""
        if isinstance(envelope, Ack):
            if envelope.envelope is None:
                raise ValueError("this Ack has no envelope (late or unknown ack)")
            envelope = envelope.envelope
        return await self.push_envelope(
            retry_of(envelope, retry_attempt, retry_reason),
            ack_timeout=ack_timeout,
            connection=connection,
            avoid=avoid,
        )

    async def request_reconnect(
        self,
        reason: str = "refresh_requested",
        *,
        timeout: float = 5.0,
        close_old: bool = False,
        connection: int | None = None,
    ) -> None:
        """Ask the bot to reconnect (as Slack does periodically) and wait for the new socket.

        ``connection`` picks which socket is refreshed (default: the newest)."""
        await self.wait_connected(timeout)
        old = self.connection(connection) if connection is not None else self.current_conn()
        assert old is not None and old.open
        before = self.connections_opened
        old.draining = True
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
