"""Store retention: what is deleted, when, and the loop that does it.

The store grew without bound (thousands of ``assistant_chunk`` rows per few answers, every
event and ledger row of every thread forever). Rules, each a number of days in the
``retention`` config section:

* ``chunk_days``: streamed deltas (``assistant_chunk``) — every answer is also stored whole as
  ``assistant_message``, so these only matter while a thread is being rendered;
* ``event_days``: the whole event log of a session idle that long;
* ``session_days``: a session idle that long with no unfinished job — its history, approvals,
  operations, events and Slack bookkeeping (the thread can no longer be continued);
* the Slack dedupe keys after a day, delivered notifications after ``event_days``, the spend
  ledger's days after 35 days.

:func:`prune` runs them once (``ml-intern-slack prune``); :class:`Pruner` runs them at start
and then every ``every_h`` hours. Tables of other layers are touched only if they exist.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

log = logging.getLogger(__name__)
DAY_S = 86_400.0


OTHER_LAYERS = ("jobs", "slack_ledger", "slack_threads", "slack_seen_events", "outbox")


async def _tables(store: Any) -> set[str]:
    """Which other layers' tables this store has (a portable probe, no catalog query)."""
    present = set()
    for table in OTHER_LAYERS:
        try:
            await store.fetchone(f"SELECT 1 FROM {table} LIMIT 1")
        except Exception:  # that layer never created its table here
            continue
        present.add(table)
    return present


async def prune(store: Any, retention: Any, now: float | None = None) -> dict[str, int]:
    """Apply the retention rules once; rows deleted per rule."""
    now = time.time() if now is None else now
    chunk_cut = now - retention.chunk_days * DAY_S
    event_cut = now - retention.event_days * DAY_S
    session_cut = now - retention.session_days * DAY_S
    tables = await _tables(store)
    out: dict[str, int] = {}
    out["chunks"] = await store.execute(
        "DELETE FROM events WHERE type='assistant_chunk' AND ts < ?", (chunk_cut,)
    )
    out["events"] = await store.execute(
        "DELETE FROM events WHERE ts < ? AND session_id IN"
        " (SELECT id FROM sessions WHERE updated_at < ?)",
        (event_cut, event_cut),
    )
    busy = (
        "SELECT session_id FROM jobs WHERE finished_emitted = 0"
        if "jobs" in tables
        else "SELECT ''"
    )
    old = f"SELECT id FROM sessions WHERE updated_at < ? AND id NOT IN ({busy})"
    rows = await store.fetchall(old, (session_cut,))
    ids = [r[0] for r in rows]
    # event_cursors too: a cursor left behind would sit past the seqs of a thread that is
    # started again, and its consumer would skip the new events.
    per_session = ["events", "event_cursors", "messages", "approvals", "ops"] + [
        t for t in ("jobs", "slack_ledger", "slack_threads") if t in tables
    ]
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for table in per_session:
            await store.execute(f"DELETE FROM {table} WHERE session_id IN ({marks})", chunk)
        await store.execute(f"DELETE FROM sessions WHERE id IN ({marks})", chunk)
    out["sessions"] = len(ids)
    if "slack_seen_events" in tables:
        out["slack_seen_events"] = await store.execute(
            "DELETE FROM slack_seen_events WHERE received_at < ?", (now - DAY_S,)
        )
    if "outbox" in tables:
        out["outbox"] = await store.execute(
            "DELETE FROM outbox WHERE status != 'pending' AND updated_at < ?", (event_cut,)
        )
    day = time.strftime("%Y-%m-%d", time.gmtime(now - 35 * DAY_S))
    out["spend_days"] = await store.execute(
        "DELETE FROM kv WHERE namespace='spend_by_day' AND key < ?", (day,)
    )
    return out


class Pruner:
    """Runs :func:`prune` at start and every ``retention.every_h`` hours (0: never)."""

    def __init__(self, store: Any, retention: Any) -> None:
        self.store = store
        self.retention = retention
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.retention.every_h > 0:
            self._task = asyncio.create_task(self._loop(), name="store-retention")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                counts = await prune(self.store, self.retention)
                if any(counts.values()):
                    log.info("store retention: %s", counts)
            except asyncio.CancelledError:
                return
            except Exception:
                log.exception("store retention failed; retrying at the next interval")
            await asyncio.sleep(self.retention.every_h * 3600)
