"""The store's event-log API, consumer cursors, per-owner schemas and upgrades of old files.

Every test taking ``store`` or ``store_url`` runs on both backends (SQLite and a real Postgres).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent_core.jobs.records import JobRecord, JobStore
from agent_core.store import Schema, Store, StoreError
from bot.slack.keys import ThreadRef
from bot.slack.ledger import Ledger
from bot.slack.tables import RENDER_CONSUMER
from bot.slack.threads import ThreadStore
from gateways.outbox import Outbox, OutboxItem

V1_SCHEMA = (Path(__file__).parent / "store_v1_schema.sql").read_text()


@pytest.fixture
async def store(store_url: str):
    s = await Store.open(store_url)
    try:
        yield s
    finally:
        await s.close()


async def test_find_event_returns_the_latest_match_on_data_fields(store: Store) -> None:
    await store.append_event("s", "approval_required", {"batch_id": "b1", "n": 1})
    await store.append_event("s", "approval_required", {"batch_id": "b2"})
    latest = await store.append_event("s", "approval_required", {"batch_id": "b1", "n": 2})
    await store.append_event("t", "approval_required", {"batch_id": "b1"})
    found = await store.find_event("s", "approval_required", batch_id="b1")
    assert found is not None and (found.seq, found.data["n"]) == (latest.seq, 2)
    assert await store.find_event("s", "approval_required", batch_id="b9") is None
    assert await store.find_event("s", "job_finished") is None


async def test_find_event_compares_json_values_with_their_types(store: Store) -> None:
    """Both backends agree: 5 matches 5, not "5"; true matches True; a missing field matches
    nothing."""
    await store.append_event("s", "job_finished", {"n": 5, "ok": True, "id": "5"})
    assert await store.find_event("s", "job_finished", n=5) is not None
    assert await store.find_event("s", "job_finished", n="5") is None
    assert await store.find_event("s", "job_finished", id="5", ok=True) is not None
    assert await store.find_event("s", "job_finished", id=5) is None
    assert await store.find_event("s", "job_finished", missing="x") is None


async def test_find_event_refuses_a_field_name_that_is_not_an_identifier(store: Store) -> None:
    """The name goes into a JSON path: a crafted one must never reach the SQL."""
    with pytest.raises(ValueError, match="not a field name"):
        await store.find_event("s", "x", **{"a') OR 1=1 --": 1})


async def test_events_after_filters_by_range_and_type(store: Store) -> None:
    for t in ("a", "b", "a", "c", "a"):
        await store.append_event("s", t, {})
    assert [e.seq for e in await store.events_after("s", 1, upto=4)] == [2, 3, 4]
    assert [e.seq for e in await store.events_after("s", 0, types={"a"})] == [1, 3, 5]
    assert await store.events_after("s", 0, types=()) == []


async def test_cursor_never_moves_backwards_and_keeps_its_state(store: Store) -> None:
    assert await store.cursor("r", "s") is None
    await store.advance_cursor("r", "s", 5, state={"k": 1})
    await store.advance_cursor("r", "s", 3, state={"k": "late"})  # a late, concurrent handler
    cur = await store.cursor("r", "s")
    assert cur is not None and (cur.seq, cur.state) == (5, {"k": 1})
    await store.advance_cursor("r", "s", 6)  # no state given: the stored one is kept
    cur = await store.cursor("r", "s")
    assert cur is not None and (cur.seq, cur.state) == (6, {"k": 1})


async def test_start_cursor_begins_at_the_end_and_sessions_behind_sees_new_events(
    store: Store,
) -> None:
    await store.append_event("old", "x", {})
    await store.append_event("old", "x", {})
    assert (await store.start_cursor("r", "old")).seq == 2
    assert await store.sessions_behind("r") == []
    await store.append_event("old", "x", {})
    await store.append_event("fresh", "x", {})
    assert await store.sessions_behind("r") == ["old"]
    assert await store.sessions_behind("r", untracked=True) == ["fresh", "old"]


async def test_register_consumer_skips_history_only_the_first_time(store: Store) -> None:
    await store.append_event("s", "x", {})
    assert await store.register_consumer("g") is True
    assert (await store.cursor("g", "s")).seq == 1  # type: ignore[union-attr]
    await store.append_event("s", "x", {})
    assert await store.register_consumer("g") is False
    assert await store.sessions_behind("g", untracked=True) == ["s"]


async def test_owner_schema_is_migrated_on_first_query_and_versioned(store_url: str) -> None:
    path = store_url
    v1 = Schema("demo", ("CREATE TABLE demo (x INTEGER);",))
    store = await Store.open(path)
    store.require(v1)
    await store.execute("INSERT INTO demo (x) VALUES (1)")
    await store.close()

    v2 = Schema("demo", (*v1.migrations, "ALTER TABLE demo ADD COLUMN y TEXT DEFAULT 'y';"))
    store = await Store.open(path, schemas=[v2])
    row = await store.fetchone("SELECT x, y FROM demo")
    assert tuple(row) == (1, "y")
    await store.close()

    with pytest.raises(StoreError, match="demo schema v2, newer than this build"):
        await Store.open(path, schemas=[v1])


async def test_a_released_v1_file_upgrades_with_its_data(tmp_path: Path) -> None:
    """A store written by the build where every table was declared in agent_core: the owners
    adopt their tables, the render watermark and the notification cursor become cursors."""
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA)
    con.executemany(
        "INSERT INTO events (session_id, seq, type, data, ts) VALUES (?,?,?,?,?)",
        [("s1", 1, "x", "{}", 100.0), ("s1", 2, "x", "{}", 200.0), ("s2", 1, "x", "{}", 300.0)],
    )
    con.execute(
        "INSERT INTO slack_threads VALUES ('s1', 'T', 'C', '1.0', 1, '{\"cards\": {}}', 1.0)"
    )
    con.execute("INSERT INTO slack_ledger VALUES ('s1', 1, 'answer:0', 'C', '1.1', 'posted', 1.0)")
    con.execute(
        "INSERT INTO jobs (job_id, session_id, namespace, submitted_at, updated_at)"
        " VALUES ('j1', 's1', 'alice', 1.0, 1.0)"
    )
    con.executemany(
        "INSERT INTO kv VALUES ('gateways', ?, ?, 1.0)",
        [("notifying_since", "50.0"), ("event_cursor", "270.0")],
    )
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()

    store = await Store.open(path)
    try:
        threads = ThreadStore(store)
        rec = await threads.get("s1")
        assert rec is not None and rec.rendered_seq == 1 and rec.ref == ThreadRef("T", "C", "1.0")
        assert await threads.behind() == ["s1"]
        entry = await Ledger(store).get("s1", 1, "answer:0")
        assert entry is not None and entry.ts == "1.1"
        job = await JobStore(store).get("j1")
        assert job is not None and job.namespace == "alice"
        Outbox(store)
        await store.fetchone("SELECT 1 FROM outbox")
        # old cursor 270 s minus the 60 s margin: s1's events up to ts 200 are done, s2 is not
        assert (await store.cursor("gateways", "s1")).seq == 2  # type: ignore[union-attr]
        assert await store.cursor("gateways", "s2") is None
        assert await store.register_consumer("gateways") is False
        assert await store.kv_get("gateways", "event_cursor") is None
        render = await store.cursor(RENDER_CONSUMER, "s1")
        assert render is not None and render.state == {"cards": {}}
    finally:
        await store.close()


async def test_layer_tables_exist_whoever_opened_the_store(store: Store) -> None:
    """Constructing a layer's table class is enough: no startup step to forget."""
    outbox = Outbox(store)
    rows = await outbox.enqueue([OutboxItem("k", "d", "error", "s", {"a": 1}, 0.0)])
    assert rows["k"].status == "pending"
    jobs = JobStore(store)
    await jobs.insert(JobRecord(job_id="j", session_id="s", namespace="n"))
    assert (await jobs.get("j")) is not None
    assert not await jobs.finished_event_exists("s", "j")
    await store.append_event("s", "job_finished", {"job_id": "j"})
    assert await jobs.finished_event_exists("s", "j")


async def test_a_queued_op_can_be_amended_or_withdrawn_only_before_it_starts(store: Store) -> None:
    first = await store.enqueue_op("s", "user_input", {"text": "a"})
    second = await store.enqueue_op("s", "user_input", {"text": "b"})
    await store.set_op_status(first, "running")
    assert not await store.update_queued_op(first, {"text": "edited"})
    assert not await store.drop_queued_op(first)
    assert await store.update_queued_op(second, {"text": "b2"})
    assert await store.queued_ops("s") == [(second, "user_input", {"text": "b2"})]
    assert await store.count_queued_ops("s") == 1 and await store.has_queued_op("s", "user_input")
    assert await store.drop_queued_op(second)
    assert await store.queued_ops("s") == [] and not await store.has_queued_op("s", "user_input")


async def test_two_processes_opening_a_new_file_at_once_both_get_a_migrated_store(
    tmp_path: Path,
) -> None:
    """A restart overlapping the old process (or two replicas) must not fail with "table
    already exists": the slower opener finds the migration done."""
    import asyncio

    path = tmp_path / "race.db"
    stores = await asyncio.gather(*(Store.open(path) for _ in range(4)))
    try:
        for s in stores:
            assert await s.last_seq("s") == 0
            Outbox(s)
            await s.fetchone("SELECT COUNT(*) FROM outbox")
    finally:
        for s in stores:
            await s.close()
