"""The whole engine on a Postgres store, unchanged: a turn asks for approval, the process
restarts, the approval is clicked on the new process and the call runs once.

(The store's own guarantees run on both backends in test_store_*.py; this checks that the
engine's real queries — sessions, history, the op queue, approvals, the event log — all work
on Postgres, through one real turn.)
"""

from __future__ import annotations

from agent_core.events import ToolApproval
from tests.engine_harness import run_engine
from tests.fakes.fake_llm import FakeLLM, text
from tests.integration.test_engine_approvals import GPU_RUN, _request_approval, jobs_tool


async def test_an_approval_survives_a_restart_on_postgres(postgres_url: str) -> None:
    ran: list = []
    async with FakeLLM() as llm:
        async with run_engine(postgres_url, llm.base_url, tools=[jobs_tool(ran)]) as eng:  # type: ignore[arg-type]
            req = await _request_approval(eng, llm, ran)
        entry = req.data["tools"][0]
        assert ran == []
        llm.push(text("Resumed and submitted."))
        async with run_engine(postgres_url, llm.base_url, tools=[jobs_tool(ran)]) as eng2:  # type: ignore[arg-type]
            pending = await eng2.manager.approvals.pending("s")
            assert [p.tool_call_id for p in pending] == [entry["tool_call_id"]]
            approve = ToolApproval(
                tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"]
            )
            first = await eng2.manager.resolve_approvals("s", [approve], decided_by="U_REQ")
            again = await eng2.manager.resolve_approvals("s", [approve], decided_by="U_OTHER")
            assert first.ok and not again.ok and again.already_decided_by == "U_REQ"
            done = await eng2.events.wait_for("turn_complete", "s")
            assert done.data["final_response"] == "Resumed and submitted."
            assert ran == [GPU_RUN]
            history = await eng2.store.load_messages("s")
            assert history[-1]["content"] == "Resumed and submitted."
            seqs = [e.seq for e in await eng2.store.events_after("s")]
            assert seqs == list(range(1, len(seqs) + 1))
