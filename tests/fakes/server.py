"""The one aiohttp server base every wire-level fake shares.

Each fake (Slack, the Hub, GitHub, docs sites, web search, webhook receivers) is a real HTTP
server on 127.0.0.1 so production code runs unchanged against it. What differs between them is
their routes and state; binding a port, reporting the URL, shutting down quickly, serving from a
thread for synchronous tests and the ``python -m`` command line are the same, so they live here.

A subclass overrides :meth:`FakeServer.routes` (and optionally :meth:`middlewares`,
:meth:`on_started`, :meth:`on_stopping`)::

    class FakeThing(FakeServer):
        def routes(self, app: web.Application) -> None:
            app.router.add_get("/thing", self._thing)

    async with FakeThing() as thing:
        ...  # thing.http_url == "http://127.0.0.1:PORT"
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, Self

from aiohttp import web

Middleware = Callable[..., Any]


class FakeServer:
    """A started-on-demand aiohttp server bound to ``host:port`` (port 0 = a free one)."""

    #: Largest request body accepted (aiohttp's default is 1 MiB; uploads need more).
    client_max_size: int = 1024**2
    #: Seconds open connections get to finish on stop (kept short: tests stop fakes often).
    shutdown_timeout: float = 0.5

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # ---- what a subclass provides ----------------------------------------------------

    def routes(self, app: web.Application) -> None:
        """Register this fake's routes on ``app``."""
        raise NotImplementedError

    def middlewares(self) -> list[Middleware]:
        """aiohttp middlewares (request recording, fault injection), outermost first."""
        return []

    async def on_started(self) -> None:
        """Called once the port is bound (start background tasks here)."""

    async def on_stopping(self) -> None:
        """Called before the server closes (end streams and websockets so shutdown is quick)."""

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._runner is not None

    @property
    def http_url(self) -> str:
        """``http://HOST:PORT`` once started (kept after stop: tests probe a stopped fake)."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._url

    async def start(self) -> Self:
        """Bind the port in the running loop and serve; returns self."""
        app = web.Application(middlewares=self.middlewares(), client_max_size=self.client_max_size)
        self.routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, shutdown_timeout=self.shutdown_timeout)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._url = f"http://{self.host}:{self.port}"
        await self.on_started()
        return self

    async def stop(self) -> None:
        """Close open streams, then the server; the port is free on return."""
        await self.on_stopping()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self, timeout: float = 10.0) -> Iterator[Self]:
        """Serve from a private event loop in a daemon thread, for synchronous tests."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        errors: list[BaseException] = []

        def target() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as e:  # pragma: no cover - surfaced to the caller below
                errors.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        thread = threading.Thread(target=target, name=type(self).__name__, daemon=True)
        thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"{type(self).__name__} did not start in time")
        if errors:
            raise errors[0]
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)


async def serve_until_signalled(server: FakeServer, ready_url: Callable[[], str]) -> None:
    """The ``python -m tests.fakes.<fake>`` mode: start, print ``READY <url>``, serve until
    SIGINT/SIGTERM. Benchmarks read the READY line to learn the port."""
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before READY: a driver may signal at once
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"READY {ready_url()}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
