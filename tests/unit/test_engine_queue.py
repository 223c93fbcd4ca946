"""The manager's queue and the approval sweeper on a real SQLite file, without a worker or LLM.

Operations are put in the queue the way ``submit`` stores them, so nothing runs: these tests
pin down what may change while an operation waits (an edited or deleted Slack message), which
batches the sweeper queues after a crash or an expiry, and that the session sees the
deployment's ``system_prompt_file``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_core.approval_sweeper import ApprovalSweeper
from agent_core.approvals import DECIDED_BY_STOP, ApprovalBook
from agent_core.events import ExecApproval, Operation, ToolApproval, UserInput, operation_from_dict
from agent_core.manager import ManagerClosed, SessionManager, SessionNotFound
from agent_core.store import Store
from agent_core.tools.router import ToolRouter
from tests.engine_harness import ORIGIN, make_config


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "engine.db")
    await opened.create_session("s", ORIGIN, "openai/fake", {"turn_count": 0})
    yield opened
    await opened.close()


async def _queue(store: Store, op: Operation) -> int:
    """What ``SessionManager.submit`` stores, without waking a worker."""
    return await store.enqueue_op("s", op.kind, op.model_dump())


def _by_ts(ts: str):
    return lambda data: data.get("meta", {}).get("slack_ts") == ts


# ---------------------------------------------------------------------------------- queue


async def test_an_edit_replaces_the_waiting_message_and_nothing_else(store: Store) -> None:
    manager = SessionManager(store, make_config(), router=ToolRouter([]))
    await _queue(store, UserInput(text="first", meta={"slack_ts": "1.1"}))
    await _queue(store, UserInput(text="typo", meta={"slack_ts": "1.2"}))
    edited = UserInput(text="fixed", meta={"slack_ts": "1.2"})
    assert await manager.amend_queued("s", _by_ts("1.2"), edited) is True
    texts = [operation_from_dict(d).text for _, _, d in await store.queued_ops("s")]  # type: ignore[union-attr]
    assert texts == ["first", "fixed"]
    assert await manager.amend_queued("s", _by_ts("9.9"), edited) is False


async def test_an_edit_cannot_turn_a_message_into_another_operation(store: Store) -> None:
    manager = SessionManager(store, make_config(), router=ToolRouter([]))
    await _queue(store, UserInput(text="hi", meta={"slack_ts": "1.1"}))
    approval = ExecApproval(approvals=[ToolApproval(tool_call_id="c", approved=True)])
    with pytest.raises(ValueError, match="user_input"):
        await manager.amend_queued("s", _by_ts("1.1"), approval)
    assert [k for _, k, _ in await store.queued_ops("s")] == ["user_input"]


async def test_an_edit_with_a_secret_is_stored_scrubbed(store: Store) -> None:
    manager = SessionManager(store, make_config(), router=ToolRouter([]))
    await _queue(store, UserInput(text="hi", meta={"slack_ts": "1.1"}))
    secret = "hf_" + "a" * 34
    await manager.amend_queued("s", _by_ts("1.1"), UserInput(text=f"token {secret}"))
    [(_, _, data)] = await store.queued_ops("s")
    assert secret not in str(data)


async def test_a_deleted_message_leaves_the_queue_once(store: Store) -> None:
    manager = SessionManager(store, make_config(), router=ToolRouter([]))
    await _queue(store, UserInput(text="keep", meta={"slack_ts": "1.1"}))
    await _queue(store, UserInput(text="drop", meta={"slack_ts": "1.2"}))
    assert await manager.withdraw_queued("s", _by_ts("1.2")) is True
    assert await manager.withdraw_queued("s", _by_ts("1.2")) is False
    assert await manager.queued_count("s") == 1


async def test_a_started_operation_can_no_longer_be_edited_or_withdrawn(store: Store) -> None:
    manager = SessionManager(store, make_config(), router=ToolRouter([]))
    op_id = await _queue(store, UserInput(text="running", meta={"slack_ts": "1.1"}))
    await store.set_op_status(op_id, "running")
    assert await manager.amend_queued("s", _by_ts("1.1"), UserInput(text="x")) is False
    assert await manager.withdraw_queued("s", _by_ts("1.1")) is False


async def test_the_session_renders_the_deployments_prompt_file(
    store: Store, tmp_path: Path
) -> None:
    template = tmp_path / "prompt.md"
    template.write_text("Team prompt for {tool_names}.", encoding="utf-8")
    config = make_config(system_prompt_file=str(template))
    manager = SessionManager(store, config, router=ToolRouter([]))
    session = await manager.get_session("s")
    assert session.system_prompt() == "Team prompt for .\n"


# ---------------------------------------------------------------------------------- sweeper


class Submitted:
    """A ``submit`` that records what the sweeper queued."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, ExecApproval]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, session_id: str, op: Any) -> int:
        self.ops.append((session_id, op))
        self.arrived.set()
        return len(self.ops)


async def _open_batch(store: Store, book: ApprovalBook, ttl_s: float | None = None) -> None:
    call = {
        "tool_call_id": "c1",
        "tool": "hf_jobs",
        "arguments": {"operation": "run"},
        "args_hash": "h1",
        "approval_class": "gpu_job",
    }
    await book.create_batch("s", "b1", [call], "U_REQ", ttl_s)
    await store.update_session("s", state={"pending_batch": "b1"})


async def test_a_batch_withdrawn_just_before_a_crash_is_closed_without_resuming(
    store: Store,
) -> None:
    book = ApprovalBook(store)
    await _open_batch(store, book)
    no = [ToolApproval(tool_call_id="c1", approved=False)]
    assert (await book.claim("s", no, DECIDED_BY_STOP, complete_batch=True)).ok
    submitted = Submitted()
    await ApprovalSweeper(book, store, submitted).recover()
    [(session_id, op)] = submitted.ops
    assert session_id == "s" and op.batch_id == "b1"
    assert op.decided_by == DECIDED_BY_STOP and op.resume is False


async def test_recovery_skips_undecided_batches_and_batches_already_queued(store: Store) -> None:
    book = ApprovalBook(store)
    await _open_batch(store, book)
    submitted = Submitted()
    sweeper = ApprovalSweeper(book, store, submitted)
    await sweeper.recover()
    assert submitted.ops == []  # still pending: people can still click
    yes = [ToolApproval(tool_call_id="c1", approved=True)]
    assert (await book.claim("s", yes, "U_APPROVER", complete_batch=True)).ok
    await _queue(store, ExecApproval(approvals=yes, decided_by="U_APPROVER", batch_id="b1"))
    await sweeper.recover()
    assert submitted.ops == []  # its execution is already waiting in the queue


async def test_an_expired_batch_is_closed_by_the_system(store: Store) -> None:
    book = ApprovalBook(store)
    await _open_batch(store, book, ttl_s=0.01)
    submitted = Submitted()
    sweeper = ApprovalSweeper(book, store, submitted)
    sweeper.start()
    try:
        await asyncio.wait_for(submitted.arrived.wait(), 5)
    finally:
        await sweeper.close()
    [(_, op)] = submitted.ops
    assert op.decided_by == "system" and op.resume is False and op.batch_id == "b1"
    assert [c.status for c in await book.batch("s", "b1")] == ["expired"]


# ---------------------------------------------------------------------------------- refusals


async def test_an_unknown_session_needs_an_origin(store: Store) -> None:
    manager = SessionManager(store, make_config(), router=ToolRouter([]))
    with pytest.raises(SessionNotFound):
        await manager.submit("nobody", UserInput(text="hi"))
    assert await store.get_session("nobody") is None
    assert await manager.queued_count("nobody") == 0


async def test_a_closed_engine_takes_no_new_work(store: Store) -> None:
    manager = SessionManager(store, make_config(), router=ToolRouter([]))
    await manager.close(grace_s=0.1)
    with pytest.raises(ManagerClosed):
        await manager.submit("s", UserInput(text="too late"))
    assert await manager.queued_count("s") == 0
