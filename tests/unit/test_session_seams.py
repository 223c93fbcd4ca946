"""The session's seams on their own, no sockets: guards, nudges, replies, interruption, batches.

The integration tests drive the same code through a real SessionManager and the fake LLM;
these pin down the rules that are awkward to reach from there (what fires once, what is
dropped, what a stop cancels) and the prompt renderer's use of ``system_prompt_file``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent_core.approvals import APPROVED, EXPIRED, REJECTED, PendingCall
from agent_core.llm import LLMResult
from agent_core.prompts import system_prompt_renderer
from agent_core.session import TurnCancelled
from agent_core.session.approval_batch import (
    EXPIRED_RESULT,
    REJECTED_RESULT,
    apply_overrides,
    not_run_result,
)
from agent_core.session.guards import apply_guards, malformed_result, repeated_malformed
from agent_core.session.interruption import Interruption
from agent_core.session.nudges import lost_tool_calls, step_limit_answer, unfinished_plan
from agent_core.session.replies import assistant_message, parse_tool_calls
from tests.engine_harness import make_config


def _call(call_id: str, name: str, arguments: str, result: str) -> list[dict[str, Any]]:
    """An assistant tool call and its result, as they sit in the history."""
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "name": name, "content": result},
    ]


def _guard_run(history: list[dict[str, Any]], state: dict[str, Any]) -> list[dict[str, Any]]:
    before = len(history)
    apply_guards(history, state, history.append)
    return history[before:]


# ---------------------------------------------------------------------------------- guards


def test_repetition_guard_nudges_once_per_streak() -> None:
    history = [{"role": "user", "content": "check the job"}]
    for i in range(3):
        history += _call(f"c{i}", "hf_jobs", '{"operation": "ps"}', "no jobs")
    state: dict[str, Any] = {}
    added = _guard_run(history, state)
    assert len(added) == 1 and "REPETITION GUARD" in added[0]["content"]
    assert added[0]["_synthetic"] is True
    history += _call("c3", "hf_jobs", '{"operation": "ps"}', "no jobs")
    assert _guard_run(history, state) == []  # the same streak keeps going: no second warning


def test_malformed_guard_needs_two_malformed_results_of_the_same_tool_in_a_row() -> None:
    history = [{"role": "user", "content": "write it"}]
    history += _call("c0", "write", "{}", malformed_result("write"))
    assert repeated_malformed(history) is None
    history += _call("c1", "edit", "{}", malformed_result("edit"))
    assert repeated_malformed(history) is None  # two tools, one failure each
    history += _call("c2", "edit", "{}", malformed_result("edit"))
    state: dict[str, Any] = {}
    added = _guard_run(history, state)
    assert len(added) == 1 and "malformed tool arguments detected for 'edit'" in added[0]["content"]
    assert _guard_run(history, state) == []


def test_a_repetition_nudge_preempts_the_malformed_guard_on_the_same_step() -> None:
    history = [{"role": "user", "content": "write it"}]
    for i in range(3):
        history += _call(f"c{i}", "write", "{}", malformed_result("write"))
    added = _guard_run(history, {})
    assert [("REPETITION GUARD" in m["content"]) for m in added] == [True]


# ---------------------------------------------------------------------------------- nudges


def test_unfinished_plan_nudge_lists_four_items_and_counts_the_rest() -> None:
    items = [{"id": str(i), "content": f"step {i}", "status": "pending"} for i in range(6)]
    nudge, log_line = unfinished_plan(items)
    assert nudge["role"] == "user" and nudge["_synthetic"] is True
    assert "3. step 3 [pending]" in nudge["content"] and "step 4" not in nudge["content"]
    assert "... and 2 more" in nudge["content"]
    assert "continue" in log_line


def test_lost_tool_calls_nudge_names_every_lost_call() -> None:
    nudge, log_line = lost_tool_calls(["write", "hf_jobs"])
    assert "[write, hf_jobs]" in nudge["content"] and nudge["_synthetic"] is True
    assert log_line.endswith("write, hf_jobs")


def test_step_limit_answer_says_how_to_continue() -> None:
    answer, log_line = step_limit_answer(7)
    assert "7 steps" in answer and "`continue`" in answer
    assert "max_iterations (7)" in log_line


# ---------------------------------------------------------------------------------- replies


def _result(*calls: tuple[str, str, str], content: str = "") -> LLMResult:
    return LLMResult(
        content=content,
        tool_calls=[{"id": i, "name": n, "arguments": a} for i, n, a in calls],
        finish_reason="tool_calls",
    )


def test_parse_tool_calls_gives_ids_and_rejects_non_objects() -> None:
    result = _result(("", "a", '{"x": 1}'), ("k", "b", "[1, 2]"), ("", "c", "  "), ("", "d", '{"'))
    parsed = parse_tool_calls(result)
    assert [p.args for p in parsed] == [{"x": 1}, None, {}, None]
    ids = [p.id for p in parsed]
    assert ids[1] == "k" and all(ids) and len(set(ids)) == 4
    assert [tc["id"] for tc in result.tool_calls] == ids  # the result is tagged too


def test_assistant_message_never_stores_malformed_arguments() -> None:
    result = _result(("c1", "write", '{"path": "a"'), ("c2", "read", '{"path": "a"}'))
    message = assistant_message(result, None, parse_tool_calls(result))
    assert message["role"] == "assistant" and message["content"] is None
    arguments = [tc["function"]["arguments"] for tc in message["tool_calls"]]
    assert arguments == ["{}", '{"path": "a"}']
    assert all(isinstance(json.loads(a), dict) for a in arguments)
    assert "tool_calls" not in assistant_message(result, "plain text")


# ---------------------------------------------------------------------------------- interruption


async def test_race_returns_the_result_when_nobody_stops() -> None:
    async def answer() -> int:
        return 42

    assert await Interruption().race(answer()) == 42


async def test_a_stop_cancels_what_the_turn_awaits_and_records_who() -> None:
    stop = Interruption()
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    racing = asyncio.ensure_future(stop.race(slow()))
    await entered.wait()
    stop.request("U1")
    with pytest.raises(TurnCancelled):
        await racing
    assert cancelled.is_set() and stop.by == "U1" and stop.requested
    stop.reset()
    assert stop.by is None and not stop.requested


async def test_after_a_stop_nothing_new_starts() -> None:
    stop = Interruption()
    stop.request(None)
    started = False

    async def never() -> None:
        nonlocal started
        started = True

    with pytest.raises(TurnCancelled):
        await stop.race(never())
    assert started is False


async def test_a_cancellation_that_is_not_a_stop_propagates() -> None:
    stop = Interruption()
    entered = asyncio.Event()

    async def slow() -> None:
        entered.set()
        await asyncio.Event().wait()

    outer = asyncio.ensure_future(stop.race(slow()))
    await entered.wait()
    outer.cancel()  # e.g. the manager's own shutdown, not a user's stop
    with pytest.raises(asyncio.CancelledError):
        await outer


async def test_cleanups_run_once_and_a_failing_hook_does_not_skip_the_others() -> None:
    stop = Interruption()
    ran: list[str] = []

    async def broken() -> None:
        ran.append("broken")
        raise RuntimeError("sandbox already gone")

    async def kill() -> None:
        ran.append("kill")

    stop.register_cleanup("sandbox", broken)
    stop.register_cleanup("job", kill)
    await stop.run_cleanups()
    await stop.run_cleanups()
    assert ran == ["broken", "kill"]


# ---------------------------------------------------------------------------------- batches


def _pending(tool: str, arguments: dict[str, Any], **kw: Any) -> PendingCall:
    base: dict[str, Any] = {
        "session_id": "s",
        "tool_call_id": "c1",
        "batch_id": "b1",
        "tool": tool,
        "arguments": arguments,
        "args_hash": "h",
        "approval_class": None,
        "status": APPROVED,
        "requester": None,
        "decided_by": "U1",
        "feedback": None,
        "overrides": {},
        "reason": None,
        "estimated_cost_usd": None,
        "created_at": 0.0,
        "expires_at": None,
        "decided_at": None,
    }
    base.update(kw)
    return PendingCall(**base)


def test_overrides_replace_the_script_or_command_and_the_namespace() -> None:
    job = _pending(
        "hf_jobs",
        {"operation": "uv", "script": "old", "namespace": "me"},
        overrides={"edited_script": "new", "namespace": "team"},
    )
    assert apply_overrides(job) == {"operation": "uv", "script": "new", "namespace": "team"}
    shell = _pending("bash", {"command": "rm -rf /"}, overrides={"edited_script": "ls"})
    assert apply_overrides(shell) == {"command": "ls"}
    assert shell.arguments == {"command": "rm -rf /"}  # the stored call is not mutated


def test_feedback_reaches_the_model_without_control_characters() -> None:
    call = _pending("hf_jobs", {}, status=REJECTED, feedback="use a T4\x1b[2J\x07\nplease")
    assert not_run_result(call) == f"{REJECTED_RESULT} User feedback: use a T4[2J\nplease"
    assert not_run_result(_pending("hf_jobs", {}, status=EXPIRED)) == EXPIRED_RESULT


# ---------------------------------------------------------------------------------- prompt


def test_system_prompt_file_replaces_the_shipped_prompt(tmp_path: Path) -> None:
    template = tmp_path / "prompt.md"
    template.write_text("Team prompt. Tools: {tool_names}.", encoding="utf-8")
    render = system_prompt_renderer(
        make_config(system_prompt_file=str(template)).system_prompt_file
    )
    assert render(["read", "write"]) == "Team prompt. Tools: read, write.\n"


def test_an_unreadable_prompt_file_falls_back_instead_of_failing_every_turn(
    tmp_path: Path,
) -> None:
    render = system_prompt_renderer(tmp_path / "gone.md")
    before = datetime.now(UTC).strftime("%Y-%m-%d")
    text = render(["read"])
    after = datetime.now(UTC).strftime("%Y-%m-%d")
    assert text.startswith("You are ML Intern") and "Tools: read." in text
    assert before in text or after in text
