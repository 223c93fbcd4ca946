"""Pure renderers: progress message, approval card, answer plan, job card, notices.

Every payload is also checked with the emulator's Block Kit validator, so what passes here is
what Slack accepts (block counts, section sizes, button values)."""

from __future__ import annotations

import json

from agent_core.policy import args_hash
from bot.approvals.card import Decision, approval_card, parse_action_id
from bot.conversation.answers import plan_answer
from bot.conversation.notices import error_payload, session_update_payload, status_payload
from bot.conversation.progress import STOP_ACTION, progress_payload
from bot.jobs.card import job_payload, merge_job
from bot.renderer.state import DONE, STOPPED, ThreadState, ToolLine, TurnState, key_argument
from bot.slack.format import parse_button_value
from bot.slack.split import is_balanced
from tests.fakes.slack_limits import validate_blocks

SID = "slack:T1:C1:1.000"


def _dump(blocks: list[dict]) -> str:
    return json.dumps(blocks)


def _buttons(blocks: list[dict]) -> list[dict]:
    return [el for b in blocks if b.get("type") == "actions" for el in b.get("elements", [])]


# ------------------------------------------------------------------ progress
def test_progress_while_working_has_tools_plan_and_stop() -> None:
    turn = TurnState(seq=3, started_at=100.0, user_ts="1.5")
    turn.plan = [
        {"id": "1", "content": "Inspect the dataset", "status": "completed"},
        {"id": "2", "content": "Write <script> & run", "status": "in_progress"},
    ]
    turn.tools = [
        ToolLine("a", "hf_inspect_dataset", "imdb", "ok"),
        ToolLine("b", "hf_jobs", "run a10g-large", "running"),
        ToolLine("c", "read", "", "failed"),
    ]
    p = progress_payload(turn, session_id=SID, now=112.0)
    assert validate_blocks(p.blocks) == []
    text = _dump(p.blocks)
    assert "Working on it" in text and "12s" in text and "3 tool calls" in text
    assert "Write &lt;script&gt; &amp; run" in text  # escaped
    assert "`imdb`" in text and "`run a10g-large`" in text
    (stop,) = _buttons(p.blocks)
    assert stop["action_id"] == STOP_ACTION
    assert parse_button_value(stop["value"]) == {"s": SID}


def test_progress_collapses_when_done_or_stopped() -> None:
    turn = TurnState(seq=3, started_at=100.0, status=DONE, ended_at=165.0)
    turn.tools = [ToolLine(str(i), "lookup", f"q{i}", "ok") for i in range(20)]
    p = progress_payload(turn, session_id=SID, now=500.0)
    assert validate_blocks(p.blocks) == []
    assert not _buttons(p.blocks)
    assert "Done in 1m 05s" in p.text and "20 tool calls" in p.text
    assert "14 earlier calls" in _dump(p.blocks)
    turn.status, turn.stopped_by = STOPPED, "U42"
    p = progress_payload(turn, session_id=SID, now=500.0)
    assert "Stopped by <@U42>" in _dump(p.blocks)


def test_key_argument() -> None:
    assert (
        key_argument("hf_jobs", {"operation": "run", "hardware_flavor": "a10g-large"})
        == "run a10g-large"
    )
    assert key_argument("lookup", {"query": "x" * 100, "other": 1}, "query").endswith("…")
    assert key_argument("read", {"path": "/tmp/a.py"}) == "/tmp/a.py"
    assert key_argument("plan_tool", {"todos": []}) == ""


def test_thread_state_round_trips_through_json() -> None:
    state = ThreadState(last_user_ts="1.2", cards={"b1": {"ts": "9.9", "seq": 4}})
    state.turn = TurnState(seq=2, started_at=1.0, tools=[ToolLine("a", "t", "k", "ok")])
    again = ThreadState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state


# ------------------------------------------------------------------ approval card
def _gpu_call(tcid: str = "call_1", script: str = "print('train')\n") -> dict:
    args = {
        "operation": "run",
        "script": script,
        "hardware_flavor": "a10g-large",
        "timeout": "2h",
        "image": "pytorch/pytorch:latest",
    }
    return {
        "tool": "hf_jobs",
        "arguments": args,
        "tool_call_id": tcid,
        "args_hash": args_hash("hf_jobs", args),
        "approval_class": "gpu_job",
        "reason": "GPU job on a10g-large",
        "estimated_cost_usd": 4.0,
        "billable": True,
        "destructive": False,
    }


def _request(*calls: dict) -> dict:
    return {
        "tools": list(calls),
        "count": len(calls),
        "batch_id": "batch1",
        "requester": "U1",
        "expires_at": 2_000_000_000.0,
        "remaining_budget_usd": None,
    }


def test_pending_card_shows_what_it_costs_and_has_buttons() -> None:
    card = approval_card(_request(_gpu_call()), session_id=SID, now=1_000.0)
    assert validate_blocks(card.blocks) == []
    text = _dump(card.blocks)
    for expected in (
        "Approval needed",
        "<@U1>",
        "a10g-large",
        "2h",
        "pytorch/pytorch:latest",
        "$4.00",
        "print('train')",
    ):
        assert expected in text, expected
    buttons = _buttons(card.blocks)
    kinds = [parse_action_id(b["action_id"])[0] for b in buttons]
    assert kinds == ["approve", "reject", "edit"]
    value = parse_button_value(buttons[0]["value"])
    assert value == {
        "s": SID,
        "b": "batch1",
        "c": "call_1",
        "h": args_hash("hf_jobs", _gpu_call()["arguments"]),
    }
    assert "expires" in text and "configured approver" in text


def test_several_calls_get_approve_all_and_long_scripts_a_file_note() -> None:
    long_script = "\n".join(f"line_{i} = {i}" for i in range(200))
    card = approval_card(_request(_gpu_call("c1"), _gpu_call("c2", long_script)), session_id=SID)
    assert validate_blocks(card.blocks) == []
    kinds = [parse_action_id(b["action_id"])[0] for b in _buttons(card.blocks)]
    assert kinds.count("approve") == 2 and "approve_all" in kinds and "reject_all" in kinds
    assert "edit" not in kinds[3:] or kinds.count("edit") <= 2
    text = _dump(card.blocks)
    assert "First 15 of 200 lines" in text and "line_199" not in text


def test_decided_card_has_no_buttons_and_says_who() -> None:
    decisions = {"call_1": Decision("approved", "U2", 1_700_000_000.0, edited=True)}
    card = approval_card(_request(_gpu_call()), session_id=SID, decisions=decisions)
    assert validate_blocks(card.blocks) == []
    assert not _buttons(card.blocks)
    text = _dump(card.blocks)
    assert "Approved" in card.text and "by <@U2>" in text and "script edited" in text
    rejected = {"call_1": Decision("rejected", "U3", 1.0, feedback="too <expensive>")}
    text = _dump(approval_card(_request(_gpu_call()), session_id=SID, decisions=rejected).blocks)
    assert "Rejected" in text and "too &lt;expensive&gt;" in text


def test_expired_and_abandoned_cards() -> None:
    expired = {"call_1": Decision("expired", "system", 5.0)}
    card = approval_card(
        _request(_gpu_call()), session_id=SID, decisions=expired, outcome="expired"
    )
    assert "expired" in card.text.lower() and not _buttons(card.blocks)
    abandoned = {"call_1": Decision("abandoned")}
    card = approval_card(
        _request(_gpu_call()), session_id=SID, decisions=abandoned, outcome="abandoned"
    )
    assert "skipped" in card.text.lower() and not _buttons(card.blocks)


def test_many_calls_stay_within_fifty_blocks() -> None:
    calls = [_gpu_call(f"c{i}") for i in range(30)]
    card = approval_card(_request(*calls), session_id=SID)
    assert validate_blocks(card.blocks) == []
    assert "and 22 more" in _dump(card.blocks)


def test_non_job_tool_shows_its_arguments() -> None:
    call = {
        "tool": "hf_repo_files",
        "arguments": {"operation": "delete", "repo_id": "me/model", "paths": ["a.bin"]},
        "tool_call_id": "d1",
        "args_hash": "h",
        "approval_class": "repo_destructive",
        "reason": "delete in me/model",
        "destructive": True,
    }
    text = _dump(approval_card(_request(call), session_id=SID).blocks)
    assert "me/model" in text and "Destructive" in text and "a.bin" in text


# ------------------------------------------------------------------ answers
def test_short_answer_is_one_markdown_block() -> None:
    plan = plan_answer(
        "**Done.** Here you go.",
        message_chars=3500,
        upload_threshold_chars=20_000,
        preview_chars=1500,
    )
    (msg,) = plan.messages
    assert msg.blocks == [{"type": "markdown", "text": "**Done.** Here you go."}]
    assert plan.file_name is None


def test_long_answer_is_split_and_huge_answer_uploaded() -> None:
    body = "\n\n".join(f"Section {i}\n```python\n" + "x = 1\n" * 40 + "```" for i in range(20))
    plan = plan_answer(body, message_chars=3500, upload_threshold_chars=100_000, preview_chars=1500)
    assert len(plan.messages) > 1
    for msg in plan.messages:
        assert validate_blocks(msg.blocks) == []
        assert is_balanced(msg.blocks[0]["text"]) and len(msg.blocks[0]["text"]) <= 3500
    huge = plan_answer(
        "y " * 30_000, message_chars=3500, upload_threshold_chars=20_000, preview_chars=1500
    )
    assert len(huge.messages) == 1 and huge.file_name == "answer.md"
    assert huge.file_content == ("y " * 30_000).strip()
    assert "attached below" in huge.messages[0].blocks[0]["text"]


# ------------------------------------------------------------------ job card, notices
def test_job_card_follows_the_job() -> None:
    job = merge_job(
        {},
        "job_started",
        {"job_id": "j1", "flavor": "a10g-large", "url": "http://hub/jobs/j1"},
        10.0,
    )
    p = job_payload(job, now=70.0)
    assert validate_blocks(p.blocks) == [] and "scheduling" in p.text
    job = merge_job(
        job,
        "job_progress",
        {
            "job_id": "j1",
            "stage": "RUNNING",
            "log_tail": ["step 1", "step 2"],
            "warning": "stall",
            "warning_message": "No output",
        },
        80.0,
    )
    assert "No output" in _dump(job_payload(job, now=90.0).blocks)
    job = merge_job(job, "job_progress", {"job_id": "j1", "stage": "RUNNING"}, 85.0)
    assert "No output" not in _dump(job_payload(job, now=90.0).blocks)
    job = merge_job(
        job,
        "job_finished",
        {"job_id": "j1", "stage": "COMPLETED", "wall_time_s": 3700, "cost_usd": 2.05},
        99.0,
    )
    text = _dump(job_payload(job, now=100.0).blocks)
    assert "completed" in text and "1h 01m" in text and "$2.05" in text


def test_notices() -> None:
    err = error_payload("Rate limit <reached>", "rate_limit")
    assert validate_blocks(err.blocks) == [] and "try again in a minute" in _dump(err.blocks)
    assert "&lt;reached&gt;" in _dump(err.blocks)
    assert "gpt-x" in session_update_payload({"model": "gpt-x"}).text
    on = session_update_payload({"yolo": {"enabled": True, "cap_usd": 5, "remaining_usd": 5}})
    assert on is not None and "YOLO on" in on.text
    info = {
        "model": "m",
        "busy": True,
        "queued": 2,
        "turns": 3,
        "plan": [{"content": "a", "status": "pending"}],
        "pending_approvals": [{"tool": "hf_jobs"}],
        "yolo": {"enabled": True, "cap_usd": 5.0, "spent_usd": 1.0},
        "context_tokens": 5000,
        "context_window": 100000,
    }
    status = status_payload(info, jobs=[{"job_id": "j1", "stage": "RUNNING"}])
    text = _dump(status.blocks)
    assert validate_blocks(status.blocks) == []
    for expected in ("working on a turn", "queued messages: 2", "hf_jobs", "$1.00", "5%", "j1"):
        assert expected in text
