"""Several SessionManagers ("replicas") on separate stores of one real Postgres database.

What issue 19 asks of per-session ownership, checked with the strict fake LLM: an operation
submitted on a replica that does not drive the session runs on the one that does, exactly
once; two replicas never run one session in parallel; a replica that dies mid-turn loses the
session when its lease expires and another one reports the cut-off operation as interrupted
(never re-running it) and runs the queued ones, once; a replica starting up never touches a
live replica's running turn; a Stop clicked on one replica stops the turn on the other.

Every wait is on a condition with a timeout; the leases are short (``lease_ttl_s``) so a
takeover happens within a second or two.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from agent_core.events import ToolApproval, UserInput
from agent_core.llm import get_litellm
from agent_core.manager import SessionManager
from agent_core.replicas import LeasedOwnership, LocalOwnership
from agent_core.store import SessionLeases, Store
from agent_core.tools import plan_tool
from agent_core.tools.base import ToolSpec
from agent_core.tools.router import ToolRouter
from tests.engine_harness import ORIGIN, Engine, EventRecorder, make_config, run_engine
from tests.fakes.fake_llm import FakeLLM, text
from tests.integration.test_engine_approvals import GPU_RUN, _request_approval, jobs_tool

# Takeover tests: a dead replica's sessions move within a few seconds. Long enough that a
# loaded CI box (event loop lag) never makes a live replica miss its own renewals.
SHORT_LEASE = {"lease_ttl_s": 3.0, "renew_every_s": 0.5}
# Tests where nobody dies: no lease may expire by accident.
LONG_LEASE = {"lease_ttl_s": 60.0, "renew_every_s": 5.0}


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def store_until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    """Wait until the async ``check()`` is true (a store condition)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


@asynccontextmanager
async def replica(
    url: str,
    base_url: str,
    name: str,
    lease: dict[str, float] = LONG_LEASE,
    tools: list[ToolSpec] | None = None,
    **overrides: Any,
) -> AsyncIterator[Engine]:
    """A started SessionManager named ``name`` on its own store of the database at ``url``."""
    import os

    os.environ["OPENAI_API_BASE"] = base_url
    os.environ["OPENAI_API_KEY"] = "sk-fake-test-key"
    await asyncio.to_thread(get_litellm)
    cfg = make_config(replicas={**lease, "replica_id": name}, **overrides)
    store = await Store.open(url)
    manager = SessionManager(
        store, cfg, router=ToolRouter([*plan_tool.tools(None), *(tools or [])])
    )  # type: ignore[arg-type]
    assert isinstance(manager.ownership, LeasedOwnership)  # Postgres: leases, not the free kind
    recorder = EventRecorder()
    manager.add_listener(recorder)
    await manager.start()
    try:
        yield Engine(manager, store, recorder, cfg, url)  # type: ignore[arg-type]
    finally:
        await manager.close(grace_s=2)
        await store.close()


async def crash(eng: Engine) -> None:
    """Die like a killed process: nothing more reaches the store, no lease is given back."""
    manager = eng.manager
    manager.workers.closing = True
    eng.store.backend.pool.terminate()  # type: ignore[attr-defined]
    tasks = list(manager.workers.tasks.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await manager.ownership.close()
    await manager.sweeper.close()
    await manager.pruner.close()


async def op_statuses(store: Store, session_id: str = "s") -> list[str]:
    rows = await store.fetchall(
        "SELECT status FROM ops WHERE session_id=? ORDER BY id", (session_id,)
    )
    return [r["status"] for r in rows]


async def stored(store: Store, type_: str, session_id: str = "s") -> list[Any]:
    return [e for e in await store.events_after(session_id) if e.type == type_]


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as fake:
        yield fake


async def test_an_op_submitted_on_b_runs_on_a_that_drives_the_session_once(
    postgres_url: str, llm: FakeLLM
) -> None:
    gate = asyncio.Event()
    llm.push(text("first answer", gate=gate), text("second answer"))
    async with (
        replica(postgres_url, llm.base_url, "A") as a,
        replica(postgres_url, llm.base_url, "B") as b,
    ):
        await a.manager.submit("s", UserInput(text="first"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        holder = await SessionLeases(a.store).holder("s")
        assert holder is not None and holder.owner == "A"

        await b.manager.submit("s", UserInput(text="second"))
        # B tried, found A driving the session, and left the op queued for A.
        await wait_until(lambda: not b.manager.workers.tasks)
        assert len(llm.requests) == 1
        assert await op_statuses(b.store) == ["running", "queued"]

        gate.set()
        done = await a.events.wait_for("turn_complete", "s", count=2)
        assert done.data["final_response"] == "second answer"
        assert b.events.of("s", "turn_complete") == []  # B ran nothing
        assert len(llm.requests) == 2
        await store_until(lambda: _all_statuses(a.store, ["done", "done"]))
        answers = [e.data["final_response"] for e in await stored(a.store, "turn_complete")]
        assert answers == ["first answer", "second answer"]


async def test_a_wake_up_reaches_the_holder_when_its_worker_is_not_running(
    postgres_url: str, llm: FakeLLM
) -> None:
    """The holder learns of the op only through the NOTIFY (its own worker is idle)."""
    llm.push(text("ran on A"))
    async with (
        replica(postgres_url, llm.base_url, "A") as a,
        replica(postgres_url, llm.base_url, "B") as b,
    ):
        await a.manager.ensure_session("s", ORIGIN)
        lease = await SessionLeases(a.store).acquire("s", "A", ttl_s=60)  # A holds, idle
        assert lease is not None
        await b.manager.submit("s", UserInput(text="hello"))
        done = await a.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "ran on A"
        assert b.events.of("s", "turn_complete") == []
        assert len(llm.requests) == 1


async def test_two_replicas_submitting_to_one_session_never_run_it_in_parallel(
    postgres_url: str, llm: FakeLLM
) -> None:
    gate = asyncio.Event()
    llm.push(text("answer 1", gate=gate), *(text(f"answer {i}") for i in range(2, 7)))
    async with (
        replica(postgres_url, llm.base_url, "A") as a,
        replica(postgres_url, llm.base_url, "B") as b,
    ):
        await a.manager.submit("s", UserInput(text="m1"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        await asyncio.gather(
            *((b if i % 2 else a).manager.submit("s", UserInput(text=f"m{i}")) for i in range(2, 7))
        )
        await wait_until(lambda: not b.manager.workers.tasks)
        assert len(llm.requests) == 1  # everything else waits behind the running turn
        gate.set()
        await store_until(lambda: _all_done(a.store, 6))
        asked = [r["messages"][-1]["content"] for r in llm.requests]
        assert len(asked) == 6 and asked[0] == "m1"
        finals = [e.data["final_response"] for e in await stored(a.store, "turn_complete")]
        assert finals == [f"answer {i}" for i in range(1, 7)]  # one turn after the other
        # Each request carried every earlier answer: no turn started before the last ended.
        for n, request in enumerate(llm.requests):
            seen = [m["content"] for m in request["messages"] if m["role"] == "assistant"]
            assert seen == [f"answer {i}" for i in range(1, n + 1)]


async def _all_done(store: Store, n: int) -> bool:
    statuses = await op_statuses(store)
    return len(statuses) == n and all(s == "done" for s in statuses)


async def test_a_dead_replica_s_turn_is_reported_interrupted_and_its_queue_runs_on_b_once(
    postgres_url: str, llm: FakeLLM
) -> None:
    never = asyncio.Event()
    llm.push(text("cut off", gate=never))
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(replica(postgres_url, llm.base_url, "A", SHORT_LEASE))
        b = await stack.enter_async_context(replica(postgres_url, llm.base_url, "B", SHORT_LEASE))
        await a.manager.submit("s", UserInput(text="spend money"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        await a.manager.submit("s", UserInput(text="then this"))
        await crash(a)
        assert await op_statuses(b.store) == ["running", "queued"]

        llm.push(text("ran the queued one"))
        done = await b.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "ran the queued one"
        restarts = [e for e in await stored(b.store, "error") if e.data.get("kind") == "restart"]
        assert len(restarts) == 1 and "spend money" not in restarts[0].data["error"]
        await store_until(lambda: _all_statuses(b.store, ["interrupted", "done"]))
        # The cut-off turn was never sent to the model again.
        assert [r["messages"][-1]["content"] for r in llm.requests] == [
            "spend money",
            "then this",
        ]
        holder = await SessionLeases(b.store).holder("s")
        assert holder is None or holder.owner == "B"


async def test_a_replica_starting_up_leaves_a_live_replica_s_turn_alone(
    postgres_url: str, llm: FakeLLM
) -> None:
    gate = asyncio.Event()
    llm.push(text("finished on B", gate=gate))
    async with replica(postgres_url, llm.base_url, "B") as b:
        await b.manager.submit("s", UserInput(text="long turn"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        async with replica(postgres_url, llm.base_url, "A-restarted") as a:
            await a.manager.workers.rescue()  # what its patrol does, once more
            assert await op_statuses(a.store) == ["running"]
            assert await stored(a.store, "error") == []
            gate.set()
            done = await b.events.wait_for("turn_complete", "s")
            assert done.data["final_response"] == "finished on B"
            assert a.events.of("s") == []
        await store_until(lambda: _all_statuses(b.store, ["done"]))
        assert len(llm.requests) == 1


async def test_stop_clicked_on_another_replica_stops_the_turn_where_it_runs(
    postgres_url: str, llm: FakeLLM
) -> None:
    never = asyncio.Event()
    llm.push(text("never shown", gate=never))
    async with (
        replica(postgres_url, llm.base_url, "A") as a,
        replica(postgres_url, llm.base_url, "B") as b,
    ):
        await a.manager.submit("s", UserInput(text="long turn"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        assert await b.manager.interrupt("s", by="U_STOP") == "interrupted"
        stopped = await a.events.wait_for("interrupted", "s")
        assert stopped.data["stopped_by"] == "U_STOP"
        await store_until(lambda: _all_done(a.store, 1))
        assert b.events.of("s") == []


async def test_a_replica_that_stalled_past_its_lease_stops_instead_of_acting_twice(
    postgres_url: str, llm: FakeLLM
) -> None:
    """A's renewals stop (a GC pause, a frozen VM) while its model call is out; B takes the
    session over. When A's call returns, the fence stops A before it streams, answers or
    writes history over B's."""
    gate = asyncio.Event()
    llm.push(text("stale answer", gate=gate))
    async with (
        replica(postgres_url, llm.base_url, "A", SHORT_LEASE) as a,
        replica(postgres_url, llm.base_url, "B", SHORT_LEASE) as b,
    ):
        await a.manager.submit("s", UserInput(text="first"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        await a.manager.submit("s", UserInput(text="second"))
        renewals = a.manager.ownership._renewals  # type: ignore[attr-defined]
        assert renewals is not None and not renewals.done()
        renewals.cancel()  # A stalls: no more renewals

        llm.push(text("B's answer"))
        done = await b.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "B's answer"
        gate.set()  # A's model call comes back, late
        await wait_until(lambda: not a.manager.workers.tasks)

        answers = [e.data["content"] for e in await stored(a.store, "assistant_message")]
        assert answers == ["B's answer"]
        history = [m.get("content") for m in await a.store.load_messages("s")]
        assert "stale answer" not in history and "B's answer" in history
        assert a.events.of("s", "assistant_chunk") == []
        await store_until(lambda: _all_statuses(a.store, ["interrupted", "done"]))


async def test_a_replica_shutting_down_hands_its_queued_ops_over_at_once(
    postgres_url: str, llm: FakeLLM
) -> None:
    """Long leases: B's patrol would take 30 s, so only A's hand-over can start B in time."""
    gate = asyncio.Event()
    llm.push(text("finished on A", gate=gate), text("ran on B"))
    async with replica(postgres_url, llm.base_url, "B") as b:
        async with replica(postgres_url, llm.base_url, "A") as a:
            await a.manager.submit("s", UserInput(text="first"), origin=ORIGIN)
            await llm.wait_for_requests(1)
            await a.manager.submit("s", UserInput(text="second"))
            closing = asyncio.create_task(a.manager.close(grace_s=10))
            await wait_until(lambda: a.manager.workers.closing)
            gate.set()  # A finishes the running turn, takes nothing new
            await closing
            assert a.events.of("s", "turn_complete")[0].data["final_response"] == "finished on A"
        done = await b.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "ran on B"
        await store_until(lambda: _all_done(b.store, 2))
        assert await stored(b.store, "error") == []


async def test_a_batch_decided_on_a_replica_that_died_before_queueing_it_runs_once_on_b(
    postgres_url: str, llm: FakeLLM
) -> None:
    ran: list = []
    async with AsyncExitStack() as stack:
        a, b = [
            await stack.enter_async_context(
                replica(postgres_url, llm.base_url, name, SHORT_LEASE, [jobs_tool(ran)])
            )
            for name in ("A", "B")
        ]
        request = await _request_approval(a, llm, ran)
        entry = request.data["tools"][0]
        approve = ToolApproval(
            tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"]
        )
        # A records the click, then dies before queueing the batch's execution.
        claimed = await a.manager.approvals.claim("s", [approve], "U_REQ", complete_batch=True)
        assert claimed.ok and claimed.batch_complete
        await crash(a)

        llm.push(text("Job submitted."))
        done = await b.events.wait_for("turn_complete", "s", timeout=20)
        assert done.data["final_response"] == "Job submitted."
        assert ran == [GPU_RUN]
        assert await b.manager.approvals.pending("s") == []


async def test_on_sqlite_a_turn_never_touches_the_leases(tmp_path: Any, llm: FakeLLM) -> None:
    """One process on SQLite: ownership is free — not one lease statement per turn."""
    llm.push(text("hello"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        assert isinstance(eng.manager.ownership, LocalOwnership)
        statements: list[str] = []
        backend = eng.store.backend
        for name in ("execute", "fetchone", "fetchall"):
            original = getattr(backend, name)

            async def recording(sql: str, params: Any = (), _original: Any = original) -> Any:
                statements.append(sql)
                return await _original(sql, params)

            setattr(backend, name, recording)
        await eng.manager.submit("s", UserInput(text="hi"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        assert any("ops" in sql for sql in statements)  # the recording saw the turn
        assert not any("session_leases" in sql or "pg_notify" in sql for sql in statements)


async def test_a_replica_restarted_under_the_same_id_takes_its_sessions_back_at_once(
    postgres_url: str, llm: FakeLLM
) -> None:
    """Long leases: only the same-id rule lets the new process resume before they expire."""
    never = asyncio.Event()
    llm.push(text("cut off", gate=never))
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(replica(postgres_url, llm.base_url, "bot-0"))
        await first.manager.submit("s", UserInput(text="spend money"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        await first.manager.submit("s", UserInput(text="then this"))
        await crash(first)

        llm.push(text("resumed"))
        again = await stack.enter_async_context(replica(postgres_url, llm.base_url, "bot-0"))
        done = await again.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "resumed"
        restarts = [
            e for e in await stored(again.store, "error") if e.data.get("kind") == "restart"
        ]
        assert len(restarts) == 1
        await store_until(lambda: _all_statuses(again.store, ["interrupted", "done"]))
        assert len(llm.requests) == 2


async def _all_statuses(store: Store, expected: list[str]) -> bool:
    return await op_statuses(store) == expected


async def test_status_on_another_replica_shows_the_session_as_it_is_now(
    postgres_url: str, llm: FakeLLM
) -> None:
    llm.push(text("one"), text("two"))
    async with (
        replica(postgres_url, llm.base_url, "A") as a,
        replica(postgres_url, llm.base_url, "B") as b,
    ):
        await a.manager.submit("s", UserInput(text="first"), origin=ORIGIN)
        await a.events.wait_for("turn_complete", "s")
        assert (await b.manager.session_info("s"))["turns"] == 1  # B caches its copy now
        await a.manager.submit("s", UserInput(text="second"))
        await a.events.wait_for("turn_complete", "s", count=2)
        await store_until(lambda: _all_statuses(a.store, ["done", "done"]))
        assert (await b.manager.session_info("s"))["turns"] == 2


async def test_the_per_person_limit_of_working_threads_holds_across_replicas(
    postgres_url: str, llm: FakeLLM
) -> None:
    gate = asyncio.Event()
    llm.push(text("slow", gate=gate))
    limit = {"max_active_sessions_per_user": 1}
    async with (
        replica(postgres_url, llm.base_url, "A", **limit) as a,
        replica(postgres_url, llm.base_url, "B", **limit) as b,
    ):
        assert not await b.manager.at_session_limit("U_REQ")
        await a.manager.submit("s", UserInput(text="long"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        assert await b.manager.at_session_limit("U_REQ")  # working on A, counted on B
        assert not await b.manager.at_session_limit("U_OTHER")
        gate.set()
        await store_until(lambda: _all_statuses(a.store, ["done"]))
        assert not await b.manager.at_session_limit("U_REQ")


async def test_an_op_whose_turn_had_ended_is_not_reported_cut_off(store_url: str) -> None:
    """The process died after the answer was logged but before the op was marked done: that
    turn is finished, not cut off — while one stopped mid-way is still reported (both
    backends; the same rule serves a restart on SQLite and a takeover on Postgres)."""
    store = await Store.open(store_url)
    try:
        for sid in ("answered", "cut"):
            await store.create_session(sid, ORIGIN, "openai/fake", {})
            op_id = await store.enqueue_op(sid, "user_input", {"kind": "user_input"})
            await store.set_op_status(op_id, "running")
        await store.append_event("answered", "processing", {})
        await store.append_event("answered", "turn_complete", {"final_response": "hi"})
        await store.append_event("cut", "processing", {})
        await store.append_event("cut", "tool_call", {"tool": "hf_jobs"})
        cut_off = await store.mark_running_ops("interrupted")
        assert [(sid, kind) for _id, sid, kind in cut_off] == [("cut", "user_input")]
        assert await op_statuses(store, "answered") == ["done"]
        assert await op_statuses(store, "cut") == ["interrupted"]
    finally:
        await store.close()


async def test_one_statement_renews_a_replica_s_leases_but_not_one_taken_over(
    store_url: str,
) -> None:
    store = await Store.open(store_url)
    try:
        leases = SessionLeases(store)
        now = 1000.0
        held = [await leases.acquire(k, "A", 10, now=now) for k in ("s1", "s2", "s3")]
        assert all(lease is not None for lease in held)
        taken = await leases.acquire("s3", "B", 10, now=now + 11)  # A's expired: B takes it
        assert taken is not None and taken.generation == 2
        renewed = await leases.renew_many(held, 10, now=now + 11.5)  # type: ignore[arg-type]
        assert sorted(lease.session_id for lease in renewed) == []  # all expired at 1010
        fresh = [await leases.acquire(k, "A", 10, now=now + 12) for k in ("s1", "s2")]
        renewed = await leases.renew_many([*fresh, *held[2:]], 10, now=now + 15)  # type: ignore[list-item]
        assert sorted((lease.session_id, lease.expires_at) for lease in renewed) == [
            ("s1", 1025.0),
            ("s2", 1025.0),
        ]
        holder = await leases.holder("s3", now=now + 15)
        assert holder is not None and holder.owner == "B"
    finally:
        await store.close()
