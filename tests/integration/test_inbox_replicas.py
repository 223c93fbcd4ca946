"""The durable inbox across replicas (two stores on one database, SQLite and the real
Postgres): one delivery racing through both stores' dedupe is stored once, and one row
whose claim expired is claimed by exactly one of many racing replays."""

from __future__ import annotations

import asyncio

from agent_core.store import Store
from bot.slack.inbox import SlackInbox
from tests.unit.test_slack_inbox import mention

RACERS = 12


def boxes(replicas: tuple[Store, Store]) -> list[SlackInbox]:
    return [
        SlackInbox(s, secret="xoxb-shared", replica_id=f"r{i}", claim_ttl_s=60.0)
        for i, s in enumerate(replicas)
    ]


async def test_one_delivery_racing_through_two_replicas_is_stored_once(
    replicas: tuple[Store, Store],
) -> None:
    inbox = boxes(replicas)
    results = await asyncio.gather(*(inbox[i % 2].take_in(mention()) for i in range(RACERS)))
    tickets = [t for new, t in results if new]
    assert len(tickets) == 1 and tickets[0] is not None
    rows = await replicas[0].fetchall(
        "SELECT event_key FROM slack_seen_events WHERE state='received'"
    )
    assert [r[0] for r in rows] == ["ev:Ev1"]


async def test_an_expired_row_is_replayed_by_exactly_one_replica(
    replicas: tuple[Store, Store],
) -> None:
    inbox = boxes(replicas)
    for n in range(5):
        new, _ = await inbox[0].take_in(mention(f"Ev{n}", ts=f"1700000000.00010{n}"))
        assert new
    await replicas[0].execute("UPDATE slack_seen_events SET claim_expires_at=0")
    claims = await asyncio.gather(*(inbox[i % 2].claim_stale() for i in range(RACERS)))
    won = [p.ticket.key for batch in claims for p in batch]
    assert sorted(won) == [f"ev:Ev{n}" for n in range(5)]  # each row once, none lost
    assert all(p.body is not None for batch in claims for p in batch)
