"""A local HTTP receiver for generic webhook notifications (aiohttp on 127.0.0.1).

It records every request (path, headers, raw body — the bytes a signature covers) and
answers from a script, so tests can drive the real httpx path through 2xx, 429 + Retry-After,
5xx, 4xx and slow responses::

    async with WebhookReceiver() as hook:
        hook.script(Reply(429, retry_after=0.2), Reply(200))
        hook.hold()                       # park the next requests until release()
        url = hook.url("/ci")             # http://127.0.0.1:PORT/ci
        ...
        req = await hook.wait_for(2)      # the 2nd request (waits on a condition, no sleeps)
        assert req.json()["event_type"] == "job_finished"

Unscripted requests get ``default`` (200 ``ok``). ``delivered`` lists the requests that were
answered 2xx — what a receiver would have acted on.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer


@dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    retry_after: float | str | None = None
    delay: float = 0.0  # server-side latency before answering
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    time: float
    status: int = 0  # the status we answered (0 while still in flight)

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


class WebhookReceiver(FakeServer):
    def __init__(self, default: Reply | None = None) -> None:
        super().__init__()
        self.default = default or Reply()
        self.requests: list[Received] = []
        self._script: deque[Reply] = deque()
        self._changed = asyncio.Condition()
        self._gate: asyncio.Event | None = None

    # ---- lifecycle -----------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    async def on_stopping(self) -> None:
        self.release()  # held requests finish so the server can close

    def url(self, path: str = "/hook") -> str:
        return f"{self.http_url}{path}"

    # ---- scripting -----------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        self._script.extend(replies)

    def hold(self) -> None:
        """Keep requests waiting (in flight) until :meth:`release`."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    # ---- queries -------------------------------------------------------------------
    @property
    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def wait_for(
        self, count: int = 1, *, timeout: float = 5.0, answered: bool = False
    ) -> Received:
        """The ``count``-th request (``answered``: once its reply has been sent)."""

        def ready() -> bool:
            pool = [r for r in self.requests if r.status] if answered else self.requests
            return len(pool) >= count

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(ready), timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"waited {timeout}s for {count} webhook request(s); got {len(self.requests)}"
                ) from None
        pool = [r for r in self.requests if r.status] if answered else self.requests
        return pool[count - 1]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- handler -------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec = Received(
            path=request.path,
            headers=dict(request.headers),
            body=await request.read(),
            time=time.monotonic(),
        )
        self.requests.append(rec)
        await self._notify()
        reply = self._script.popleft() if self._script else self.default
        gate = self._gate
        if gate is not None:
            await gate.wait()
        if reply.delay:
            await asyncio.sleep(reply.delay)  # server latency, not a test wait
        headers = dict(reply.headers)
        if reply.retry_after is not None:
            headers["Retry-After"] = str(reply.retry_after)
        rec.status = reply.status
        await self._notify()
        return web.Response(status=reply.status, text=reply.body, headers=headers)
