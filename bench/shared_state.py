"""Figures for what replicas share through the store (issue 19), for ``bench.bench_store``.

Operations per second (higher is better) with 1 store and with 3 stores on one database
(three bot processes), the calls issued concurrently:

- ``dedupe_locked_*``: the Slack dedupe check as it was (SELECT then INSERT inside
  ``Store.atomic()`` — on Postgres the store-wide advisory lock), kept here as the "before";
- ``dedupe_*``: :meth:`SeenEvents.first_time` now (one ``INSERT … ON CONFLICT`` statement);
- ``outbox_claim_*``: :meth:`Outbox.claim` of distinct due rows (one conditional UPDATE);
- ``post_slot_*``: :meth:`SharedRateBudget.reserve` over 20 channels (one upsert … RETURNING)
  — what a post costs on Postgres on top of the sender's in-memory bucket (SQLite keeps only
  the in-memory bucket: no store round trip per post);
- ``post_slot_ms``: one reservation's latency, one after another (a single replica's cost
  per post on Postgres), in milliseconds (lower is better).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from agent_core.store import Store
from bot.slack.rate_budget import SharedRateBudget
from bot.slack.seen_events import SeenEvents
from bot.slack.tables import SLACK_SCHEMA
from gateways.outbox import OUTBOX_SCHEMA, Outbox, OutboxItem


async def _rate(count: int, calls: Sequence[Callable[[], Awaitable[object]]]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(call() for call in calls))
    return round(count / (time.perf_counter() - started), 1)


async def _dedupe_locked(store: Store, key: str) -> bool:
    """The check-then-insert under the store-wide lock (the implementation before issue 19)."""
    async with store.atomic() as db:
        async with db.execute("SELECT 1 FROM slack_seen_events WHERE event_key=?", (key,)) as cur:
            if await cur.fetchone() is not None:
                return False
        await db.execute(
            "INSERT INTO slack_seen_events (event_key, received_at) VALUES (?,?)"
            " ON CONFLICT (event_key) DO NOTHING",
            (key, time.time()),
        )
    return True


async def _figures(stores: list[Store], n: int, tag: str) -> dict[str, float]:
    k = len(stores)
    seen = [SeenEvents(s) for s in stores]
    boxes = [Outbox(s, claimant=f"bench-{i}") for i, s in enumerate(stores)]
    slots = [SharedRateBudget(s, rate_per_min=60.0, burst=3.0) for s in stores]
    rows = await boxes[0].enqueue(
        [OutboxItem(f"{tag}:{i}", f"d{i % 20}", "error", None, {}, 0.0) for i in range(n)]
    )
    ids = [r.id for r in rows.values()]
    return {
        f"dedupe_locked_{k}": await _rate(
            n,
            [lambda i=i: _dedupe_locked(stores[i % k], f"{tag}:L{i}") for i in range(n)],
        ),
        f"dedupe_{k}": await _rate(
            n, [lambda i=i: seen[i % k].first_time([f"{tag}:N{i}"]) for i in range(n)]
        ),
        f"outbox_claim_{k}": await _rate(
            n, [lambda i=i: boxes[i % k].claim(ids[i]) for i in range(n)]
        ),
        f"post_slot_{k}": await _rate(
            n, [lambda i=i: slots[i % k].reserve(f"post:{tag}:C{i % 20}") for i in range(n)]
        ),
    }


async def _slot_latency_ms(store: Store, n: int) -> float:
    budget = SharedRateBudget(store, rate_per_min=60.0, burst=3.0)
    started = time.perf_counter()
    for i in range(n):
        await budget.reserve(f"post:latency:C{i % 20}")
    return round((time.perf_counter() - started) * 1000 / n, 3)


async def measure_shared(location: str, n: int) -> dict[str, float]:
    """The figures above on ``location`` (a SQLite file or a Postgres URL)."""
    schemas = [SLACK_SCHEMA, OUTBOX_SCHEMA]
    stores = [await Store.open(location, schemas=schemas) for _ in range(3)]
    try:
        out = await _figures(stores[:1], n, "one")
        out["post_slot_ms"] = await _slot_latency_ms(stores[0], n)
        out.update(await _figures(stores, n, "three"))
        return out
    finally:
        for store in stores:
            await store.close()
