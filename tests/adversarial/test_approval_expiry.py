"""A click that lands after the card's deadline must not run anything, even when the expiry
sweep has not run yet; and an expired card is closed at its deadline, not at the next tick.

Attack observed: an approval clicked just after ``expires_at`` was accepted (the claim did not
look at the deadline; the sweep ran every 60 s), and a card kept its live buttons for up to a
minute after it expired.
"""

from __future__ import annotations

import time
from pathlib import Path

from agent_core.events import ToolApproval, UserInput
from tests.adversarial.conftest import FakeLLM
from tests.engine_harness import ORIGIN, make_config, run_engine, tool
from tests.fakes.fake_llm import call, text, tool_calls

GPU_RUN = {
    "operation": "run",
    "script": "print(1)",
    "hardware_flavor": "a10g-large",
    "timeout": "2h",
}


def jobs_tool(ran: list):
    return tool(
        "hf_jobs", lambda args, ctx: (ran.append(args) or "submitted", True), read_only=False
    )


async def test_approval_clicked_after_expiry_before_sweep_is_accepted(
    tmp_path: Path, llm: FakeLLM
) -> None:
    ran: list = []
    llm.push(tool_calls(call("hf_jobs", GPU_RUN)), text("submitted"))
    cfg = make_config(approval_ttl_s=3600)
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)], config=cfg) as eng:
        await eng.manager.submit("s", UserInput(text="train", user="U_REQ"), origin=ORIGIN)
        card = await eng.events.wait_for("approval_required", "s", timeout=60)
        entry = card.data["tools"][0]
        # the deadline passes; the sweep (which would otherwise run within a minute) has not
        await eng.store.execute(
            "UPDATE approvals SET expires_at=? WHERE tool_call_id=?",
            (time.time() - 0.5, entry["tool_call_id"]),
        )
        late = await eng.manager.resolve_approvals(
            "s",
            [
                ToolApproval(
                    tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"]
                )
            ],
            decided_by="U_REQ",
        )
        assert not late.ok and "expired" in (late.error or "")
        # the refused click closes the batch at once (the card is rewritten as expired)
        resolved = await eng.events.wait_for("approval_resolved", "s", timeout=10)
        assert resolved.data["outcome"] == "expired"
        assert ran == []


async def test_short_ttl_card_waits_for_the_minute_tick(tmp_path: Path, llm: FakeLLM) -> None:
    """A batch created while the sweep sleeps (nothing pending → a 60 s sleep) must still be
    expired at its own deadline: creating it wakes the sweep to re-plan."""
    ran: list = []
    llm.push(tool_calls(call("hf_jobs", GPU_RUN)))
    cfg = make_config(approval_ttl_s=0.3)
    async with run_engine(tmp_path / "db", llm.base_url, tools=[jobs_tool(ran)], config=cfg) as eng:
        await eng.manager.submit("s", UserInput(text="train", user="U_REQ"), origin=ORIGIN)
        await eng.events.wait_for("approval_required", "s", timeout=60)
        resolved = await eng.events.wait_for("approval_resolved", "s", timeout=10)
        assert resolved.data["outcome"] == "expired" and ran == []
