"""Optional components around the engine, wired if their modules are present and enabled.

HOOK POINTS for other parts of the project (each is tried in :func:`build_components`):

* Notifications (issue 5, ``gateways``): ``NotificationService.from_config(config, store,
  slack_base_url=…, bot_token=…)``; when ``messaging.enabled`` it gets every event
  (``manager.add_listener(service.on_event)``), becomes ``services.notifier`` and the agent's
  ``notify`` tool (``gateways.notify_tool``) is added to the tool router.
* Jobs (issue 4, ``agent_core.jobs``): if the module exposes ``build_job_watcher(config,
  store, services)`` returning an object with async ``start(manager)``/``close()``, it becomes
  ``services.jobs``. The gateway then also uses, when present, ``services.jobs.
  jobs_for_session(session_id)`` (``status``) and ``cancel_session_jobs(session_id)``
  (``cancel jobs``). Tool providers for jobs belong in ``agent_core.tools.catalog``.

Each component is started after the manager exists and closed before the store closes.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_core.tools.base import Services
from agent_core.tools.catalog import PROVIDERS, build_router
from agent_core.tools.router import ToolRouter

if TYPE_CHECKING:
    from agent_core.config import Config
    from agent_core.manager import SessionManager
    from agent_core.store import Store

log = logging.getLogger(__name__)


@dataclass
class Component:
    """Something with a lifecycle next to the engine."""

    name: str
    obj: Any
    listener: Any = None  # an async event listener to register with the manager

    async def start(self, manager: SessionManager) -> None:
        start = getattr(self.obj, "start", None)
        if start is None:
            return
        try:
            await start(manager)
        except TypeError:
            await start()

    async def close(self) -> None:
        close = getattr(self.obj, "close", None)
        if close is not None:
            await close()


@dataclass
class Wiring:
    services: Services
    router: ToolRouter | None
    components: list[Component] = field(default_factory=list)


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise


def build_components(
    config: Config,
    store: Store,
    *,
    bot_token: str,
    api_base_url: str,
    services: Services | None = None,
    router: ToolRouter | None = None,
) -> Wiring:
    """Services plus the optional components that exist in this build."""
    services = services or Services()
    services.store, services.config = store, config
    providers = list(PROVIDERS)
    components: list[Component] = []

    gateways = _optional("gateways") if (config.messaging or {}).get("enabled") else None
    if gateways is not None:
        service = gateways.NotificationService.from_config(
            config, store, slack_base_url=api_base_url, bot_token=bot_token
        )
        services.notifier = service
        providers.append("gateways.notify_tool")
        components.append(Component("notifications", service, listener=service.on_event))

    jobs = _optional("agent_core.jobs")
    builder = getattr(jobs, "build_job_watcher", None) if jobs is not None else None
    if builder is not None:
        watcher = builder(config, store, services)
        services.jobs = watcher
        components.append(Component("jobs", watcher))

    if router is None:
        router = build_router(services, providers)
    return Wiring(services=services, router=router, components=components)
