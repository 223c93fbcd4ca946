"""A cap that holds across threads: YOLO's budget was per session, so five threads × $4 under
a "$5 cap" spent $20. The daily caps per requester and per workspace count every thread.

Real SessionManager on SQLite, the scripted LLM, a recording ``hf_jobs`` stand-in (the engine's
policy prices ``run`` on a10g-large for 2 h at $4)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent_core.events import SetYolo, UserInput
from tests.adversarial.conftest import FakeLLM
from tests.engine_harness import make_config, run_engine, tool
from tests.fakes.fake_llm import call, tool_calls

RUN = {"operation": "run", "script": "print(1)\n", "hardware_flavor": "a10g-large", "timeout": "2h"}


def origin(thread: str, user: str) -> dict:
    return {"platform": "test", "requester": user, "channel": "C1", "thread_ts": thread}


async def outcome(eng, sid: str) -> str:
    """``ran`` when the turn completed by itself, ``asked`` when it stopped at a card."""
    turn = asyncio.ensure_future(eng.events.wait_for("turn_complete", sid, timeout=60))
    card = asyncio.ensure_future(eng.events.wait_for("approval_required", sid, timeout=60))
    done, pending = await asyncio.wait({turn, card}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return "ran" if turn in done else "asked"


async def run_threads(tmp_path: Path, llm: FakeLLM, cfg, users: list[str]) -> tuple[list, list]:
    ran: list = []
    spec = tool(
        "hf_jobs",
        lambda args, ctx: (ran.append(ctx.session_id) or "submitted", True),
        read_only=False,
    )
    outcomes: list[str] = []
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec], config=cfg) as eng:
        for i, user in enumerate(users):
            sid = f"thread{i}"
            await eng.manager.submit(
                sid, SetYolo(enabled=True, cap_usd=5.0), origin=origin(sid, user)
            )
            await eng.events.wait_for("session_update", sid, timeout=60)
            llm.push(tool_calls(call("hf_jobs", RUN)))  # then the default answer
            await eng.manager.submit(
                sid, UserInput(text="train", user=user), origin=origin(sid, user)
            )
            outcomes.append(await outcome(eng, sid))
    return ran, outcomes


async def test_yolo_cap_per_session_bypassed_with_several_threads(tmp_path: Path) -> None:
    cfg = make_config(yolo_user_daily_cap_usd=10.0)
    async with FakeLLM(default="ok") as llm:
        ran, outcomes = await run_threads(tmp_path, llm, cfg, ["U1"] * 5)
    assert outcomes == ["ran", "ran", "asked", "asked", "asked"], outcomes  # $4 + $4, then over $10
    assert ran == ["thread0", "thread1"]


def test_card_shows_spend_so_far_against_the_daily_cap() -> None:
    from bot.approvals.card import approval_card

    request = {
        "tools": [{"tool": "hf_jobs", "arguments": RUN, "tool_call_id": "c1", "args_hash": "h"}],
        "batch_id": "b1",
        "requester": "U1",
        "spend_today": {
            "user_usd": 8.0,
            "user_cap_usd": 10.0,
            "workspace_usd": 8.0,
            "workspace_cap_usd": None,
        },
    }
    shown = str(approval_card(request, session_id="s", now=0).blocks)
    assert "$8.00 of $10.00" in shown


async def test_workspace_daily_cap_bypassed_by_several_people(tmp_path: Path) -> None:
    cfg = make_config(yolo_user_daily_cap_usd=None, yolo_workspace_daily_cap_usd=10.0)
    async with FakeLLM(default="ok") as llm:
        ran, outcomes = await run_threads(tmp_path, llm, cfg, ["U1", "U2", "U3"])
    assert outcomes == ["ran", "ran", "asked"]
    assert len(ran) == 2


async def test_llm_spend_left_out_of_the_daily_cap(tmp_path: Path) -> None:
    """Model spend booked in the ledger (by the LLM layer's priced calls) counts against the
    same daily cap as jobs: $9 of model calls today leave no room for a $4 GPU job."""
    from agent_core.spend_ledger import ledger_for

    cfg = make_config(yolo_user_daily_cap_usd=10.0)
    ran: list = []
    spec = tool("hf_jobs", lambda args, ctx: (ran.append(1) or "submitted", True), read_only=False)
    async with FakeLLM(default="ok") as llm:
        async with run_engine(tmp_path / "db", llm.base_url, tools=[spec], config=cfg) as eng:
            ledger = ledger_for(eng.manager.services)
            assert ledger is not None
            await ledger.add("U1", 9.0, kind="llm")
            sid = "thread0"
            await eng.manager.submit(
                sid, SetYolo(enabled=True, cap_usd=5.0), origin=origin(sid, "U1")
            )
            await eng.events.wait_for("session_update", sid, timeout=60)
            llm.push(tool_calls(call("hf_jobs", RUN)))
            await eng.manager.submit(
                sid, UserInput(text="train", user="U1"), origin=origin(sid, "U1")
            )
            assert await outcome(eng, sid) == "asked" and ran == []
