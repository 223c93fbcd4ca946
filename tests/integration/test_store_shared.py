"""What replicas share through one store: each guarantee, with two store instances on one
database racing for it (two connections to one SQLite file; two pools on one Postgres database).

Every test runs on both backends (``store_url``). "Replica" here is a second :class:`Store`
opened on the same location, which is exactly what a second bot process holds.
"""

from __future__ import annotations

import asyncio

import pytest

from agent_core.approvals import APPROVED, ApprovalBook
from agent_core.events import ToolApproval
from agent_core.jobs.records import JOBS_SCHEMA
from agent_core.store import Store, StoreError
from bot.slack.keys import ThreadRef
from bot.slack.ledger import Ledger
from bot.slack.seen_events import SeenEvents
from bot.slack.tables import SLACK_SCHEMA
from bot.slack.threads import ThreadStore
from gateways.outbox import OUTBOX_SCHEMA, Outbox, OutboxItem
from tests.postgres_harness import free_port

RACERS = 24  # concurrent attempts per race, split over the two replicas


async def test_an_approval_is_claimed_exactly_once_by_racing_replicas(
    replicas: tuple[Store, Store],
) -> None:
    """Two people click Approve on two replicas at once: one decision is recorded, the
    others are told who decided (the card must never run the call twice)."""
    books = [ApprovalBook(s) for s in replicas]
    call = {"tool_call_id": "c1", "tool": "hf_jobs", "arguments": {"x": 1}, "args_hash": "h"}
    await books[0].create_batch("s", "b1", [call], requester="U0", ttl_s=None)

    async def click(i: int):
        return await books[i % 2].claim(
            "s", [ToolApproval(tool_call_id="c1", approved=True)], f"U{i}", complete_batch=True
        )

    results = await asyncio.gather(*(click(i) for i in range(RACERS)))
    winners = [i for i, r in enumerate(results) if r.ok]
    assert len(winners) == 1
    record = await books[1].get("s", "c1")
    assert record is not None and (record.status, record.decided_by) == (
        APPROVED,
        f"U{winners[0]}",
    )
    assert all(r.already_decided_by == f"U{winners[0]}" for r in results if not r.ok)


async def test_a_slack_delivery_seen_by_two_replicas_is_handled_once(
    replicas: tuple[Store, Store],
) -> None:
    """Slack redelivers an event (retry, or a second Socket Mode connection): of all the
    replicas receiving it at once, exactly one handles it."""
    seen = [SeenEvents(s) for s in replicas]
    results = await asyncio.gather(
        *(seen[i % 2].first_time(["Ev1", "T1:C1:1.0"]) for i in range(RACERS))
    )
    assert results.count(True) == 1
    # a later delivery with only one of the keys is a duplicate too
    assert not await seen[0].first_time(["Ev2", "T1:C1:1.0"])
    assert await seen[1].first_time(["Ev3"])


async def test_events_appended_by_two_replicas_get_one_gapless_sequence(
    replicas: tuple[Store, Store],
) -> None:
    """A turn on one replica and the job watcher on another append to one session."""
    appended = await asyncio.gather(
        *(replicas[i % 2].append_event("s", "tool_log", {"i": i}) for i in range(40))
    )
    assert sorted(e.seq for e in appended) == list(range(1, 41))
    logged = await replicas[1].events_after("s")
    assert [e.seq for e in logged] == list(range(1, 41))
    assert {e.data["i"] for e in logged} == set(range(40))


async def test_an_outbox_row_is_claimed_by_one_replica_and_enqueued_once(
    replicas: tuple[Store, Store],
) -> None:
    """Both replicas replay the same event into the outbox and race to deliver it."""
    boxes = [Outbox(s) for s in replicas]
    item = OutboxItem("s:1:ops", "ops", "error", "s", {"text": "boom"}, 0.0)
    rows = await asyncio.gather(*(boxes[i % 2].enqueue([item]) for i in range(RACERS)))
    assert len({r[item.key].id for r in rows}) == 1
    row_id = rows[0][item.key].id
    claims = await asyncio.gather(*(boxes[i % 2].claim(row_id) for i in range(RACERS)))
    assert claims.count(True) == 1
    claimed = await boxes[0].get(row_id)
    assert claimed is not None and (claimed.status, claimed.attempts) == ("sending", 1)


async def test_the_render_ledger_and_thread_cursor_are_shared(
    replicas: tuple[Store, Store],
) -> None:
    """What one replica posted, the other sees: a restart elsewhere neither loses nor repeats."""
    ledgers = [Ledger(s) for s in replicas]
    await asyncio.gather(*(ledgers[i % 2].begin("s", 3, "answer:0", "C1") for i in range(8)))
    await ledgers[0].done("s", 3, "answer:0", "1712.0001")
    entry = await ledgers[1].get("s", 3, "answer:0")
    assert entry is not None and (entry.ts, entry.channel, entry.status) == (
        "1712.0001",
        "C1",
        "posted",
    )
    ref = ThreadRef("T1", "C1", "1712.0000")
    threads = [ThreadStore(s) for s in replicas]
    await asyncio.gather(threads[0].ensure(ref), threads[1].ensure(ref))
    await replicas[0].append_event(ref.session_id, "assistant_message", {"text": "hi"})
    assert await threads[1].behind() == [ref.session_id]
    record = await threads[1].get(ref.session_id)
    assert record is not None
    record.rendered_seq = 1
    await threads[1].save(record)
    assert await threads[0].behind() == []


async def test_replicas_starting_together_migrate_once(store_url: str) -> None:
    """Three processes open a new database at the same moment, with every layer's tables."""
    schemas = [SLACK_SCHEMA, JOBS_SCHEMA, OUTBOX_SCHEMA]
    stores = await asyncio.gather(*(Store.open(store_url, schemas=schemas) for _ in range(3)))
    try:
        for store in stores:
            for schema in (*schemas,):
                assert await store._version(schema.owner) == schema.version
        await stores[2].kv_set("ns", "k", {"v": 1})
        assert await stores[0].kv_get("ns", "k") == {"v": 1}
    finally:
        for store in stores:
            await store.close()


async def test_an_unreachable_postgres_is_a_clear_error_without_the_password() -> None:
    url = f"postgresql://bot:hunter2@127.0.0.1:{free_port()}/ml"
    with pytest.raises(
        StoreError, match=r"cannot open the store at postgresql://bot:\*\*\*@"
    ) as err:
        await Store.open(url)
    assert "hunter2" not in str(err.value)
