"""The HTTP face the *person* talks to: the page, its static files, its actions and its live
update socket.

The page is plain HTML/JS/CSS shipped in the package (``static/``), no build step. Its
actions are small JSON POSTs under ``/ui/``; every change in the workspace reaches it over a
WebSocket (``/ui/live``) that first sends a full snapshot, so a reload or a reconnect always
draws the truth.

Only this page may drive the playground: each run has a random key (in the printed URL's
fragment, never sent in a Referer), every ``/ui/`` call must carry it, and requests whose
``Origin`` is another site, or whose ``Host`` is not a loopback name (DNS rebinding), are
refused — a web page in another tab cannot post as you or click Approve on a job that spends
real credits.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from importlib import resources
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .people import People
from .socket_mode import NotConnected
from .workspace import ApiError, Workspace

log = logging.getLogger(__name__)

KEY_HEADER = "X-Playground-Key"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
# The page runs only its own scripts, talks only to its own origin, and cannot be framed.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' http: https: data:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def static_text(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


class PageRoutes:
    def __init__(self, ws: Workspace, people: People, *, key: str) -> None:
        self.ws = ws
        self.people = people
        self.key = key
        self._live: set[web.WebSocketResponse] = set()

    def add_to(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self.index)
        r.add_get("/static/{name}", self.static)
        r.add_get("/ui/state", self.state)
        r.add_get("/ui/live", self.live)
        r.add_get("/ui/files/{file_id}", self.file)
        r.add_post("/ui/post", self.post)
        r.add_post("/ui/upload", self.upload)
        r.add_post("/ui/click", self.click)
        r.add_post("/ui/view/submit", self.submit_view)
        r.add_post("/ui/view/close", self.close_view)
        r.add_post("/ui/slash", self.slash)
        r.add_post("/ui/react", self.react)

    # ------------------------------------------------------------------ guards
    def _check(self, request: web.Request) -> None:
        # A DNS-rebound name (evil.example → 127.0.0.1) arrives with its own Host: refuse it.
        if request.url.host not in LOOPBACK_NAMES:
            raise web.HTTPForbidden(text="the playground answers only to 127.0.0.1 / localhost")
        origin = request.headers.get("Origin")
        own = f"{request.scheme}://{request.host}"
        if origin is not None and origin != own:
            raise web.HTTPForbidden(text="cross-site requests are refused")
        given = request.headers.get(KEY_HEADER) or request.query.get("key") or ""
        if not hmac.compare_digest(given.encode(), self.key.encode()):
            raise web.HTTPForbidden(text="missing or wrong playground key: open the printed URL")

    async def _json(self, request: web.Request) -> dict[str, Any]:
        self._check(request)
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="a JSON body is required") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="a JSON object is required")
        return body

    @staticmethod
    async def _run(action: Any) -> web.Response:
        try:
            result = await action
        except ApiError as exc:
            return web.json_response(
                {"ok": False, "error": exc.error, "detail": exc.detail}, status=400
            )
        except NotConnected as exc:
            return web.json_response(
                {"ok": False, "error": "bot_offline", "detail": str(exc)}, status=503
            )
        return web.json_response({"ok": True, **(result or {})})

    # ------------------------------------------------------------------ page
    async def index(self, request: web.Request) -> web.Response:
        return web.Response(
            text=static_text("index.html"),
            content_type="text/html",
            headers=PAGE_HEADERS,
        )

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        suffix = name[name.rfind(".") :] if "." in name else ""
        if suffix not in STATIC_TYPES or "/" in name or name.startswith("."):
            raise web.HTTPNotFound()
        try:
            text = static_text(name)
        except FileNotFoundError:
            raise web.HTTPNotFound() from None
        return web.Response(text=text, content_type=STATIC_TYPES[suffix], headers=PAGE_HEADERS)

    async def state(self, request: web.Request) -> web.Response:
        self._check(request)
        return web.json_response(self.ws.snapshot())

    async def live(self, request: web.Request) -> web.WebSocketResponse:
        self._check(request)
        sock = web.WebSocketResponse(heartbeat=20.0)
        await sock.prepare(request)
        queue = self.ws.subscribe()
        self._live.add(sock)
        reader = asyncio.ensure_future(self._drain_client(sock))
        try:
            await sock.send_json({"type": "snapshot", "state": self.ws.snapshot()})
            while True:  # until the page goes away (or the playground stops: close_live)
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                await sock.send_json(getter.result())
        except ConnectionResetError:
            pass
        finally:
            reader.cancel()
            self._live.discard(sock)
            self.ws.unsubscribe(queue)
        return sock

    async def close_live(self) -> None:
        """Close every page's live socket, so stopping never waits for browsers to leave."""
        for sock in list(self._live):
            await sock.close(code=WSCloseCode.GOING_AWAY, message=b"playground stopping")

    @staticmethod
    async def _drain_client(sock: web.WebSocketResponse) -> None:
        async for frame in sock:
            if frame.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break

    async def file(self, request: web.Request) -> web.Response:
        self._check(request)
        f = self.ws.files.get(request.match_info["file_id"])
        if f is None or f.content is None:
            raise web.HTTPNotFound()
        disposition = "inline" if f.mimetype.startswith(("image/", "text/")) else "attachment"
        return web.Response(
            body=f.content,
            content_type=f.mimetype,
            headers={
                "Content-Disposition": f'{disposition}; filename="{f.name}"',
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox",
            },
        )

    # ------------------------------------------------------------------ actions
    async def post(self, request: web.Request) -> web.Response:
        b = await self._json(request)

        async def act() -> dict[str, Any]:
            msg = await self.people.post(
                str(b.get("user")),
                str(b.get("channel")),
                str(b.get("text") or ""),
                b.get("thread_ts") or None,
                [str(f) for f in b.get("files") or []],
            )
            return {"ts": msg.ts}

        return await self._run(act())

    async def upload(self, request: web.Request) -> web.Response:
        self._check(request)
        data = await request.read()

        async def act() -> dict[str, Any]:
            f = self.people.upload(
                request.query.get("user", ""), request.query.get("name", ""), data
            )
            return {"file": self.ws.file_json(f)}

        return await self._run(act())

    async def click(self, request: web.Request) -> web.Response:
        b = await self._json(request)
        return await self._run(
            self.people.click(
                str(b.get("user")),
                str(b.get("channel")),
                str(b.get("ts")),
                str(b.get("action_id")),
                b.get("block_id") or None,
            )
        )

    async def submit_view(self, request: web.Request) -> web.Response:
        b = await self._json(request)
        values = {str(k): str(v) for k, v in (b.get("values") or {}).items()}

        async def act() -> dict[str, Any]:
            errors = await self.people.submit_view(
                str(b.get("user")), str(b.get("view_id")), values
            )
            return {"errors": errors}

        return await self._run(act())

    async def close_view(self, request: web.Request) -> web.Response:
        b = await self._json(request)

        return await self._run(self.people.close_view(str(b.get("user")), str(b.get("view_id"))))

    async def slash(self, request: web.Request) -> web.Response:
        b = await self._json(request)
        return await self._run(
            self.people.slash(str(b.get("user")), str(b.get("channel")), str(b.get("text") or ""))
        )

    async def react(self, request: web.Request) -> web.Response:
        b = await self._json(request)
        return await self._run(
            self.people.react(
                str(b.get("user")), str(b.get("channel")), str(b.get("ts")), str(b.get("name"))
            )
        )
