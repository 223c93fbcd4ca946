"""Dedupe keys of Slack deliveries already handled (``slack_seen_events``), for the middleware."""

from __future__ import annotations

import time

from agent_core.store import Store
from bot.slack.tables import SLACK_SCHEMA


class SeenEvents:
    """Persisted dedupe keys (``slack_seen_events``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.require(SLACK_SCHEMA)

    async def first_time(self, keys: list[str], now: float | None = None) -> bool:
        """Record ``keys``; False if any was seen before (then nothing is recorded)."""
        now = time.time() if now is None else now
        async with self.store.atomic() as db:
            for key in keys:
                async with db.execute(
                    "SELECT 1 FROM slack_seen_events WHERE event_key=?", (key,)
                ) as cur:
                    if await cur.fetchone() is not None:
                        return False
            await db.executemany(
                "INSERT INTO slack_seen_events (event_key, received_at) VALUES (?,?)"
                " ON CONFLICT (event_key) DO NOTHING",
                [(k, now) for k in keys],
            )
        return True

    async def prune(self, older_than_s: float) -> int:
        return await self.store.execute(
            "DELETE FROM slack_seen_events WHERE received_at < ?", (time.time() - older_than_s,)
        )
