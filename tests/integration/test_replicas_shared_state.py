"""Three replicas on one store racing for what they share (issue 19): Slack dedupe, the render
ledger, the notification outbox, approval claims.

A "replica" is a :class:`Store` of its own on the same location (its own pool on Postgres, its
own connection on SQLite), which is exactly what a bot process holds. Every test runs on both
backends (``store_url``). Races are real: the attempts are started together with
``asyncio.gather`` and the database decides.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from agent_core.approvals import APPROVED, REJECTED, ApprovalBook
from agent_core.events import ToolApproval
from agent_core.store import Store
from bot.slack.ledger import Ledger
from bot.slack.middleware import event_keys
from bot.slack.seen_events import SeenEvents
from bot.slack.tables import SLACK_SCHEMA
from gateways.outbox import OUTBOX_SCHEMA, Outbox, OutboxItem
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.gateway_harness import ORIGIN, event, messaging, outbox_rows

REPLICAS = 3


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[list[Store]]:
    opened = [
        await Store.open(store_url, schemas=[SLACK_SCHEMA, OUTBOX_SCHEMA]) for _ in range(REPLICAS)
    ]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


def _mention_and_its_message(n: int) -> list[dict]:
    """One person's mention as Slack delivers it: an ``app_mention`` and a ``message`` event
    (two event ids, one channel+ts), shaped as in Slack's Events API docs."""
    ts = f"1712345678.{n:06d}"
    inner = {"channel": "C0123", "ts": ts, "user": "U0A", "text": "<@UBOT> hi"}
    return [
        {
            "type": "event_callback",
            "event_id": f"Ev{n}A",
            "event": {"type": "app_mention", **inner},
        },
        {"type": "event_callback", "event_id": f"Ev{n}M", "event": {"type": "message", **inner}},
    ]


async def test_slack_retry_storm_of_one_event_across_three_replicas_is_handled_once(
    stores: list[Store],
) -> None:
    """Slack retries each delivery (x-slack-retry-num 1..3) and the mention also arrives as a
    message event; every copy lands on some replica at the same moment. Per mention, exactly
    one copy is handled."""
    seen = [SeenEvents(s) for s in stores]
    copies = [
        (n, body)
        for n in range(10)
        for body in _mention_and_its_message(n)
        for _retry in range(4)  # the first delivery and three retries
    ]
    results = await asyncio.gather(
        *(seen[i % REPLICAS].first_time(event_keys(body)) for i, (_n, body) in enumerate(copies))
    )
    handled = Counter(n for (n, _body), first in zip(copies, results, strict=True) if first)
    assert handled == Counter({n: 1 for n in range(10)})


async def test_a_ledger_part_raced_by_three_replicas_is_posted_once(stores: list[Store]) -> None:
    """Three replicas decide to post the same answer part: one wins the row; after that
    winner "crashes" mid-post, of three replicas retrying the pending part one takes it over."""
    ledgers = [Ledger(s) for s in stores]
    won = await asyncio.gather(
        *(ledgers[i % REPLICAS].begin("s", 7, "answer:0", "C1") for i in range(12))
    )
    assert won.count(True) == 1
    entry = await ledgers[0].get("s", 7, "answer:0")
    assert entry is not None and entry.status == "pending"
    retried = await asyncio.gather(*(ledgers[i % REPLICAS].retry(entry) for i in range(12)))
    assert retried.count(True) == 1
    # the part's row now names the new attempt: the stale view of it cannot be taken again
    assert not await ledgers[1].retry(entry)
    await ledgers[2].done("s", 7, "answer:0", "1712.0007")
    fresh = await ledgers[0].get("s", 7, "answer:0")
    assert fresh is not None and fresh.status == "posted"
    assert not await ledgers[0].retry(fresh) and not await ledgers[1].begin(
        "s", 7, "answer:0", "C1"
    )


async def test_an_outbox_key_enqueued_by_three_replicas_is_one_row_claimed_once(
    stores: list[Store],
) -> None:
    boxes = [Outbox(s, claimant=f"r{i}") for i, s in enumerate(stores)]
    item = OutboxItem("s:1:ops", "ops", "error", "s", {"text": "boom"}, 0.0)
    rows = await asyncio.gather(*(boxes[i % REPLICAS].enqueue([item]) for i in range(12)))
    assert len({r[item.key].id for r in rows}) == 1
    row_id = rows[0][item.key].id
    claims = await asyncio.gather(*(boxes[i % REPLICAS].claim(row_id) for i in range(12)))
    assert claims.count(True) == 1
    claimed = await boxes[0].get(row_id)
    assert claimed is not None and claimed.status == "sending"


async def test_an_expired_claim_is_retaken_and_a_late_claimant_cannot_undo_it(
    stores: list[Store],
) -> None:
    """Replica r0 claims a row and stalls past its claim; r1 takes it back. r0's late failure
    report must not put r1's delivery back in the queue (that would deliver it twice)."""
    r0 = Outbox(stores[0], claimant="r0", claim_ttl_s=30.0)
    r1 = Outbox(stores[1], claimant="r1", claim_ttl_s=30.0)
    row = (await r0.enqueue([OutboxItem("k", "ops", "error", "s", {}, 0.0)]))["k"]
    assert await r0.claim(row.id)
    assert await r1.reclaim_expired(now=row.created_at + 1) == 0  # r0's claim is live
    assert await r1.reclaim_expired(now=row.created_at + 3600) == 1
    assert await r1.claim(row.id)
    await r0.mark_retry(row.id, "timed out", 0.0)  # too late: the row is r1's now
    held = await r1.get(row.id)
    assert held is not None and held.status == "sending" and held.last_error is None
    await r1.mark_sent(row.id, "ext-1")
    sent = await r0.get(row.id)
    assert sent is not None and (sent.status, sent.attempts) == ("sent", 2)


def _hook(receiver: WebhookReceiver, path: str) -> dict:
    return {"provider": "webhook", "url": receiver.url(path), "allow_auto_events": True}


async def test_three_delivery_workers_deliver_each_key_once_and_survive_one_killed_mid_delivery(
    stores: list[Store],
) -> None:
    """Every replica runs the outbox worker. Deliveries are in flight when one worker dies
    (no drain, no bookkeeping — as SIGKILL leaves it); once its claims expire the survivors
    resend what it had in flight, with the same Idempotency-Key. Every other key arrives
    exactly once, though all three workers race for every row."""
    from gateways import NotificationService

    async with WebhookReceiver() as hook:
        destinations = {f"ci{d}": _hook(hook, f"/ci{d}") for d in range(3)}
        section = messaging(destinations, delivery={"claim_ttl_s": 5.0, "drain_timeout_s": 0})
        services = [
            NotificationService(section, s, env={}, replica_id=f"replica-{i}")
            for i, s in enumerate(stores)
        ]
        for svc in services:
            await svc.start()
        survivors = list(services)
        try:
            hook.hold()
            keys = []
            for seq in range(1, 13):
                keys += await services[seq % REPLICAS].handle_event(
                    event("turn_complete", {"final_response": f"done {seq}"}, seq=seq), ORIGIN
                )
            assert len(set(keys)) == 36
            first = await hook.wait_for(1)
            victim_key = first.header("Idempotency-Key")
            (row,) = [r for r in await outbox_rows(stores[0]) if r["idempotency_key"] == victim_key]
            assert row["status"] == "sending"
            victim = services[int(row["claimed_by"].rsplit("-", 1)[1])]
            survivors.remove(victim)
            await victim.close()  # drain 0: the in-flight deliveries are cut off, rows stay
            cut_off = {
                r["idempotency_key"]
                for r in await outbox_rows(stores[0])
                if r["status"] == "sending" and r["claimed_by"] == row["claimed_by"]
            }
            assert victim_key in cut_off
            hook.release()
            await hook.wait_for(36 + len(cut_off), answered=True, timeout=40)
            for svc in survivors:
                assert await svc.wait_idle(10)
        finally:
            hook.release()
            for svc in survivors:
                await svc.close()
        answered = Counter(r.header("Idempotency-Key") for r in hook.delivered)
        assert set(answered) == set(keys)
        # only what the dead worker had in flight reached the receiver twice (same key)
        assert {k: n for k, n in answered.items() if n > 1} == {k: 2 for k in cut_off}
        rows = {r["idempotency_key"]: r for r in await outbox_rows(stores[1])}
        assert {r["status"] for r in rows.values()} == {"sent"}
        assert {k for k, r in rows.items() if r["attempts"] == 2} == cut_off


async def test_three_replicas_racing_decisions_on_one_batch_record_one(
    stores: list[Store],
) -> None:
    """On a three-call card, people click "Approve all", "Reject all" and single-call buttons on
    three replicas at once: one decision covers each call, every loser hears who decided."""
    books = [ApprovalBook(s) for s in stores]
    calls = [
        {"tool_call_id": f"c{i}", "tool": "hf_jobs", "arguments": {"i": i}, "args_hash": f"h{i}"}
        for i in range(3)
    ]
    await books[0].create_batch("s", "b1", calls, requester="U0", ttl_s=None)

    async def click(i: int):
        book = books[i % REPLICAS]
        if i % 3 == 0:  # approve all
            approvals = [ToolApproval(tool_call_id=c["tool_call_id"], approved=True) for c in calls]
            return await book.claim("s", approvals, f"U{i}", complete_batch=True, batch_id="b1")
        if i % 3 == 1:  # reject all (nothing named: the rest of the batch is rejected)
            return await book.claim("s", [], f"U{i}", complete_batch=True, batch_id="b1")
        one = ToolApproval(tool_call_id=f"c{i % 2}", approved=True)
        return await book.claim("s", [one], f"U{i}", complete_batch=False, batch_id="b1")

    results = await asyncio.gather(*(click(i) for i in range(18)))
    decided = await books[2].batch("s", "b1")
    assert all(c.status in (APPROVED, REJECTED) for c in decided)
    winners = {i for i, r in enumerate(results) if r.ok}
    # every call was decided by a winning click, and each winner's decisions all stand
    assert {c.decided_by for c in decided} <= {f"U{i}" for i in winners}
    assert 1 <= len(winners) <= 3  # at most one per call
    for r in results:
        if not r.ok:
            assert r.already_decided_by in {c.decided_by for c in decided}
            assert r.error is not None and "already" in r.error
