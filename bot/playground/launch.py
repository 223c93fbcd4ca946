"""``ml-intern-slack playground``: one local server (workspace, page, and — when no keys are
set — the demo model and the simulated Hub), and the real bot connected to it.

Start order: bind the server (so its URL exists), point the environment at it (the bot reads
``HF_ENDPOINT`` and the provider variables as it does in production), start the ordinary
:class:`bot.runtime.BotRuntime` with an ``xoxb-``/``xapp-`` token pair only this server
accepts and ``SLACK_API_BASE_URL`` = this server's ``/api/``, wait until its Socket Mode
connection is up, then print the URL (and open the browser).

The bot's store is the usual SQLite store at a playground-only path
(``<state dir>/playground.db``, or ``--store``), recreated at each start because the
workspace it refers to lives in memory: a playground never mixes with a real workspace's
store, and never replays threads that no longer exist.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from agent_core.config import Config
from agent_core.paths import state_dir

from ..settings import Tokens, parse_slack_settings
from . import demo_model, sim_hub
from .cli import PLAYGROUND_DB
from .demo_model import DemoModelRoutes
from .modes import Modes, detect_modes
from .page_routes import PageRoutes
from .people import People
from .sim_hub import SimHub
from .slack_routes import SlackRoutes
from .socket_mode import SocketModeHub
from .web_api import WebApi
from .workspace import BOT_NAME, BOT_USER_ID, Person, Workspace

log = logging.getLogger(__name__)

REQUESTER, APPROVER, BYSTANDER = "U0ALICE", "U0BOB", "U0CAROL"
MAIN_CHANNEL = "C0MLTEAM"
CONNECT_TIMEOUT_S = 30.0


class StoreInUse(OSError):
    """Another running playground holds this store."""


def default_store_path() -> Path:
    return state_dir() / PLAYGROUND_DB


def seed(ws: Workspace) -> None:
    """The people and channels a first visit needs to try every approval rule."""
    ws.add_person(Person(BOT_USER_ID, BOT_NAME, "ml-intern", "bot", is_bot=True))
    ws.add_person(Person(REQUESTER, "alice", "Alice (requester)", "requester"))
    ws.add_person(Person(APPROVER, "bob", "Bob (approver)", "approver"))
    ws.add_person(Person(BYSTANDER, "carol", "Carol (bystander)", "bystander"))
    ws.add_channel(MAIN_CHANNEL, "ml-team")
    ws.add_channel("C0GENERAL", "general")
    for user in (REQUESTER, APPROVER, BYSTANDER):
        ws.dm_with(user)


def playground_config(base: Config, modes: Modes, *, job_seconds: float) -> Config:
    """The user's config with what the playground needs: its approver, brisk job polling
    when the Hub is simulated, and the demo model when the model is."""
    data = base.model_dump(by_alias=True)
    slack = dict(data.get("slack") or {})
    # Bob approves every class: the default list and any class list the user's config sets.
    approvers = {
        name: sorted({*ids, APPROVER}) if isinstance(ids, list) else ids
        for name, ids in dict(slack.get("approvers") or {}).items()
    }
    approvers["default"] = sorted({*approvers.get("default", []), APPROVER})
    slack.update(approvers=approvers, allowed_channels=[], allowed_users=[])
    slack.setdefault("progress_delay_s", 0.5)
    data["slack"] = slack
    if not modes.model_real:
        data["model_name"] = f"openai/{demo_model.MODEL_ID}"
        data["research_model"] = None
    if not modes.hub_real:
        tick = max(0.2, min(2.0, job_seconds / 10))
        jobs = dict(data.get("jobs") or {})
        jobs.update(
            poll_initial_s=tick, poll_max_s=max(tick, 2.0), poll_backoff=1.0,
            log_tail_every_s=max(tick, 1.0), log_tail_deadline_s=1.0, log_tail_idle_s=0.3,
        )  # fmt: skip
        data["jobs"] = jobs
    return Config.model_validate(data)


class Playground:
    """The server and the bot, started and stopped together."""

    def __init__(
        self,
        config: Config,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        simulation: bool = False,
        job_seconds: float = 20.0,
        store_path: str | os.PathLike[str] | None = None,
        on_ready: Callable[[Playground], Awaitable[None]] | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the playground serves loopback only (it has no login)")
        self.host, self.port = host, port
        self.modes = detect_modes(force_simulation=simulation)
        self.config = playground_config(config, self.modes, job_seconds=job_seconds)
        self.store_path = Path(store_path) if store_path else default_store_path()
        self.key = secrets.token_urlsafe(18)
        self.bot_token = f"xoxb-playground-{secrets.token_hex(12)}"
        self.app_token = f"xapp-1-A0PLAYGRND-{secrets.token_hex(12)}"
        self.ws = Workspace()
        self.socket = SocketModeHub(self.ws)
        self.api = WebApi(self.ws, ws_url=lambda: f"ws://{self.host}:{self.port}/link/")
        self.people = People(self.ws, self.api, self.socket)
        self.page = PageRoutes(self.ws, self.people, key=self.key)
        self.hub = SimHub.lasting(job_seconds)
        self._runner: web.AppRunner | None = None
        self.runtime: Any = None
        self._on_ready = on_ready
        self._lock: IO[str] | None = None
        seed(self.ws)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """What a person opens: the key rides in the fragment, never sent to a server."""
        return f"{self.base_url}/#key={self.key}"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        SlackRoutes(
            self.ws, self.api, self.socket, self.people,
            bot_token=self.bot_token, app_token=self.app_token,
        ).add_to(app)  # fmt: skip
        self.page.add_to(app)
        if not self.modes.model_real:
            DemoModelRoutes().add_to(app)
        if not self.modes.hub_real:
            self.hub.add_to(app)
        return app

    def _point_environment(self) -> None:
        """The engine reads these as in production; set only for what is simulated."""
        if not self.modes.model_real:
            os.environ["OPENAI_API_BASE"] = f"{self.base_url}{DemoModelRoutes.prefix}"
            os.environ["OPENAI_API_KEY"] = demo_model.API_KEY
        if not self.modes.hub_real:
            os.environ["HF_ENDPOINT"] = f"{self.base_url}{sim_hub.PREFIX}"
            # Nothing of the real Hub's infrastructure is reached while the Hub is simulated.
            os.environ["HF_DATASETS_SERVER_URL"] = (
                f"{self.base_url}{sim_hub.PREFIX}/datasets-server"
            )
            os.environ["HF_TOKEN"] = sim_hub.TOKEN
            os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)

    async def serve(self) -> None:
        """Bind the server (workspace, page, simulations) without starting the bot."""
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.ws.base_url = self.base_url
        self.ws.notices = self.modes.notices(self.config.model_name)

    async def start(self) -> str:
        from ..startup import BotRuntime

        await self.serve()
        self._point_environment()
        self._reset_store()
        tokens = Tokens(
            bot_token=self.bot_token, app_token=self.app_token, api_base_url=f"{self.base_url}/api/"
        )
        settings = parse_slack_settings(self.config.slack)
        self.runtime = BotRuntime(self.config, settings, tokens, store_path=self.store_path)
        await self.runtime.start()
        await asyncio.wait_for(self.socket.connected.wait(), CONNECT_TIMEOUT_S)
        if self._on_ready is not None:
            await self._on_ready(self)
        return self.url

    def _reset_store(self) -> None:
        """Take the store's lock (two playgrounds must not share one file), then start empty."""
        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(f"{self.store_path}.lock", "a+")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise StoreInUse(
                f"another playground is using {self.store_path}; stop it, or give this one "
                "its own store with --store PATH"
            ) from None
        self._lock = lock
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.store_path}{suffix}").unlink(missing_ok=True)

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop(grace_s=2.0)
            self.runtime = None
        await self.socket.close()
        await self.page.close_live()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
