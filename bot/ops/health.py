"""Liveness and readiness: what a load balancer or an orchestrator asks before sending work.

* liveness (``/healthz``): the event loop answers. A loop blocked by a runaway call cannot
  answer at all, which is exactly the failure an orchestrator should restart.
* readiness (``/readyz``): this replica can take an event now — the store answers a trivial
  query (and, for SQLite, the file it has open is still at its path: a deleted or moved file
  keeps answering through the open descriptor while every other process sees nothing),
  Slack is connected (the Socket Mode socket is up, or in HTTP mode ``auth.test`` passed and
  the listener is bound), and the engine is not shutting down.

Each check answers ``None`` (fine) or a short reason; the JSON body names the failed checks
so an operator reading ``curl /readyz`` knows where to look. Reasons never carry a URL or an
exception message, which could hold a database password.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent_core.store.postgres import is_postgres_url

if TYPE_CHECKING:
    from agent_core.store import Store

STORE_TIMEOUT_S = 2.0

Check = Callable[[], Awaitable[str | None]]


async def store_problem(store: Store | None, timeout_s: float = STORE_TIMEOUT_S) -> str | None:
    """Why the store cannot take work, or None."""
    if store is None:
        return "the store is not open"
    try:
        await asyncio.wait_for(store.fetchone("SELECT 1"), timeout_s)
    except TimeoutError:
        return f"the store did not answer within {timeout_s:g}s"
    except Exception as exc:
        return f"the store did not answer ({type(exc).__name__})"
    location = str(store.path)
    if location != ":memory:" and not is_postgres_url(location) and not os.path.exists(location):
        return "the SQLite file is no longer at its path (deleted or moved)"
    return None


@dataclass(frozen=True)
class Readiness:
    """The readiness checks, each a coroutine answering None or a reason."""

    checks: dict[str, Check]

    async def report(self) -> tuple[bool, dict[str, str]]:
        """(ready, {check: "ok" or its reason}); checks run concurrently."""
        names = list(self.checks)
        results = await asyncio.gather(*(self.checks[n]() for n in names))
        report = {n: (r or "ok") for n, r in zip(names, results, strict=True)}
        return all(r is None for r in results), report
