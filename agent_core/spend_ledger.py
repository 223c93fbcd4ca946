"""Auto-approved spend per person and per workspace per UTC day, across every thread.

The YOLO budget lives in one session's state, so five threads with $4 each under a "$5 cap"
spent $20. This ledger (the store's key-value table, so it survives restarts and is shared by
every session of the process) counts what YOLO approved for a requester and for the whole
workspace today; :func:`agent_core.policy.decide` refuses an auto-approval that would pass
``yolo_user_daily_cap_usd`` or ``yolo_workspace_daily_cap_usd``. LLM spend can be booked
here too (``kind="llm"``) so the same caps cover it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NAMESPACE = "spend_by_day"
_EXTRAS_KEY = "spend_ledger"


@dataclass(frozen=True)
class SpendToday:
    user_usd: float = 0.0
    workspace_usd: float = 0.0


class SpendLedger:
    def __init__(self, store: Any, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._lock = asyncio.Lock()  # read-modify-write of the day's totals

    def _day(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.clock()))

    async def today(self, user: str | None) -> SpendToday:
        day = self._day()
        ws = await self.store.kv_get(NAMESPACE, f"{day}:workspace") or {}
        mine = await self.store.kv_get(NAMESPACE, f"{day}:user:{user}") if user else None
        return SpendToday(float((mine or {}).get("usd", 0.0)), float(ws.get("usd", 0.0)))

    async def add(self, user: str | None, usd: float, kind: str = "job") -> None:
        """Book ``usd`` (negative to release a reservation) for ``user`` and the workspace."""
        if not usd:
            return
        day = self._day()
        keys = [f"{day}:workspace"] + ([f"{day}:user:{user}"] if user else [])
        async with self._lock:
            for key in keys:
                entry = await self.store.kv_get(NAMESPACE, key) or {}
                entry["usd"] = round(max(0.0, float(entry.get("usd", 0.0)) + usd), 6)
                entry[kind] = round(max(0.0, float(entry.get(kind, 0.0)) + usd), 6)
                await self.store.kv_set(NAMESPACE, key, entry)


def ledger_for(services: Any) -> SpendLedger | None:
    """The process's ledger (one per Services, so one lock for every session)."""
    if services is None or services.store is None:
        return None
    ledger = services.extras.get(_EXTRAS_KEY)
    if not isinstance(ledger, SpendLedger):
        ledger = SpendLedger(services.store)
        services.extras[_EXTRAS_KEY] = ledger
    return ledger
