"""The model chooses its tool-call ids; the engine must not trust them.

Attack: a (misbehaving or prompt-injected) model reuses one provider id for a second gated
call. Before, the approval row was ``INSERT OR REPLACE``d on that id: the second card said
Approved, nothing ran, and the session answered every later message with "Waiting for an
approval decision". Engine-owned ids make every call distinct, whatever the provider sent.
"""

from __future__ import annotations

from pathlib import Path

from agent_core.events import ToolApproval, UserInput
from tests.adversarial.conftest import FakeLLM
from tests.engine_harness import ORIGIN, run_engine, tool
from tests.fakes.fake_llm import call, text, tool_calls

RUN_A = {
    "operation": "run",
    "script": "print('a')",
    "hardware_flavor": "a10g-large",
    "timeout": "2h",
}
RUN_B = {
    "operation": "run",
    "script": "print('b')",
    "hardware_flavor": "a10g-large",
    "timeout": "1h",
}


def jobs_tool(ran: list):
    return tool(
        "hf_jobs",
        lambda args, ctx: (ran.append(args["script"]) or "submitted", True),
        read_only=False,
    )


async def approve_card(eng, event) -> None:
    entry = event.data["tools"][0]
    res = await eng.manager.resolve_approvals(
        "s",
        [
            ToolApproval(
                tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"]
            )
        ],
        decided_by="U_REQ",
    )
    assert res.ok, res


async def test_reused_provider_tool_call_id_wedges_session(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    llm.push(
        tool_calls(call("hf_jobs", RUN_A, id="call_dup")),
        tool_calls(call("hf_jobs", RUN_B, id="call_dup")),  # the same id again
        text("Both jobs submitted."),
        text("Still here."),
    )
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        await eng.manager.submit("s", UserInput(text="run a then b", user="U_REQ"), origin=ORIGIN)
        first = await eng.events.wait_for("approval_required", "s", timeout=60)
        await approve_card(eng, first)
        second = await eng.events.wait_for("approval_required", "s", count=2, timeout=60)
        ids = [first.data["tools"][0]["tool_call_id"], second.data["tools"][0]["tool_call_id"]]
        assert ids[0] != ids[1]
        await approve_card(eng, second)
        done = await eng.events.wait_for("turn_complete", "s", timeout=60)
        assert done.data["final_response"] == "Both jobs submitted."
        assert ran == ["print('a')", "print('b')"]
        # the session is not wedged: the next message gets an answer, not "Waiting for…"
        await eng.manager.submit("s", UserInput(text="status?", user="U_REQ"), origin=ORIGIN)
        later = await eng.events.wait_for("turn_complete", "s", count=2, timeout=60)
        assert later.data["final_response"] == "Still here."
        history = await eng.store.load_messages("s")
        results = [m["tool_call_id"] for m in history if m["role"] == "tool"]
        assert len(results) == len(set(results)) == 2


async def test_two_calls_with_one_id_in_one_reply(tmp_path: Path, llm: FakeLLM) -> None:
    ran: list = []
    llm.push(
        tool_calls(call("hf_jobs", RUN_A, id="call_x"), call("hf_jobs", RUN_B, id="call_x")),
        text("done"),
    )
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)]) as eng:
        await eng.manager.submit("s", UserInput(text="two at once", user="U_REQ"), origin=ORIGIN)
        card = await eng.events.wait_for("approval_required", "s", timeout=60)
        entries = card.data["tools"]
        assert len(entries) == 2 and entries[0]["tool_call_id"] != entries[1]["tool_call_id"]
        res = await eng.manager.resolve_approvals(
            "s",
            [
                ToolApproval(
                    tool_call_id=e["tool_call_id"], approved=True, args_hash=e["args_hash"]
                )
                for e in entries
            ],
            decided_by="U_REQ",
        )
        assert res.ok
        await eng.events.wait_for("turn_complete", "s", timeout=60)
        assert sorted(ran) == ["print('a')", "print('b')"]
