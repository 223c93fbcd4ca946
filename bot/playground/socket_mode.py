"""Socket Mode, server side: the WebSocket the bot's ``AsyncSocketModeHandler`` connects to.

Slack's protocol, as the bot sees it: ``apps.connections.open`` (app token) returns a
``ws://`` URL; on connect the server says ``hello``; it then pushes *envelopes*
(``events_api``, ``interactive``, ``slash_commands``), each with an ``envelope_id`` the client
must echo back within 3 seconds (the ack, optionally with a ``payload`` — e.g. a modal's
``response_action``). The playground waits for each ack with a timeout and reports a missing
one on the page rather than hanging.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from .workspace import APP_ID, BOT_USER_ID, TEAM_ID, Workspace

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 3.0  # Slack's own deadline for acknowledging an envelope
MAX_CONNECTIONS = 10  # Slack refuses an 11th concurrent socket per app


class NotConnected(RuntimeError):
    """No bot is connected (yet), or it did not ack in time."""


class SocketModeHub:
    """Open bot sockets, and envelope delivery with ack tracking."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.connected = asyncio.Event()

    @property
    def connections(self) -> int:
        return len(self._sockets)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sock = web.WebSocketResponse(autoping=True, heartbeat=None)
        await sock.prepare(request)
        if len(self._sockets) >= MAX_CONNECTIONS:
            await sock.send_json({"type": "disconnect", "reason": "too_many_websockets"})
            await sock.close()
            return sock
        self._sockets.append(sock)
        await sock.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "ml-intern-playground", "approximate_connection_time": 0},
                "connection_info": {"app_id": APP_ID},
            }
        )
        self.connected.set()
        self.ws.bot_connected = True
        self.ws.publish({"type": "bot_connection", "connected": True})
        try:
            async for frame in sock:
                if frame.type == WSMsgType.TEXT:
                    self._on_frame(frame.data)
                elif frame.type == WSMsgType.ERROR:
                    break
        finally:
            self._sockets.remove(sock)
            if not self._sockets:
                self.connected.clear()
                self.ws.bot_connected = False
                self.ws.publish({"type": "bot_connection", "connected": False})
        return sock

    def _on_frame(self, data: str) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            log.warning("playground: a non-JSON frame from the bot was ignored")
            return
        future = self._pending.pop(str(frame.get("envelope_id") or ""), None)
        if future is not None and not future.done():
            future.set_result(frame.get("payload") or {})

    async def deliver(self, envelope_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Push one envelope to the newest socket; return the ack's payload (``{}`` if none)."""
        if not self._sockets:
            raise NotConnected("the bot is not connected to the playground (yet)")
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "accepts_response_payload": envelope_type != "events_api",
            "payload": payload,
        }
        if envelope_type == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = future
        await self._sockets[-1].send_json(envelope)
        try:
            return await asyncio.wait_for(future, ACK_TIMEOUT_S)
        except TimeoutError:
            raise NotConnected(
                f"the bot did not acknowledge the {envelope_type} envelope within "
                f"{ACK_TIMEOUT_S:.0f} s (Slack would retry it)"
            ) from None
        finally:
            self._pending.pop(envelope_id, None)

    async def close(self) -> None:
        for sock in list(self._sockets):
            await sock.close()


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    """An Events API ``event_callback`` body around one event, as Slack sends it."""
    return {
        "token": "playground-verification-token",
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True, "enterprise_id": None}
        ],
        "is_ext_shared_channel": False,
    }
