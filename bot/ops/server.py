"""The ops endpoints on the wire: ``/healthz``, ``/readyz``, ``/metrics``.

:class:`OpsEndpoints` adds the three routes to any aiohttp application: HTTP mode mounts them
next to Slack's request URL (one port for the load balancer), Socket Mode serves them alone
on ``ops.port`` through :func:`serve_app`, which is also how HTTP mode binds its listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.ops.health import STORE_TIMEOUT_S, Readiness
from bot.ops.metrics import CONTENT_TYPE, BotMetrics
from bot.ops.settings import HEALTH_PATH, METRICS_PATH, READY_PATH, OpsSettings

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 5.0


class OpsEndpoints:
    """The handlers; ``refresh`` updates the store-backed gauges before a scrape."""

    def __init__(
        self,
        metrics: BotMetrics,
        readiness: Readiness,
        refresh: Callable[[], Awaitable[None]],
    ) -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.refresh = refresh

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(HEALTH_PATH, self.healthz)
        app.router.add_get(READY_PATH, self.readyz)
        app.router.add_get(METRICS_PATH, self.metrics_page)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(self, request: web.Request) -> web.Response:
        ready, checks = await self.readiness.report()
        if not ready:
            log.info("not ready: %s", {k: v for k, v in checks.items() if v != "ok"})
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def metrics_page(self, request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(self.refresh(), STORE_TIMEOUT_S)
        except Exception as exc:  # a scrape must still answer: the gauges keep their last value
            log.warning("metrics: store gauges not refreshed (%s)", type(exc).__name__)
        body = self.metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE
        return response


class ServedApp:
    """An aiohttp application listening on a host and port (port 0: any free port)."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.port = port

    async def close(self) -> None:
        await self.runner.cleanup()


async def serve_app(app: web.Application, host: str, port: int) -> ServedApp:
    """Start ``app`` on ``host:port``; the bound port is on the result."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            bound = int(address[1])
            break
    return ServedApp(runner, bound)


async def serve_ops(endpoints: OpsEndpoints, settings: OpsSettings) -> ServedApp | None:
    """The ops routes alone on ``ops.port`` (None when it is not set). A port that cannot be
    bound raises :class:`OpsPortError` saying which setting to change."""
    if settings.port is None:
        return None
    app = web.Application()
    endpoints.add_routes(app)
    try:
        served = await serve_app(app, settings.host, settings.port)
    except OSError as exc:
        raise OpsPortError(
            f"cannot serve the ops endpoints on {settings.host}:{settings.port} "
            f"({exc.strerror}); change ops.port or ML_INTERN_OPS_PORT"
        ) from None
    log.info("ops endpoints on %s:%d", settings.host, served.port)
    return served


class OpsPortError(RuntimeError):
    """The ops port cannot be bound."""
