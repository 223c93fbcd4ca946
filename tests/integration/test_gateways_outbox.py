"""Outbox queries: idempotent enqueue, fair selection across destinations, recovery, pruning
(on both backends: SQLite and a real Postgres)."""

from __future__ import annotations

import time

from agent_core.store import Store
from gateways.outbox import Outbox, OutboxItem


def _item(key: str, dest: str, due: float = 0.0) -> OutboxItem:
    return OutboxItem(key, dest, "error", "s1", {"n": key}, due)


async def test_enqueue_is_idempotent_and_selection_is_fair(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        box = Outbox(store)
        await box.enqueue([_item(f"a{i}", "a") for i in range(300)])
        await box.enqueue([_item("b0", "b"), _item("a0", "a")])  # a0 already there
        assert (await store.fetchone("SELECT COUNT(*) FROM outbox"))[0] == 301
        now = time.time()
        # a 300-row backlog at one destination never hides another destination's row
        heads = await box.due_heads(now, exclude=set())
        assert [(r.destination, r.key) for r in heads] == [("a", "a0"), ("b", "b0")]
        assert [r.key for r in await box.due_heads(now, exclude={"a"})] == ["b0"]
        # a row backing off does not hold up newer due rows of the same destination
        await box.mark_retry(heads[0].id, "HTTP 503", now + 60)
        assert [r.key for r in await box.due_heads(now, exclude={"b"})] == ["a1"]
    finally:
        await store.close()


async def test_interrupted_rows_are_recovered_and_old_sent_rows_pruned(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        box = Outbox(store)
        rows = await box.enqueue([_item("x", "a"), _item("y", "b")])
        assert await box.claim(rows["x"].id) and not await box.claim(rows["x"].id)
        assert await box.recover_interrupted() == 1
        x = await box.get(rows["x"].id)
        assert x is not None and (x.status, x.attempts) == ("pending", 1)
        await box.mark_sent(rows["y"].id, "123.456")
        assert await box.prune_sent(time.time() - 60) == 0
        assert await box.prune_sent(time.time() + 1) == 1
    finally:
        await store.close()
