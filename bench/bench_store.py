"""``python -m bench.bench_store``: the store's hot paths on SQLite and on Postgres.

Figures (operations per second, higher is better), each with two store instances on one
database where it says "2 stores" (two bot processes sharing it):

- ``append_seq``: event-log appends to one session, one after another (a turn's events);
- ``append_2_stores``: appends spread over 50 sessions from 2 stores at once;
- ``dedupe_2_stores``: Slack dedupe inserts (``SeenEvents.first_time``) from 2 stores at once —
  on Postgres these go through the store-wide write lock (see agent_core/store/postgres.py).

Plus the figures of what replicas share (dedupe before/after, outbox claims, shared post
slots; 1 and 3 stores): see :mod:`bench.shared_state`.

Postgres is a private cluster started like the tests' (tests/postgres_harness.py: Debian's
``postgresql``, loopback, durability off), or ``--postgres URL`` for a real server (its
database must be empty). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from agent_core.store import Store
from bot.slack.seen_events import SeenEvents

from .shared_state import measure_shared


async def _rate(count: int, work) -> float:
    started = time.perf_counter()
    await work()
    return round(count / (time.perf_counter() - started), 1)


async def measure(location: str, n: int) -> dict[str, float]:
    a, b = await Store.open(location), await Store.open(location)
    try:
        seen = (SeenEvents(a), SeenEvents(b))

        async def sequential() -> None:
            for i in range(n):
                await a.append_event("seq", "tool_log", {"i": i})

        async def spread() -> None:
            await asyncio.gather(
                *((a, b)[i % 2].append_event(f"s{i % 50}", "tool_log", {"i": i}) for i in range(n))
            )

        async def dedupe() -> None:
            await asyncio.gather(*(seen[i % 2].first_time([f"Ev{i}"]) for i in range(n)))

        return {
            "append_seq": await _rate(n, sequential),
            "append_2_stores": await _rate(n, spread),
            "dedupe_2_stores": await _rate(n, dedupe),
            **await measure_shared(location, n),
        }
    finally:
        await a.close()
        await b.close()


async def main(n: int, postgres_url: str | None) -> dict[str, dict[str, float]]:
    results = {"sqlite": await measure(str(Path(tempfile.mkdtemp()) / "bench.db"), n)}
    if postgres_url:
        results["postgres"] = await measure(postgres_url, n)
        return results
    from tests.postgres_harness import NoServer, start_cluster

    try:
        cluster = start_cluster()
    except NoServer as exc:
        print(f"postgres skipped: {exc}")
        return results
    try:
        results["postgres"] = await measure(await cluster.create_database(), n)
    finally:
        cluster.stop()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="operations per figure")
    parser.add_argument("--postgres", help="a postgresql:// URL instead of a private cluster")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.n, args.postgres)), indent=2))
