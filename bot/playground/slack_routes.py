"""The HTTP face the *bot* talks to: ``/api/<method>``, the Socket Mode link, file upload and
download URLs, and response URLs — the same URLs and token rules as slack.com.

The bot reaches these through its ordinary configuration (``SLACK_API_BASE_URL`` pointing at
``http://127.0.0.1:PORT/api/``, an ``xoxb-`` bot token and an ``xapp-`` app token), so the
code path is the production one: slack_sdk's client with its retry handlers, Bolt's
``AsyncApp`` and ``AsyncSocketModeHandler``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from .people import People
from .socket_mode import SocketModeHub
from .web_api import WebApi, decode_json_args
from .workspace import TEAM_ID, ApiError, Workspace

log = logging.getLogger(__name__)

OAUTH_SCOPES = (
    "app_mentions:read,assistant:write,channels:history,chat:write,commands,files:read,"
    "files:write,groups:history,im:history,im:write,reactions:write,usergroups:read,users:read"
)


class SlackRoutes:
    def __init__(
        self,
        ws: Workspace,
        api: WebApi,
        socket: SocketModeHub,
        people: People,
        *,
        bot_token: str,
        app_token: str,
    ) -> None:
        self.ws = ws
        self.api = api
        self.socket = socket
        self.people = people
        self.bot_token = bot_token
        self.app_token = app_token

    def add_to(self, app: web.Application) -> None:
        r = app.router
        r.add_route("*", "/api/{method}", self.web_api)
        r.add_get("/link/", self.socket.handle)
        r.add_get("/link", self.socket.handle)
        r.add_post("/upload/v1/{file_id}", self.upload)
        r.add_get("/files-pri/{team_file}/{name}", self.download)
        r.add_post("/response_url/{hook}", self.response_url)

    @staticmethod
    async def _args(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise ApiError("invalid_json") from None
                if not isinstance(body, dict):
                    raise ApiError("invalid_json")
                args.update(body)
            else:
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return decode_json_args(args)

    async def web_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        headers = {"x-oauth-scopes": OAUTH_SCOPES, "x-accepted-oauth-scopes": ""}

        def answer(body: dict[str, Any]) -> web.Response:
            if not body.get("ok"):
                log.info("playground: %s → %s", method, body.get("error"))
            return web.json_response(body, headers=headers)

        handler = self.api.methods.get(method)
        if handler is None:
            return answer({"ok": False, "error": "unknown_method", "req_method": method})
        try:
            args = await self._args(request)
        except ApiError as exc:
            return answer({"ok": False, "error": exc.error})
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else str(args.pop("token", ""))
        args.pop("token", None)
        if not token:
            return answer({"ok": False, "error": "not_authed"})
        # Only Socket Mode's connections.open takes the app token; everything else the bot's.
        kind = {self.bot_token: "bot", self.app_token: "app"}.get(token)
        needed = "app" if method == "apps.connections.open" else "bot"
        if kind != needed:
            error = "invalid_auth" if kind is None else "not_allowed_token_type"
            return answer({"ok": False, "error": error})
        try:
            result = handler(args)
        except ApiError as exc:
            body: dict[str, Any] = {"ok": False, "error": exc.error}
            if exc.detail:
                body["response_metadata"] = {"messages": [f"[ERROR] {exc.detail}"]}
            return answer(body)
        return answer({"ok": True, **result})

    async def upload(self, request: web.Request) -> web.Response:
        """The pre-signed upload URL of files.getUploadURLExternal (no token, as in Slack)."""
        f = self.ws.files.get(request.match_info["file_id"])
        if f is None or f.content is not None:
            return web.Response(status=404, text="not_found")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field = next((v for v in form.values() if isinstance(v, web.FileField)), None)
            data = field.file.read() if field is not None else b""
        else:
            data = await request.read()
        f.content = data
        return web.Response(text=f"OK - {len(data)}")

    async def download(self, request: web.Request) -> web.Response:
        """``url_private_download``: needs the bot token, like files.slack.com."""
        if request.headers.get("Authorization", "") != f"Bearer {self.bot_token}":
            return web.Response(status=302, headers={"Location": "/?redir=login"})
        fid = request.match_info["team_file"].removeprefix(f"{TEAM_ID}-")
        f = self.ws.files.get(fid)
        if f is None or f.content is None:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=f.content, content_type=f.mimetype)

    async def response_url(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            try:
                body = json.loads(str((await request.post()).get("payload") or ""))
            except ValueError:
                return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        try:
            self.people.respond(request.match_info["hook"], body)
        except ApiError as exc:
            status = 404 if exc.error == "no_service" else 400
            return web.json_response({"ok": False, "error": exc.error}, status=status)
        return web.json_response({"ok": True})
