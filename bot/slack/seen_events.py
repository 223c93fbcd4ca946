"""Dedupe keys of Slack deliveries already handled (``slack_seen_events``), for the middleware.

Several replicas may receive the same delivery at once (a Slack retry storm, a reconnect, a
mention that also arrives as a ``message`` event on another connection). Whether a delivery
is new is decided by one ``INSERT … WHERE NOT EXISTS … ON CONFLICT DO NOTHING RETURNING`` of all its keys:
the database's unique index picks exactly one winner per key, with no lock shared by other
deliveries. The keys go in sorted order, so two deliveries sharing several keys contend on
the first shared one and cannot split the wins between them (which would drop the event).

The same statement takes the event into the durable inbox (:mod:`bot.slack.inbox`): the
row of the delivery's first key may carry the event's body in state ``received``, so "new or
duplicate" and "stored before the ack" are one write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agent_core.store import Store
from bot.slack.tables import SLACK_SCHEMA


@dataclass(frozen=True)
class InboxColumns:
    """What the delivery's first key row carries when its event is taken into the inbox."""

    body: str
    mac: str
    claimed_by: str
    claim_expires_at: float


class SeenEvents:
    """Persisted dedupe keys (``slack_seen_events``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.require(SLACK_SCHEMA)

    async def first_time(
        self, keys: list[str], now: float | None = None, *, inbox: InboxColumns | None = None
    ) -> bool:
        """Record ``keys``; False if any was seen before (then nothing new is recorded).

        One statement: insert every key unless one exists, and count what was inserted. On
        one process this is the old check-then-insert; across replicas racing on one key the
        unique index decides, and each loser's count comes up short. With ``inbox``, the
        first key's row is the event's inbox row (state ``received``, body, claim).
        """
        unique = sorted(set(keys))
        if not unique:
            return True
        now = time.time() if now is None else now
        rows = " UNION ALL ".join(
            "SELECT CAST(? AS TEXT) AS event_key, CAST(? AS DOUBLE PRECISION) AS received_at,"
            " CAST(? AS TEXT) AS state, CAST(? AS TEXT) AS body, CAST(? AS TEXT) AS mac,"
            " CAST(? AS TEXT) AS claimed_by, CAST(? AS DOUBLE PRECISION) AS claim_expires_at"
            for _ in unique
        )
        marks = ",".join("?" * len(unique))
        params: list[object] = []
        for key in unique:
            if inbox is not None and key == unique[0]:
                params += [key, now, "received", inbox.body, inbox.mac]
                params += [inbox.claimed_by, inbox.claim_expires_at]
            else:
                params += [key, now, "done", None, None, None, None]
        won = await self.store.fetchall(
            "INSERT INTO slack_seen_events"
            " (event_key, received_at, state, body, mac, claimed_by, claim_expires_at)"
            " SELECT event_key, received_at, state, body, mac, claimed_by, claim_expires_at"
            f" FROM ({rows}) AS delivery"
            f" WHERE NOT EXISTS (SELECT 1 FROM slack_seen_events WHERE event_key IN ({marks}))"
            " ON CONFLICT (event_key) DO NOTHING RETURNING event_key",
            [*params, *unique],
        )
        return len(won) == len(unique)

    async def prune(self, older_than_s: float) -> int:
        return await self.store.execute(
            "DELETE FROM slack_seen_events WHERE received_at < ?", (time.time() - older_than_s,)
        )
