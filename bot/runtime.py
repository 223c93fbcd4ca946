"""The running gateway: store, engine, Slack client, renderer, Bolt app, Socket Mode.

Start order matters: the store and the engine come up first (and catch up on anything left
from the last run) so that by the time Socket Mode connects, every event Slack delivers can be
acted on. Stop order is the reverse of intake: stop taking events, let listener work finish,
let the engine reach a safe point, let the renderer and sender flush, close the store.

``import litellm`` (~2.5 s) is not on this path: the engine imports it on first use, and
:meth:`BotRuntime.start` warms it in a thread only *after* the socket is connected.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from agent_core.config import Config
from agent_core.manager import SessionManager
from agent_core.redact import register_secret
from agent_core.store import Store
from agent_core.tools.base import Services
from agent_core.tools.router import ToolRouter
from bot.app import build_app
from bot.conversation.intake import Gateway
from bot.renderer.worker import Renderer
from bot.settings import SlackSettings, Tokens
from bot.slack.client import build_web_client
from bot.slack.middleware import SeenEvents
from bot.slack.sender import SlackSender
from bot.wiring import Wiring, attach_after_connect, build_components

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3_600.0


class StartupError(RuntimeError):
    """The gateway cannot start (bad token, unreachable Slack); the message says what to do."""


class BotRuntime:
    def __init__(
        self,
        config: Config,
        settings: SlackSettings,
        tokens: Tokens,
        *,
        store_path: str | os.PathLike[str] | None = None,
        router: ToolRouter | None = None,
        services: Services | None = None,
        llm: Any = None,
        warm_llm: bool = True,
    ) -> None:
        self.config = config
        self.settings = settings
        self.tokens = tokens
        self.store_path = store_path
        self._router = router
        self._services = services
        self._llm = llm
        self.warm_llm = warm_llm
        self.store: Store | None = None
        self.manager: SessionManager | None = None
        self.gateway: Gateway | None = None
        self.renderer: Renderer | None = None
        self.sender: SlackSender | None = None
        self.handler: AsyncSocketModeHandler | None = None
        self.wiring: Wiring | None = None
        self.connect_s: float | None = None
        self._background: set[asyncio.Task[Any]] = set()
        register_secret(tokens.bot_token)
        register_secret(tokens.app_token)

    async def start(self) -> None:
        started = time.perf_counter()
        self.store = await Store.open(self.store_path or os.environ.get("ML_INTERN_DB") or None)
        try:
            await self._start(started)
        except BaseException:
            await self._close_quietly()
            raise

    async def _start(self, started: float) -> None:
        assert self.store is not None
        settings, tokens = self.settings, self.tokens
        self.wiring = build_components(
            self.config,
            self.store,
            bot_token=tokens.bot_token,
            api_base_url=tokens.api_base_url,
            services=self._services,
            router=self._router,
        )
        self.manager = SessionManager(
            self.store,
            self.config,
            services=self.wiring.services,
            router=self.wiring.router,
            llm=self._llm,
        )
        client = build_web_client(tokens.bot_token, tokens.api_base_url)
        try:
            auth = await client.auth_test()
        except SlackApiError as exc:
            raise StartupError(
                f"Slack refused the bot token ({exc.response.get('error')}); check "
                "SLACK_BOT_TOKEN (the Bot User OAuth Token, xoxb-…) and that the app is installed"
            ) from None
        except Exception as exc:
            raise StartupError(
                f"cannot reach Slack at {tokens.api_base_url} ({type(exc).__name__}: {exc})"
            ) from None
        self.sender = SlackSender(
            client,
            edit_interval_s=settings.progress_edit_interval_s,
            edits_per_minute=settings.edits_per_minute,
            posts_per_minute=settings.posts_per_minute,
        )
        self.renderer = Renderer(
            store=self.store,
            approvals=self.manager.approvals,
            sender=self.sender,
            settings=settings,
        )
        self.gateway = Gateway(
            settings=settings,
            config=self.config,
            manager=self.manager,
            store=self.store,
            client=client,
            sender=self.sender,
            renderer=self.renderer,
            services=self.wiring.services,
        )
        self.gateway.bot_user_id = auth.get("user_id")
        self.manager.add_listener(self.renderer.on_event)
        for component in self.wiring.components:
            if component.listener is not None:
                self.manager.add_listener(component.listener)
            await component.start()
        seen = SeenEvents(self.store)
        await seen.prune(settings.dedupe_ttl_s)
        app = build_app(self.gateway, seen)
        _preload_authorization(app, auth)
        if self.warm_llm and await self.store.sessions_with_queued_ops():
            # Recovery will run turns at once: import litellm first (in a thread), or the
            # first turn would import it on the event loop while we connect.
            await self._warm()
        await self.manager.start()
        behind = await self.renderer.catch_up()
        if behind:
            log.info("replaying unrendered events of %d thread(s)", behind)
        self.handler = AsyncSocketModeHandler(app, app_token=tokens.app_token)
        try:
            await self.handler.connect_async()
        except SlackApiError as exc:
            raise StartupError(
                f"Slack refused the app token ({exc.response.get('error')}); check "
                "SLACK_APP_TOKEN (an app-level token xapp-… with connections:write) and that "
                "Socket Mode is enabled (manifest.yml sets it)"
            ) from None
        self.connect_s = time.perf_counter() - started
        log.info(
            "connected to Slack as %s in team %s (%.2fs after start)",
            auth.get("user"),
            auth.get("team_id"),
            self.connect_s,
        )
        self._spawn(self._prune_loop(seen))
        await attach_after_connect(self.wiring, self.manager)
        if self.warm_llm and not self.gateway.llm_ready.is_set():
            self._spawn(self._warm())
        else:
            self.gateway.llm_ready.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _warm(self) -> None:
        """Import litellm in a thread; new turns wait for it (see Gateway.wait_llm), so the
        multi-second import never runs on the event loop that acks Slack's envelopes."""
        from agent_core.llm import get_litellm

        started = time.perf_counter()
        try:
            await asyncio.to_thread(get_litellm)
            log.info("LLM client ready (%.1fs)", time.perf_counter() - started)
        except Exception:
            log.warning("litellm warm-up failed (it will be imported on first use)", exc_info=True)
        finally:
            if self.gateway is not None:
                self.gateway.llm_ready.set()

    async def _prune_loop(self, seen: SeenEvents) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            try:
                await seen.prune(self.settings.dedupe_ttl_s)
            except Exception:
                log.warning("dedupe pruning failed", exc_info=True)

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop taking events, let work reach a safe point, flush, close the store."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        if self.handler is not None:
            try:
                await self.handler.close_async()
            except Exception:
                log.warning("closing the socket failed", exc_info=True)
            self.handler = None
        for task in list(self._background):
            task.cancel()
        if self.renderer is not None:
            self.renderer.shutting_down = True
        if self.gateway is not None:
            await self.gateway.wait_tasks(timeout=min(5.0, grace + 1))
        if self.manager is not None:
            await self.manager.close(grace_s=grace)
        await self._close_quietly()

    async def _close_quietly(self) -> None:
        if self.renderer is not None:
            await self.renderer.close(timeout=5.0)
            self.renderer = None
        if self.sender is not None:
            await self.sender.close(timeout=5.0)
            self.sender = None
        for component in reversed(self.wiring.components if self.wiring else []):
            try:
                await component.close()
            except Exception:
                log.warning("closing %s failed", component.name, exc_info=True)
        if self.wiring is not None:
            self.wiring.components.clear()
        if self.store is not None:
            await self.store.close()
            self.store = None


def _preload_authorization(app: Any, auth: Any) -> None:
    """Hand Bolt the auth.test result we already have, so the first event's ack does not wait
    for one more round trip (Bolt otherwise calls auth.test lazily on the first request)."""
    for middleware in getattr(app, "_async_middleware_list", []):
        if hasattr(middleware, "auth_test_result") and middleware.auth_test_result is None:
            middleware.auth_test_result = auth
