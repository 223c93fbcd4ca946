"""How the store runs statements: no lock held across a round trip, atomic blocks kept whole,
several writes in one transaction, and the counters the benchmarks read (both backends)."""

from __future__ import annotations

import asyncio

import pytest

from agent_core.store import Store


async def _open(store_url: str) -> Store:
    store = await Store.open(store_url)
    await store.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)")
    return store


async def test_a_statement_issued_during_an_atomic_block_is_not_rolled_back_with_it(
    store_url: str,
) -> None:
    """Another coroutine's write must neither land inside an open block (and vanish with its
    rollback) nor run before the block's own statements; it runs once the block closed."""
    store = await _open(store_url)
    try:
        outsider: asyncio.Task[int] | None = None
        with pytest.raises(RuntimeError):
            async with store.atomic() as tx:
                await tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("block", 1))
                outsider = asyncio.create_task(
                    store.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("outsider", 2))
                )
                await asyncio.sleep(0)  # let the outsider try to run now
                assert not outsider.done()
                raise RuntimeError("roll the block back")
        assert outsider is not None
        await outsider
        rows = await store.fetchall("SELECT k FROM t ORDER BY k")
        assert [r[0] for r in rows] == ["outsider"]
    finally:
        await store.close()


async def test_concurrent_single_statements_all_land_without_a_lock(store_url: str) -> None:
    store = await _open(store_url)
    try:
        await asyncio.gather(
            *(store.execute("INSERT INTO t (k, v) VALUES (?, ?)", (f"k{i}", i)) for i in range(200))
        )
        row = await store.fetchone("SELECT COUNT(*), SUM(v) FROM t")
        assert (int(row[0]), int(row[1])) == (200, sum(range(200)))
    finally:
        await store.close()


async def test_a_transaction_applies_all_or_nothing_in_one_commit(store_url: str) -> None:
    store = await _open(store_url)
    try:
        before = store.stats.snapshot()
        await store.transaction(
            [("INSERT INTO t (k, v) VALUES (?, ?)", (f"k{i}", i)) for i in range(5)]
        )
        spent = store.stats.since(before)
        assert (spent["statements"], spent["writes"], spent["commits"]) == (5, 5, 1)
        if store_url.startswith("postgresql"):
            assert spent["round_trips"] <= 7
        else:
            assert spent["round_trips"] == 1  # BEGIN … COMMIT as one call on the worker thread
        with pytest.raises(store.backend.conflict_errors):
            await store.transaction(
                [
                    ("INSERT INTO t (k, v) VALUES (?, ?)", ("new", 1)),
                    ("INSERT INTO t (k, v) VALUES (?, ?)", ("k0", 0)),  # duplicate key
                ]
            )
        assert await store.fetchone("SELECT 1 FROM t WHERE k='new'") is None
    finally:
        await store.close()


async def test_the_counters_tell_reads_from_writes(store_url: str) -> None:
    store = await _open(store_url)
    try:
        before = store.stats.snapshot()
        await store.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 1))
        await store.fetchone("SELECT v FROM t WHERE k=?", ("a",))
        await store.fetchall("SELECT v FROM t")
        assert store.stats.since(before) == {
            "statements": 3,
            "writes": 1,
            "commits": 1,
            "round_trips": 3,
        }
    finally:
        await store.close()


async def test_waiting_atomic_blocks_go_ahead_of_later_single_statements(tmp_path) -> None:
    """Short atomic blocks (dedupe keys, approval claims: what an ack or a click waits for)
    run back to back; single statements issued meanwhile wait (SQLite, one connection)."""
    store = await _open(str(tmp_path / "s.db"))
    try:
        opened, release = asyncio.Event(), asyncio.Event()

        async def block(key: str, hold: bool = False) -> None:
            async with store.atomic() as tx:
                await tx.execute("INSERT INTO t (k, v) VALUES (?, 0)", (key,))
                if hold:
                    opened.set()
                    await release.wait()

        first = asyncio.create_task(block("block-1", hold=True))
        await asyncio.wait_for(opened.wait(), 5)
        single = asyncio.create_task(store.execute("INSERT INTO t (k, v) VALUES ('single', 0)"))
        second = asyncio.create_task(block("block-2"))
        await asyncio.sleep(0)  # both start: the single statement and the second block wait
        release.set()
        await asyncio.gather(first, single, second)
        order = [r[0] for r in await store.fetchall("SELECT k FROM t ORDER BY rowid")]
        assert order == ["block-1", "block-2", "single"]
    finally:
        await store.close()
