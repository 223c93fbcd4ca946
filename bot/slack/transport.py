"""How Slack's requests reach the Bolt app: Socket Mode or the HTTP Events API.

Everything downstream of the transport — middleware (dedupe on ``event_id`` and the
``x-slack-retry-num`` header), listeners, intake, approvals, rendering — is the same code in
both modes; only this part differs:

* :class:`SocketModeTransport` opens the WebSocket with the app-level token; Bolt acks each
  envelope once the middleware chain ran.
* :class:`HttpTransport` serves Bolt's own aiohttp adapter (``AsyncApp.web_app``) on one
  request URL for events, interactivity and the ``url_verification`` challenge. Bolt's
  request verification checks the ``v0=`` HMAC signature and refuses timestamps older than
  five minutes; the HTTP response is Bolt's ack, sent at the same point as the Socket Mode
  ack, never after the turn. Bodies over :data:`MAX_BODY_BYTES` are refused from their
  ``Content-Length`` before a byte of them is read, malformed timestamps before Bolt sees
  them (:func:`guard_requests`). The ops endpoints share the port.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.ops.server import OpsEndpoints, ServedApp, serve_app
from bot.ops.settings import HttpSettings

log = logging.getLogger(__name__)

# aiohttp's default ``client_max_size``, which Bolt's ``web_app`` keeps: a chunked body larger
# than this fails while being read; a declared larger one is refused before reading.
MAX_BODY_BYTES = 1024 * 1024
TIMESTAMP = re.compile(r"[0-9]{1,12}")  # unix seconds, as Slack sends them


class TransportError(RuntimeError):
    """The transport cannot start; the message says what to do."""


class Transport(Protocol):
    name: str
    serves_ops: bool  # the ops endpoints are mounted on this transport's own listener

    def app_options(self) -> dict[str, Any]: ...
    async def start(self, app: AsyncApp, ops: OpsEndpoints | None) -> None: ...
    async def connection_problem(self) -> str | None: ...
    async def stop(self) -> None: ...


class SocketModeTransport:
    """The WebSocket to Slack (``SLACK_APP_TOKEN``): no public URL needed."""

    name = "socket_mode"
    serves_ops = False

    def __init__(self, app_token: str) -> None:
        self.app_token = app_token
        self.handler: AsyncSocketModeHandler | None = None

    def app_options(self) -> dict[str, Any]:
        return {"request_verification_enabled": False}  # no HTTP signatures to check

    async def start(self, app: AsyncApp, ops: OpsEndpoints | None) -> None:
        self.handler = AsyncSocketModeHandler(app, app_token=self.app_token)
        try:
            await self.handler.connect_async()
        except SlackApiError as exc:
            raise TransportError(
                f"Slack refused the app token ({exc.response.get('error')}); check "
                "SLACK_APP_TOKEN (an app-level token xapp-… with connections:write) and that "
                "Socket Mode is enabled (manifest.yml sets it)"
            ) from None

    async def connection_problem(self) -> str | None:
        if self.handler is None:
            return "Socket Mode is not connected yet"
        if not await self.handler.client.is_connected():
            return "the Socket Mode connection is down (reconnecting)"
        return None

    async def stop(self) -> None:
        if self.handler is not None:
            handler, self.handler = self.handler, None
            await handler.close_async()


@web.middleware
async def guard_requests(request: web.Request, handler: Any) -> web.StreamResponse:
    """What Bolt's verification does not cover, before it runs: a declared oversized body is
    refused without reading it (and the connection closed); a request timestamp that is not
    a plain number is a 401 (slack_sdk's verifier would raise on it: a 500 and a traceback
    per request, for anyone who can reach the URL)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        response = web.json_response(
            {"error": f"request body over {MAX_BODY_BYTES} bytes"}, status=413
        )
        response.force_close()
        return response
    timestamp = request.headers.get("X-Slack-Request-Timestamp")
    if request.method == "POST" and timestamp is not None and not TIMESTAMP.fullmatch(timestamp):
        return web.json_response({"error": "invalid request"}, status=401)
    return await handler(request)


class HttpTransport:
    """Slack's requests on ``http.host:http.port`` + ``http.path``, verified with the
    signing secret (``SLACK_SIGNING_SECRET``)."""

    name = "http"
    serves_ops = True

    def __init__(self, signing_secret: str, settings: HttpSettings) -> None:
        if not signing_secret.strip():
            raise TransportError("HTTP mode needs SLACK_SIGNING_SECRET")
        self.signing_secret = signing_secret
        self.settings = settings
        self.served: ServedApp | None = None

    def app_options(self) -> dict[str, Any]:
        return {"signing_secret": self.signing_secret, "request_verification_enabled": True}

    @property
    def port(self) -> int | None:
        """The bound port (the configured one, or the one picked for port 0)."""
        return self.served.port if self.served is not None else None

    async def start(self, app: AsyncApp, ops: OpsEndpoints | None) -> None:
        web_app = app.web_app(path=self.settings.path, port=self.settings.port)
        web_app.middlewares.append(guard_requests)
        if ops is not None:
            ops.add_routes(web_app)
        try:
            self.served = await serve_app(web_app, self.settings.host, self.settings.port)
        except OSError as exc:
            raise TransportError(
                f"cannot listen on {self.settings.host}:{self.settings.port} ({exc.strerror}); "
                "set http.port in the config or PORT in the environment"
            ) from None
        log.info(
            "HTTP mode: Slack request URL path %s on %s:%d",
            self.settings.path,
            self.settings.host,
            self.served.port,
        )

    async def connection_problem(self) -> str | None:
        return None if self.served is not None else "the HTTP listener is not started yet"

    async def stop(self) -> None:
        if self.served is not None:
            served, self.served = self.served, None
            await served.close()
