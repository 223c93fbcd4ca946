"""Startup and shutdown of the Slack bot: every component is built and wired here, once.

Start order matters: the store and the engine come up first (and catch up on anything left
from the last run) so that by the time the transport opens (the Socket Mode connection, or the
HTTP listener in ``serve --http``; see :mod:`bot.slack.transport`), every event Slack delivers
can be acted on. The engine's slow services (the Hub client, the job watcher, MCP servers)
start only *after* the transport is open, so they never delay connecting. Stop order is the
reverse of intake: stop taking events, let listener work finish, let the engine reach a safe
point, let the renderer and sender flush, close the optional components, close the store.

``import litellm`` (~2.5 s) is not on this path: the engine imports it on first use, and
:class:`~bot.llm_warmup.LlmWarmup` imports it in a thread only *after* the socket is connected.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from agent_core.config import Config
from agent_core.manager import SessionManager
from agent_core.redact import register_secret
from agent_core.runtime import EngineExtras, attach_engine_services
from agent_core.sandbox.setup import build_sandbox_manager
from agent_core.store import Store
from agent_core.tools.base import Services
from agent_core.tools.catalog import PROVIDERS, build_router
from agent_core.tools.router import ToolRouter
from bot.access import Access, Refusals
from bot.approvals import listeners as approval_listeners
from bot.approvals.flow import ApprovalFlow
from bot.conversation import listeners as conversation_listeners
from bot.conversation.attachments import file_intake
from bot.conversation.commands import Commands
from bot.conversation.dm_sessions import DmConversations
from bot.conversation.edits import EditHandler, InputIndex
from bot.conversation.intake import Intake
from bot.conversation.message_input import InputComposer, ThreadNotes
from bot.heap_trim import HeapTrimmer
from bot.jobs import listeners as job_listeners
from bot.jobs.actions import JobActions
from bot.llm_warmup import LlmWarmup
from bot.ops.health import Readiness, store_problem
from bot.ops.metrics import BotMetrics
from bot.ops.server import OpsEndpoints, OpsPortError, ServedApp, serve_ops
from bot.ops.settings import OpsSettings
from bot.renderer.worker import Renderer
from bot.settings import SlackSettings, Tokens
from bot.slack import unmatched
from bot.slack.client import build_web_client, new_http_session
from bot.slack.inbox import SlackInbox
from bot.slack.inbox_replay import InboxReplay
from bot.slack.inflight import InFlight
from bot.slack.middleware import build_middleware
from bot.slack.names import SlackNames
from bot.slack.replies import Replies
from bot.slack.sender import SlackSender
from bot.slack.threads import ThreadStore
from bot.slack.transport import SocketModeTransport, Transport, TransportError

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3_600.0
NOTIFY_TOOL_PROVIDER = "gateways.notify_tool"


class StartupError(RuntimeError):
    """The bot cannot start (bad token, unreachable Slack); the message says what to do."""


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
        transport: Transport | None = None,
        ops: OpsSettings | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.tokens = tokens
        self.store_path = store_path
        self._router = router
        self._llm = llm
        self.warm_llm = warm_llm
        self.services = services or Services()
        self.warmup = LlmWarmup(config)
        self.inflight = InFlight()
        self.store: Store | None = None
        self.manager: SessionManager | None = None
        self.renderer: Renderer | None = None
        self.sender: SlackSender | None = None
        self.transport: Transport = transport or SocketModeTransport(tokens.app_token)
        self.ops_settings = ops or OpsSettings()
        self.ops_server: ServedApp | None = None
        self.metrics = BotMetrics(self.transport.name)
        self.ops = OpsEndpoints(
            self.metrics,
            Readiness(
                {
                    "store": lambda: store_problem(self.store),
                    "slack": self.transport.connection_problem,
                    "engine": self._engine_problem,
                }
            ),
            self._refresh_gauges,
        )
        self.stopping = False
        self.connect_s: float | None = None
        # Components with a lifecycle next to the engine, closed (in reverse) before the store.
        self._closables: list[tuple[str, Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        register_secret(tokens.bot_token)
        register_secret(tokens.app_token)
        register_secret(tokens.signing_secret)

    # ------------------------------------------------------------------ start
    async def start(self) -> None:
        started = time.perf_counter()
        self.store = await Store.open(self.store_path or os.environ.get("ML_INTERN_DB") or None)
        try:
            await self._start(self.store, started)
        except BaseException:
            await self._close_components()
            raise

    async def _start(self, store: Store, started: float) -> None:
        settings, tokens = self.settings, self.tokens
        await self._start_ops_server()
        self.services.store, self.services.config = store, self.config
        if self.services.sandboxes is None:
            try:
                self.services.sandboxes = build_sandbox_manager(self.config)
            except ValueError as exc:
                raise StartupError(str(exc)) from None
        notifier = self._notifier(store)
        router = self._router or build_router(
            self.services, [*PROVIDERS, *([NOTIFY_TOOL_PROVIDER] if notifier else [])]
        )
        manager = self.manager = SessionManager(
            store, self.config, services=self.services, router=router, llm=self._llm
        )
        manager.add_listener(self.metrics.on_event)
        http = new_http_session()
        self._closables.insert(0, ("the Slack HTTP session", http))  # closed last
        client = build_web_client(
            tokens.bot_token,
            tokens.api_base_url,
            session=http,
            observer=self.metrics.observe_slack_call,
        )
        auth = await _auth_test(client, tokens.api_base_url)
        sender = self.sender = SlackSender(
            client,
            edit_interval_s=settings.progress_edit_interval_s,
            edits_per_minute=settings.edits_per_minute,
            posts_per_minute=settings.posts_per_minute,
            # several replicas may share a Postgres store: they share Slack's budgets too
            shared_store=store if store.dialect.is_postgres else None,
        )
        threads = ThreadStore(store)
        renderer = self.renderer = Renderer(
            store=store,
            approvals=manager.approvals,
            sender=sender,
            settings=settings,
            threads=threads,
            ownership=manager.ownership,  # one replica renders a thread at a time
        )
        manager.add_listener(renderer.on_event)
        if notifier is not None:
            manager.add_listener(notifier.on_event)
            await notifier.start()
            self._closables.append(("notifications", notifier))
        leases = self.config.replicas
        inbox = SlackInbox(
            store,
            secret=tokens.bot_token,
            replica_id=leases.replica_id,
            claim_ttl_s=leases.lease_ttl_s,
        )
        await inbox.prune(settings.dedupe_ttl_s)
        self._closables.append(("the Slack inbox", inbox))  # its last done marks
        app = self._build_app(client, auth, manager, store, sender, threads, renderer, inbox)
        if self.warm_llm and await store.sessions_with_queued_ops():
            # Recovery will run turns at once: import litellm first (in a thread), or the
            # first turn would import it on the event loop while we connect.
            await self.warmup.run()
        await manager.start()
        behind = await renderer.catch_up()
        await renderer.listen()
        if behind:
            log.info("replaying unrendered events of %d thread(s)", behind)
        replay = InboxReplay(inbox, app, every_s=leases.lease_ttl_s)
        await replay.run_once(starting=True)  # acked before a crash: back in line first
        try:
            await self.transport.start(app, self.ops if self.transport.serves_ops else None)
        except TransportError as exc:
            raise StartupError(str(exc)) from None
        self.connect_s = time.perf_counter() - started
        log.info(
            "connected to Slack (%s) as %s in team %s (%.2fs after start)",
            self.transport.name,
            auth.get("user"),
            auth.get("team_id"),
            self.connect_s,
        )
        self._spawn(self._prune_loop(inbox))
        self._spawn(replay.patrol())
        await self._attach_engine_services(manager)
        if self.warm_llm and not self.warmup.ready.is_set():
            self._spawn(self.warmup.run())
        else:
            self.warmup.ready.set()
        self._spawn(self._freeze_heap_after_warmup())
        self._spawn(HeapTrimmer(lambda: len(manager.workers.tasks) + renderer.worker_count).run())

    async def _freeze_heap_after_warmup(self) -> None:
        """Move everything alive after warm-up (imported modules, litellm's tables, the
        engine's singletons) out of the collector's reach: a full collection then scans only
        what turns allocate, instead of pausing ~0.3 s every 100–200 turns (issue 18)."""
        await self.warmup.ready.wait()
        gc.collect()
        gc.freeze()
        log.info("heap frozen after warm-up (%d objects)", gc.get_freeze_count())

    def _notifier(self, store: Store) -> Any:
        """Outbound notifications (``messaging.enabled``): every engine event goes to them, and
        they back the ``notify`` tool."""
        if not (self.config.messaging or {}).get("enabled"):
            return None
        from gateways import NotificationService

        service = NotificationService.from_config(
            self.config,
            store,
            slack_base_url=self.tokens.api_base_url,
            bot_token=self.tokens.bot_token,
        )
        self.services.notifier = service
        return service

    def _build_app(
        self,
        client: Any,
        auth: Any,
        manager: SessionManager,
        store: Store,
        sender: SlackSender,
        threads: ThreadStore,
        renderer: Renderer,
        inbox: SlackInbox,
    ) -> AsyncApp:
        """The Bolt app with every middleware and listener, so "what does the bot react to"
        is answered here. ``process_before_response`` stays False: Bolt acks events as soon
        as the middleware chain has run, and listeners do their work after the ack."""
        settings, inflight, warmup = self.settings, self.inflight, self.warmup
        access = Access(settings, client)
        replies = Replies(sender)
        files = file_intake(settings.files, client)
        commands = Commands(
            settings=settings,
            manager=manager,
            store=store,
            access=access,
            replies=replies,
            warmup=warmup,
            services=self.services,
            downloader=files.downloader if files is not None else None,
        )
        names = SlackNames(client)
        notes = ThreadNotes(store)
        intake = Intake(
            settings=settings,
            manager=manager,
            threads=threads,
            sender=sender,
            replies=replies,
            commands=commands,
            warmup=warmup,
            bot_user_id=auth.get("user_id"),
            store=store,
            composer=InputComposer(
                names=names,
                files=files,
                notes=notes,
                sender=sender,
                state_dir=self.services.state_dir,
                seed_limit=settings.seed_thread_messages,
            ),
            dms=DmConversations(store, idle_s=settings.dm_idle_hours * 3600),
            inputs=InputIndex(store),
            inbox=inbox,
        )
        edits = EditHandler(intake=intake, manager=manager, replies=replies)
        flow = ApprovalFlow(
            manager=manager,
            approvals=manager.approvals,
            access=access,
            client=client,
            cards=renderer,
            warmup=warmup,
        )
        job_actions = JobActions(
            access=access,
            sender=sender,
            services=self.services,
            refusal_text=settings.refusal_text,
        )
        app = AsyncApp(
            client=client,
            process_before_response=False,
            ignoring_self_events_enabled=True,
            **self.transport.app_options(),  # HTTP mode: the signing secret, verification on
        )
        app.use(self.metrics.count_requests)  # first: counts what Slack sent, duplicates too
        for middleware in build_middleware(
            inbox=inbox,
            threads=threads,
            sessions=manager,
            access=access,
            refusals=Refusals(settings, store, replies),
            inflight=inflight,
            refusal_text=settings.refusal_text,
        ):
            app.use(middleware)
        conversation_listeners.register(
            app, intake=intake, commands=commands, edits=edits, inflight=inflight, inbox=inbox
        )
        approval_listeners.register(app, flow=flow, inflight=inflight)
        job_listeners.register(app, actions=job_actions, inflight=inflight)
        unmatched.register(app)  # last: acks whatever no listener above matched

        _preload_authorization(app, auth)
        return app

    async def _start_ops_server(self) -> None:
        """``ops.port`` set: health, readiness and metrics on their own port, from the start
        (HTTP mode also mounts them on the request URL's listener)."""
        try:
            self.ops_server = await serve_ops(self.ops, self.ops_settings)
        except OpsPortError as exc:
            raise StartupError(str(exc)) from None
        if self.ops_server is not None:
            self._closables.insert(0, ("the ops endpoints", self.ops_server))

    async def _engine_problem(self) -> str | None:
        if self.stopping:
            return "shutting down"
        if self.manager is None:
            return "the engine is not started yet"
        return None

    async def _refresh_gauges(self) -> None:
        if self.store is not None and self.manager is not None:
            await self.metrics.refresh(self.store, self.manager.approvals)

    async def _attach_engine_services(self, manager: SessionManager) -> None:
        """The Hub client, the job watcher and MCP servers, once Slack is connected."""
        extras: EngineExtras = await attach_engine_services(manager)
        for name, error in extras.failures.items():
            log.warning("%s unavailable: %s", name, error)
        self._closables.append(("engine services", extras))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _prune_loop(self, inbox: SlackInbox) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            try:
                await inbox.prune(self.settings.dedupe_ttl_s)
            except Exception:
                log.warning("dedupe pruning failed", exc_info=True)

    # ------------------------------------------------------------------ stop
    async def stop(self, grace_s: float | None = None) -> None:
        """Stop taking events, let work reach a safe point, flush, close the store."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self.stopping = True  # /readyz answers 503 from now on
        try:
            await self.transport.stop()
        except Exception:
            log.warning("closing the %s transport failed", self.transport.name, exc_info=True)
        for task in list(self._background):
            task.cancel()
        await self.inflight.wait(timeout=min(5.0, grace + 1))
        if self.manager is not None:
            await self.manager.close(grace_s=grace)
        await self._close_components()

    async def _close_components(self) -> None:
        if self.renderer is not None:
            await self.renderer.close(timeout=5.0)
            self.renderer = None
        if self.sender is not None:
            await self.sender.close(timeout=5.0)
            self.sender = None
        for name, component in reversed(self._closables):
            try:
                await component.close()
            except Exception:
                log.warning("closing %s failed", name, exc_info=True)
        self._closables.clear()
        if self.store is not None:
            await self.store.close()
            self.store = None


async def _auth_test(client: Any, api_base_url: str) -> Any:
    """``auth.test``: proves the bot token works and names the bot (its own mentions)."""
    try:
        return await client.auth_test()
    except SlackApiError as exc:
        raise StartupError(
            f"Slack refused the bot token ({exc.response.get('error')}); check "
            "SLACK_BOT_TOKEN (the Bot User OAuth Token, xoxb-…) and that the app is installed"
        ) from None
    except Exception as exc:
        raise StartupError(
            f"cannot reach Slack at {api_base_url} ({type(exc).__name__}: {exc})"
        ) from None


def _preload_authorization(app: Any, auth: Any) -> None:
    """Hand Bolt the auth.test result we already have, so the first event's ack does not wait
    for one more round trip (Bolt otherwise calls auth.test lazily on the first request)."""
    for middleware in getattr(app, "_async_middleware_list", []):
        if hasattr(middleware, "auth_test_result") and middleware.auth_test_result is None:
            middleware.auth_test_result = auth
