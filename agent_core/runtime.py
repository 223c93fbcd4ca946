"""Starting the engine's background services on a running SessionManager.

Hub access, the job watcher and MCP servers take a moment to start (processes, network).
Hosts start them *after* they are reachable — the bot after Socket Mode connects — so none of
this delays the first ack. A service that fails to start is reported in
:attr:`EngineExtras.failures` and the engine runs without it; a broken install (an import
error) is not a start failure and is raised. MCP tools are registered into the live router:
sessions read the tool list on every LLM call, so they appear as soon as their server is up.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .hub import HubClient
from .jobs import JobWatcher
from .tools.mcp_tools import start_mcp

if TYPE_CHECKING:
    from .manager import SessionManager

log = logging.getLogger(__name__)


@dataclass
class EngineExtras:
    """What :func:`attach_engine_services` started; close it before closing the store."""

    started: list[tuple[str, Any]] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    async def close(self) -> None:
        for name, obj in reversed(self.started):
            closer = getattr(obj, "close", None) or getattr(obj, "aclose", None)
            if closer is None:
                continue
            try:
                await closer()
            except Exception:
                log.warning("closing %s failed", name, exc_info=True)
        self.started.clear()


async def _attach_mcp(manager: SessionManager, extras: EngineExtras) -> None:
    if not manager.config.mcpServers or manager.services.mcp is not None:
        return
    try:
        mcp = await start_mcp(manager.services, log_dir=None)
    except Exception as exc:
        extras.failures["mcp"] = str(exc)
        log.exception("MCP servers could not start; continuing without them")
        return
    if mcp is None:
        return
    extras.started.append(("mcp", mcp))
    for spec in mcp.tool_specs():
        if manager.router.get(spec.name) is None:
            manager.router.register(spec)


async def _attach_jobs(manager: SessionManager, extras: EngineExtras) -> None:
    if manager.services.jobs is not None:
        return
    try:
        if manager.services.hub is None:
            manager.services.hub = await asyncio.to_thread(HubClient)
            extras.started.append(("hub", manager.services.hub))
        watcher = JobWatcher.for_manager(manager)
        await watcher.start()
    except Exception as exc:
        extras.failures["jobs"] = str(exc)
        log.exception("the job watcher could not start; submitted jobs will not be followed")
        return
    extras.started.append(("jobs", watcher))


async def attach_engine_services(
    manager: SessionManager, *, jobs: bool = True, mcp: bool = True
) -> EngineExtras:
    """Start the Hub client + job watcher and the MCP servers, concurrently."""
    extras = EngineExtras()
    tasks = []
    if jobs:
        tasks.append(_attach_jobs(manager, extras))
    if mcp:
        tasks.append(_attach_mcp(manager, extras))
    await asyncio.gather(*tasks)
    return extras
