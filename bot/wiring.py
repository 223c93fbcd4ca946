"""Optional components around the engine, wired if their modules are present and enabled.

HOOK POINTS for other parts of the project:

* Notifications (issue 5, ``gateways``) — :func:`build_components`: when ``messaging.enabled``,
  ``NotificationService.from_config(config, store, slack_base_url=…, bot_token=…)`` gets every
  event (``manager.add_listener(service.on_event)``) and becomes ``services.notifier`` (the
  ``notify`` tool's backend). It is started before Socket Mode connects.
* Jobs and MCP (issue 4, ``agent_core.runtime.attach_engine_services``) —
  :func:`attach_after_connect`: the Hub client, the job watcher and MCP servers start *after*
  the socket is connected, so they never delay connecting. The gateway then uses
  ``services.jobs.status(session_id)`` for ``status`` and ``services.jobs.cancel(session_id,
  requested_by=user)`` for ``cancel jobs``; the job card's buttons are
  :mod:`bot.jobs.listeners`.

Each component is closed before the store closes.
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

    async def start(self) -> None:
        start = getattr(self.obj, "start", None)
        if start is not None:
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
        if "gateways.notify_tool" not in providers:
            providers.append("gateways.notify_tool")
        components.append(Component("notifications", service, listener=service.on_event))

    if router is None:
        router = build_router(services, providers)
    return Wiring(services=services, router=router, components=components)


async def attach_after_connect(wiring: Wiring, manager: SessionManager) -> None:
    """The engine's slow-starting services, started once Slack is connected: the Hub client
    and the job watcher (issue 4), MCP servers (``agent_core.runtime.attach_engine_services``).
    What started is closed with the other components, before the store."""
    runtime = _optional("agent_core.runtime")
    attach = getattr(runtime, "attach_engine_services", None) if runtime is not None else None
    if attach is None:
        return
    extras = await attach(manager)
    for name, error in getattr(extras, "failures", {}).items():
        log.warning("%s unavailable: %s", name, error)
    wiring.components.append(Component("engine services", extras))
