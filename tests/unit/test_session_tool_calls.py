"""One reply's tool calls through the session's seams, on a real store, without an LLM.

``run_tool_calls`` → ``open_batch`` → ``execute_approvals`` is what the loop does between two
LLM calls. Driving it directly pins the guarantees the loop relies on: the reply is recorded
before anything runs, every result is in the store before it is announced, a call that needs a
person is neither run nor announced as a plain call, and a malformed call is answered, not run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_core.events import Event, ExecApproval, ToolApproval
from agent_core.llm import LLMResult
from agent_core.manager import SessionManager
from agent_core.policy import ApprovalRequirement
from agent_core.session import Session
from agent_core.session.approval_batch import execute_approvals, open_batch
from agent_core.session.tool_calls import run_tool_calls
from agent_core.store import Store
from agent_core.tools.router import ToolRouter
from tests.engine_harness import ORIGIN, make_config, tool


class Recorder:
    """Events as delivered, with what the store held for the call when its output was announced."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.events: list[Event] = []
        self.stored_when_announced: dict[str, bool] = {}

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.type == "tool_output":
            history = await self.store.load_messages(event.session_id)
            call_id = event.data["tool_call_id"]
            self.stored_when_announced[call_id] = any(
                m.get("role") == "tool" and m.get("tool_call_id") == call_id for m in history
            )

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.type == type_]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[Session, Recorder, list[dict[str, Any]]]]:
    ran: list[dict[str, Any]] = []

    def echo(args: dict[str, Any], ctx: Any) -> tuple[str, bool]:
        ran.append({"echo": args})
        return f"echo {args}", True

    def deploy(args: dict[str, Any], ctx: Any) -> tuple[str, bool]:
        ran.append({"deploy": args})
        return "deployed", True

    needs_person = tool(
        "deploy",
        deploy,
        read_only=False,
        approval=lambda args, config: ApprovalRequirement(True, "repo_write", "deploy it"),
    )
    store = await Store.open(tmp_path / "engine.db")
    manager = SessionManager(
        store, make_config(), router=ToolRouter([tool("echo", echo), needs_person])
    )
    recorder = Recorder(store)
    manager.add_listener(recorder)
    await manager.ensure_session("s", ORIGIN)
    session = await manager.get_session("s")
    yield session, recorder, ran
    await store.close()


def _reply() -> LLMResult:
    return LLMResult(
        content="Let me do three things.",
        tool_calls=[
            {"id": "c1", "name": "echo", "arguments": '{"x": 1}'},
            {"id": "c2", "name": "deploy", "arguments": '{"to": "prod"}'},
            {"id": "c3", "name": "echo", "arguments": '{"x": '},
        ],
        finish_reason="tool_calls",
    )


async def test_what_may_run_runs_and_what_needs_a_person_waits(engine) -> None:
    session, recorder, ran = engine
    gated = await run_tool_calls(session, _reply())
    assert [c.id for c in gated] == ["c2"] and gated[0].requirement is not None
    assert ran == [{"echo": {"x": 1}}]  # not the gated call, not the malformed one
    reply, *results = session.history
    assert reply["content"] == "Let me do three things."
    assert [tc["function"]["arguments"] for tc in reply["tool_calls"]] == [
        '{"x": 1}',
        '{"to": "prod"}',
        "{}",
    ]
    assert [(m["tool_call_id"], m["role"]) for m in results] == [("c1", "tool"), ("c3", "tool")]
    assert "malformed JSON" in results[1]["content"]
    assert [d["tool_call_id"] for d in recorder.of("tool_call")] == ["c1", "c3"]
    outputs = {d["tool_call_id"]: d["success"] for d in recorder.of("tool_output")}
    assert outputs == {"c1": True, "c3": False}
    assert recorder.stored_when_announced == {"c1": True, "c3": True}


async def test_a_decided_batch_runs_the_approved_call_and_asks_to_continue(engine) -> None:
    session, recorder, ran = engine
    gated = await run_tool_calls(session, _reply())
    await open_batch(session, gated)
    [asked] = recorder.of("approval_required")
    entry = asked["tools"][0]
    assert asked["requester"] == ORIGIN["requester"] and entry["tool_call_id"] == "c2"
    assert session.state["pending_batch"] == asked["batch_id"]
    decision = ToolApproval(tool_call_id="c2", approved=True, args_hash=entry["args_hash"])
    op = ExecApproval(approvals=[decision], decided_by="U_BOSS", batch_id=asked["batch_id"])
    assert await execute_approvals(session, op) is True  # the turn continues
    assert ran[-1] == {"deploy": {"to": "prod"}}
    assert session.state["pending_batch"] is None
    assert session.history[-1] == {
        "role": "tool",
        "tool_call_id": "c2",
        "name": "deploy",
        "content": "deployed",
    }
    assert recorder.stored_when_announced["c2"] is True
    [resolved] = recorder.of("approval_resolved")
    assert resolved["decisions"][0]["decided_by"] == "U_BOSS"
    assert await execute_approvals(session, op) is False  # a replay runs nothing twice
    assert sum(1 for r in ran if "deploy" in r) == 1


async def test_a_stop_that_withdraws_the_batch_says_who_stopped(engine) -> None:
    session, recorder, ran = engine
    await open_batch(session, await run_tool_calls(session, _reply()))
    [asked] = recorder.of("approval_required")
    await session.approvals.claim(
        session.id, [], "stop", complete_batch=True, batch_id=asked["batch_id"]
    )
    op = ExecApproval(
        approvals=[], decided_by="stop", batch_id=asked["batch_id"], resume=False, stopped_by="U7"
    )
    assert await execute_approvals(session, op) is False
    assert recorder.of("interrupted") == [{"stopped_by": "U7"}]
    assert not any("deploy" in r for r in ran)
    assert "rejected" in session.history[-1]["content"]
