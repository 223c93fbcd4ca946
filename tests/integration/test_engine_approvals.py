"""Approvals: request, approve, reject with feedback, abandon, restart, stale and altered answers,
YOLO with a budget, expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent_core.events import ExecApproval, SetYolo, ToolApproval, UserInput
from agent_core.policy import args_hash
from tests.engine_harness import ORIGIN, make_config, run_engine, tool
from tests.fakes.fake_llm import FakeLLM, call, text, tool_calls

GPU_RUN = {
    "operation": "run",
    "script": "print('train')",
    "hardware_flavor": "a10g-large",
    "timeout": "2h",
}


def jobs_tool(log: list):
    def handler(args, ctx):
        log.append(args)
        return f"submitted job on {args.get('hardware_flavor')} script={args.get('script')!r}", True

    return tool("hf_jobs", handler, read_only=False)


@pytest.fixture
async def llm():
    async with FakeLLM() as fake:
        yield fake


async def _request_approval(eng, llm, ran, args=GPU_RUN):
    llm.push(tool_calls(call("hf_jobs", args)))
    await eng.manager.submit("s", UserInput(text="train it", user="U_REQ"), origin=ORIGIN)
    return await eng.events.wait_for("approval_required", "s")


async def test_gpu_job_waits_then_runs_when_approved(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        req = await _request_approval(eng, llm, ran)
        entry = req.data["tools"][0]
        assert entry["approval_class"] == "gpu_job"
        assert entry["estimated_cost_usd"] == pytest.approx(4.0)  # $2/h × 2 h
        assert req.data["requester"] == "U_REQ" and req.data["count"] == 1
        assert ran == [] and not eng.events.of("s", "turn_complete")
        llm.push(text("Job submitted."))
        res = await eng.manager.resolve_approvals(
            "s",
            [
                ToolApproval(
                    tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"]
                )
            ],
            decided_by="U_REQ",
        )
        assert res.ok and res.batch_complete
        done = await eng.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "Job submitted."
        assert ran == [GPU_RUN]
        states = [e.data["state"] for e in eng.events.of("s", "tool_state_change")]
        assert states == ["approved"]
        resolved = eng.events.of("s", "approval_resolved")[0].data
        assert resolved["decisions"][0]["decided_by"] == "U_REQ"


async def test_reject_with_feedback_reaches_the_model(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        req = await _request_approval(eng, llm, ran)
        tcid = req.data["tools"][0]["tool_call_id"]
        llm.push(text("OK, I'll use a T4 instead."))
        res = await eng.manager.resolve_approvals(
            "s",
            [ToolApproval(tool_call_id=tcid, approved=False, feedback="too pricey\x07, use t4")],
            decided_by="U2",
        )
        assert res.ok
        await eng.events.wait_for("turn_complete", "s")
        assert ran == []
        tool_msg = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"][0]
        assert "rejected" in tool_msg["content"] and "too pricey, use t4" in tool_msg["content"]


async def test_edited_script_is_what_runs(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        req = await _request_approval(eng, llm, ran)
        tcid = req.data["tools"][0]["tool_call_id"]
        llm.push(text("done"))
        await eng.manager.resolve_approvals(
            "s",
            [ToolApproval(tool_call_id=tcid, approved=True, edited_script="print('edited')")],
            decided_by="U_REQ",
        )
        await eng.events.wait_for("turn_complete", "s")
        assert ran[0]["script"] == "print('edited')"
        tool_msg = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"][0]
        assert "edited the script" in tool_msg["content"]


async def test_new_message_abandons_pending_calls(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        req = await _request_approval(eng, llm, ran)
        tcid = req.data["tools"][0]["tool_call_id"]
        llm.push(text("Never mind then."))
        await eng.manager.submit("s", UserInput(text="actually, don't"))
        await eng.events.wait_for("turn_complete", "s")
        assert ran == []
        assert eng.events.of("s", "tool_state_change")[0].data["state"] == "abandoned"
        msgs = llm.requests[-1]["messages"]
        assert [m["role"] for m in msgs[1:]] == ["user", "assistant", "tool", "user"]
        assert "abandoned" in msgs[3]["content"]
        late = await eng.manager.resolve_approvals(
            "s", [ToolApproval(tool_call_id=tcid, approved=True)], decided_by="U_REQ"
        )
        assert not late.ok and "abandoned" in late.error


async def test_approval_survives_a_restart(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    db = tmp_path / "db"
    async with run_engine(db, llm.base_url, tools=[jobs_tool(ran)]) as eng:
        req = await _request_approval(eng, llm, ran)
    entry = req.data["tools"][0]
    llm.push(text("Resumed and submitted."))
    async with run_engine(db, llm.base_url, tools=[jobs_tool(ran)]) as eng2:
        pending = await eng2.manager.approvals.pending("s")
        assert [p.tool_call_id for p in pending] == [entry["tool_call_id"]]
        res = await eng2.manager.resolve_approvals(
            "s",
            [
                ToolApproval(
                    tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"]
                )
            ],
            decided_by="U_REQ",
        )
        assert res.ok
        done = await eng2.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "Resumed and submitted."
        assert ran == [GPU_RUN]


async def test_stale_altered_and_double_answers_are_refused(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        req = await _request_approval(eng, llm, ran)
        tcid = req.data["tools"][0]["tool_call_id"]
        altered = args_hash("hf_jobs", {**GPU_RUN, "hardware_flavor": "a100x8"})
        bad = await eng.manager.resolve_approvals(
            "s",
            [ToolApproval(tool_call_id=tcid, approved=True, args_hash=altered)],
            decided_by="U1",
        )
        assert not bad.ok and "arguments changed" in bad.error
        unknown = await eng.manager.resolve_approvals(
            "s", [ToolApproval(tool_call_id="nope", approved=True)], decided_by="U1"
        )
        assert not unknown.ok and "no approval request" in unknown.error
        llm.push(text("ok"))
        first = await eng.manager.resolve_approvals(
            "s", [ToolApproval(tool_call_id=tcid, approved=True)], decided_by="U1"
        )
        second = await eng.manager.resolve_approvals(
            "s", [ToolApproval(tool_call_id=tcid, approved=False)], decided_by="U2"
        )
        assert first.ok and not second.ok
        assert second.already_decided_by == "U1" and second.already_status == "approved"
        await eng.events.wait_for("turn_complete", "s")
        assert len(ran) == 1


async def test_concurrent_clicks_only_one_wins(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        req = await _request_approval(eng, llm, ran)
        tcid = req.data["tools"][0]["tool_call_id"]
        llm.push(text("ok"))
        results = await asyncio.gather(
            *[
                eng.manager.resolve_approvals(
                    "s", [ToolApproval(tool_call_id=tcid, approved=True)], decided_by=f"U{i}"
                )
                for i in range(5)
            ]
        )
        assert sum(r.ok for r in results) == 1
        await eng.events.wait_for("turn_complete", "s")
        assert len(ran) == 1


async def test_exec_approval_operation_missing_calls_are_rejected(
    tmp_path: Path, llm: FakeLLM
) -> None:
    ran: list = []
    llm.push(tool_calls(call("hf_jobs", GPU_RUN), call("hf_jobs", {**GPU_RUN, "script": "two"})))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        await eng.manager.submit("s", UserInput(text="two jobs"), origin=ORIGIN)
        req = await eng.events.wait_for("approval_required", "s")
        assert req.data["count"] == 2
        first = req.data["tools"][0]["tool_call_id"]
        llm.push(text("one ran"))
        await eng.manager.submit(
            "s",
            ExecApproval(
                approvals=[ToolApproval(tool_call_id=first, approved=True)], decided_by="U_REQ"
            ),
        )
        await eng.events.wait_for("turn_complete", "s")
        assert [r["script"] for r in ran] == [GPU_RUN["script"]]
        states = sorted(e.data["state"] for e in eng.events.of("s", "tool_state_change"))
        assert states == ["approved", "rejected"]


async def test_cpu_jobs_ask_only_when_configured(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    cpu = {**GPU_RUN, "hardware_flavor": "cpu-basic"}
    cfg = make_config(confirm_cpu_jobs=False)
    llm.push(tool_calls(call("hf_jobs", cpu)), text("ran on cpu"))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)], config=cfg) as eng:
        await eng.manager.submit("s", UserInput(text="cpu run"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        assert ran == [cpu] and not eng.events.of("s", "approval_required")


async def test_yolo_auto_approves_under_cap_and_asks_over_it(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    cheap = {**GPU_RUN, "hardware_flavor": "t4-small", "timeout": "1h"}  # $0.60
    pricey = {**GPU_RUN, "hardware_flavor": "a100x8", "timeout": "2h"}  # $64
    llm.push(tool_calls(call("hf_jobs", cheap)), tool_calls(call("hf_jobs", pricey)))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        await eng.manager.submit("s", SetYolo(enabled=True, cap_usd=5.0), origin=ORIGIN)
        await eng.manager.submit("s", UserInput(text="go"))
        req = await eng.events.wait_for("approval_required", "s")
        assert ran == [cheap]
        assert eng.events.of("s", "tool_call")[0].data["auto_approved"] is True
        entry = req.data["tools"][0]
        assert entry["auto_approval_blocked"] and "exceeds the remaining" in entry["block_reason"]
        assert req.data["remaining_budget_usd"] == pytest.approx(4.4)


async def test_yolo_still_asks_for_destructive_operations(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    spec = tool("hf_repo_git", lambda a, c: (ran.append(a) or "deleted", True), read_only=False)
    llm.push(
        tool_calls(
            call("hf_repo_git", {"operation": "delete_branch", "repo_id": "me/m", "branch": "x"})
        )
    )
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec]) as eng:
        await eng.manager.submit("s", SetYolo(enabled=True), origin=ORIGIN)
        await eng.manager.submit("s", UserInput(text="clean up"))
        req = await eng.events.wait_for("approval_required", "s")
        assert req.data["tools"][0]["approval_class"] == "repo_destructive"
        assert "destructive" in req.data["tools"][0]["block_reason"]
        assert ran == []


async def test_stop_withdraws_pending_approvals(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        await _request_approval(eng, llm, ran)
        assert await eng.manager.interrupt("s", by="U_STOP") == "approvals_withdrawn"
        stopped = await eng.events.wait_for("interrupted", "s")
        assert stopped.data["stopped_by"] == "U_STOP"
        assert ran == [] and len(llm.requests) == 1
        assert not await eng.manager.approvals.pending("s")


async def test_pending_approval_expires(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    cfg = make_config(approval_ttl_s=0.2)
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)], config=cfg) as eng:
        req = await _request_approval(eng, llm, ran)
        eng.manager.wake_expiry()
        resolved = await eng.events.wait_for("approval_resolved", "s", timeout=5)
        assert resolved.data["outcome"] == "expired"
        assert ran == []
        late = await eng.manager.resolve_approvals(
            "s",
            [ToolApproval(tool_call_id=req.data["tools"][0]["tool_call_id"], approved=True)],
            decided_by="U",
        )
        assert not late.ok and "expired" in late.error


async def test_system_note_waits_for_a_pending_batch(tmp_path: Path, llm: FakeLLM) -> None:
    from agent_core.events import SystemNote

    ran: list = []
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        req = await _request_approval(eng, llm, ran)
        await eng.manager.submit("s", SystemNote(text="[SYSTEM: job 42 finished: COMPLETED]"))
        llm.push(text("Both handled."))
        # The note neither abandons the batch nor calls the model by itself.
        assert len(await eng.manager.approvals.pending("s")) == 1
        await eng.manager.resolve_approvals(
            "s",
            [ToolApproval(tool_call_id=req.data["tools"][0]["tool_call_id"], approved=True)],
            decided_by="U_REQ",
        )
        await eng.events.wait_for("turn_complete", "s")
        roles = [(m["role"], str(m.get("content"))[:20]) for m in llm.requests[-1]["messages"][1:]]
        assert [r for r, _ in roles] == ["user", "assistant", "tool", "user"]
        assert roles[-1][1].startswith("[SYSTEM: job 42")
        assert len(ran) == 1 and len(llm.requests) == 2


async def test_decision_claimed_before_a_crash_still_runs_after_restart(
    tmp_path: Path, llm: FakeLLM
) -> None:
    ran: list = []
    db = tmp_path / "db"
    async with run_engine(db, llm.base_url, tools=[jobs_tool(ran)]) as eng:
        req = await _request_approval(eng, llm, ran)
        tcid = req.data["tools"][0]["tool_call_id"]
        # Claim directly (as resolve_approvals does) and "crash" before the op is queued.
        claim = await eng.manager.approvals.claim(
            "s", [ToolApproval(tool_call_id=tcid, approved=True)], "U_REQ", complete_batch=True
        )
        assert claim.ok and claim.batch_complete
    llm.push(text("ran after restart"))
    async with run_engine(db, llm.base_url, tools=[jobs_tool(ran)]) as eng2:
        done = await eng2.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "ran after restart"
        assert ran == [GPU_RUN]
