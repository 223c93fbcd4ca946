"""Rate budgets for Slack writes: one process's token bucket, and one shared by replicas.

Slack allows about one ``chat.postMessage`` a second per channel (short bursts tolerated). One
process paces its posts with a :class:`TokenBucket`. With several replicas on one Postgres
store, each replica's bucket would let the same channel see N times that rate, so the budget
lives in the store instead (:class:`SharedRateBudget`): a row per channel holds the
channel's *theoretical arrival time* (GCRA — the token bucket expressed as one timestamp), and
a post reserves its slot with one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``. The row
lock serialises only posts to that channel; there is no store-wide lock, and the reply says
exactly when this replica may post, so no replica polls.

Times in the store are wall-clock seconds (replicas share no monotonic clock); replicas are
expected to run NTP-synced clocks, far closer than the one-second spacing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from agent_core.store import Store
from bot.slack.tables import SLACK_SCHEMA

log = logging.getLogger(__name__)

POST_BURST = 3.0  # posts a channel may take at once before the one-a-second pacing applies


class TokenBucket:
    """``rate_per_min`` tokens a minute, ``burst`` at once; ``wait()`` says how long to wait."""

    def __init__(self, rate_per_min: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate_per_min / 60.0
        self.burst = max(1.0, burst)
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self) -> float:
        self._refill()
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens = max(0.0, self.tokens - 1.0)


class SharedRateBudget:
    """Per-key send slots shared by every replica on one store (table ``slack_rate_slots``).

    ``reserve(key)`` takes the next slot of ``key``'s budget — ``rate_per_min`` a minute with
    bursts of ``burst`` — and returns how many seconds from now that slot opens. A reserved
    slot is spent whether or not the caller then sends, so the combined rate of all replicas
    never exceeds the budget.
    """

    def __init__(
        self,
        store: Store,
        *,
        rate_per_min: float,
        burst: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rate_per_min <= 0:
            raise ValueError("a rate budget needs a positive rate")
        self.store = store
        self.interval = 60.0 / rate_per_min
        self.burst = max(1.0, burst)
        self.clock = clock
        store.require(SLACK_SCHEMA)

    async def reserve(self, key: str) -> float:
        """Seconds until this caller may send (0 when a burst token is free)."""
        now = self.clock()
        row = await self.store.fetchone(
            "INSERT INTO slack_rate_slots (bucket, tat) VALUES (?, ?)"
            " ON CONFLICT (bucket) DO UPDATE SET tat = CASE WHEN slack_rate_slots.tat > ?"
            " THEN slack_rate_slots.tat ELSE ? END + ? RETURNING tat",
            (key, now + self.interval, now, now, self.interval),
        )
        tat = float(row["tat"])
        return max(0.0, tat - self.burst * self.interval - now)


class ReservedSlot:
    """This process's next send slot of one shared budget key, reserved ahead of the send.

    The sender calls :meth:`ensure` (one store round trip, one at a time per key) when it has
    something to send and holds no slot, asks :meth:`wait` how long until the slot opens, and
    :meth:`take` s it when it sends. ``at`` is on the sender's (monotonic) clock. If the store
    cannot be reached the slot opens at once and the sender's local bucket alone paces it.
    """

    def __init__(self, budget: SharedRateBudget, key: str, clock: Callable[[], float]) -> None:
        self.budget = budget
        self.key = key
        self.clock = clock
        self.at: float | None = None
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        async with self._lock:
            if self.at is not None:
                return
            try:
                delay = await self.budget.reserve(self.key)
            except Exception:
                log.warning("shared rate budget %s unavailable; pacing locally", self.key)
                delay = 0.0
            self.at = self.clock() + delay

    def wait(self, now: float) -> float | None:
        """Seconds until the held slot opens; None when no slot is held (:meth:`ensure`)."""
        return None if self.at is None else max(0.0, self.at - now)

    def take(self) -> None:
        self.at = None
