"""Per-session leases and wake-ups between replicas, on both backends (``store_url``).

Expiry is tested with explicit clock values (``now=``), never by sleeping.
"""

from __future__ import annotations

import asyncio

import pytest

from agent_core.store import SessionLeases, Store

TTL = 30.0
T0 = 1_000_000.0


async def test_a_live_lease_keeps_other_replicas_out_until_it_expires(
    replicas: tuple[Store, Store],
) -> None:
    a, b = SessionLeases(replicas[0]), SessionLeases(replicas[1])
    lease = await a.acquire("s", "replica-a", TTL, now=T0)
    assert lease is not None and (lease.owner, lease.generation) == ("replica-a", 1)
    assert await b.acquire("s", "replica-b", TTL, now=T0 + TTL - 1) is None
    holder = await b.holder("s", now=T0 + 1)
    assert holder is not None and holder.owner == "replica-a"
    # replica-a died: after the expiry replica-b takes over, with a new fencing generation
    assert await b.expired(now=T0 + TTL) == ["s"]
    taken = await b.acquire("s", "replica-b", TTL, now=T0 + TTL)
    assert taken is not None and (taken.owner, taken.generation) == ("replica-b", 2)
    # the old holder wakes up late: it can neither renew nor pass the fencing check
    assert await a.renew(lease, TTL, now=T0 + TTL + 1) is None
    assert not await a.holds(lease, now=T0 + TTL + 1)
    assert await b.holds(taken, now=T0 + TTL + 1)
    assert not await a.release(lease)
    assert (await a.holder("s", now=T0 + TTL + 1)) == taken


async def test_renewal_extends_the_lease_and_reacquiring_ones_own_keeps_the_generation(
    replicas: tuple[Store, Store],
) -> None:
    a, b = SessionLeases(replicas[0]), SessionLeases(replicas[1])
    lease = await a.acquire("s", "replica-a", TTL, now=T0)
    assert lease is not None
    renewed = await a.renew(lease, TTL, now=T0 + 20)
    assert renewed is not None and renewed.expires_at == T0 + 20 + TTL
    assert await b.acquire("s", "replica-b", TTL, now=T0 + TTL + 5) is None  # renewed: still live
    again = await a.acquire("s", "replica-a", TTL, now=T0 + 40)
    assert again is not None and again.generation == lease.generation
    # an expired lease cannot be renewed, even by its owner: it must be acquired again
    assert await a.renew(again, TTL, now=T0 + 40 + TTL) is None


async def test_a_released_lease_is_free_at_once(replicas: tuple[Store, Store]) -> None:
    a, b = SessionLeases(replicas[0]), SessionLeases(replicas[1])
    lease = await a.acquire("s", "replica-a", TTL)
    assert lease is not None and await a.release(lease)
    assert await a.holder("s") is None
    successor = await b.acquire("s", "replica-b", TTL)
    assert successor is not None and successor.generation == 2


async def test_replicas_racing_for_one_session_get_one_owner(replicas: tuple[Store, Store]) -> None:
    leases = [SessionLeases(s) for s in replicas]
    got = await asyncio.gather(
        *(leases[i % 2].acquire("s", f"replica-{i}", TTL, now=T0) for i in range(24))
    )
    winners = [g for g in got if g is not None]
    assert len(winners) == 1 and winners[0].generation == 1


async def test_a_lease_needs_a_positive_ttl(replicas: tuple[Store, Store]) -> None:
    with pytest.raises(ValueError, match="positive ttl_s"):
        await SessionLeases(replicas[0]).acquire("s", "r", 0)


async def test_a_wake_up_reaches_the_listening_replica(
    store_url: str, replicas: tuple[Store, Store]
) -> None:
    """On Postgres the other replica hears it (LISTEN/NOTIFY); SQLite is one process, so the
    notifying store's own listeners hear it."""
    sender = replicas[0]
    receiver = replicas[1] if store_url.startswith("postgresql://") else replicas[0]
    heard: asyncio.Queue[str] = asyncio.Queue()
    await receiver.listen("ops_queued", heard.put_nowait)
    await sender.notify("ops_queued", "session-1")
    assert await asyncio.wait_for(heard.get(), timeout=10) == "session-1"
    await receiver.unlisten("ops_queued", heard.put_nowait)
    await sender.notify("ops_queued", "session-2")
    await sender.notify("other_channel", "x")
    # a round trip through the store after the notify: anything still queued would be in by now
    await receiver.kv_get("ns", "k")
    assert heard.empty()


async def test_a_wake_up_channel_name_cannot_inject(replicas: tuple[Store, Store]) -> None:
    with pytest.raises(ValueError, match="not a wake-up channel name"):
        await replicas[0].notify("x; DROP TABLE sessions", "")
    with pytest.raises(ValueError, match="not a wake-up channel name"):
        await replicas[0].listen("Robert'); --", lambda _p: None)


async def test_work_for_a_session_owned_elsewhere_is_queued_durably_and_its_owner_woken(
    store_url: str, replicas: tuple[Store, Store]
) -> None:
    """The hand-off the replicas will use (not wired into the manager yet): the receiving
    replica sees the lease is not its own, enqueues the operation, then wakes the owner, who
    finds the work in the store (the wake-up carries only the session id)."""
    owner_store, receiver = replicas
    if not store_url.startswith("postgresql://"):
        owner_store = receiver  # SQLite: one process, so one store hears its own wake-ups
    lease = await SessionLeases(owner_store).acquire("s", "replica-a", TTL)
    assert lease is not None
    woken: asyncio.Queue[str] = asyncio.Queue()
    await owner_store.listen("session_ops", woken.put_nowait)

    holder = await SessionLeases(receiver).holder("s")
    assert holder is not None and holder.owner != "replica-b"
    op_id = await receiver.enqueue_op("s", "user_input", {"text": "hi"})
    await receiver.notify("session_ops", "s")

    session_id = await asyncio.wait_for(woken.get(), timeout=10)
    assert await owner_store.queued_ops(session_id) == [(op_id, "user_input", {"text": "hi"})]
    assert await SessionLeases(owner_store).holds(lease)
