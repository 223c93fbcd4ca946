"""The job card's buttons (Cancel with confirmation, Show logs, metric links) and the finished
message that mentions the requester, as Block Kit payloads (the flow through Slack is in
``tests/e2e/test_bot_job_actions.py``)."""

from __future__ import annotations

import json

import pytest

from bot.jobs.buttons import (
    CANCEL_JOB_ACTION,
    SHOW_LOGS_ACTION,
    job_actions_block,
    parse_job_action,
    with_job_actions,
)
from bot.jobs.card import job_payload
from bot.jobs.finished import finished_part, job_finished_mention
from tests.fakes.slack_limits import validate_blocks

RUNNING_JOB = {
    "job_id": "6b01abc",
    "stage": "RUNNING",
    "flavor": "a10g-small",
    "url": "https://huggingface.co/jobs/alice/6b01abc",
    "requester": "U1",
    "links": {"trackio": "https://huggingface.co/spaces/alice/trackio"},
}


def _elements(block):
    return {e["action_id"]: e for e in block["elements"]}


def test_running_card_has_confirmed_cancel_logs_and_links():
    block = job_actions_block(RUNNING_JOB)
    els = _elements(block)
    cancel = els[CANCEL_JOB_ACTION]
    assert cancel["style"] == "danger" and cancel["confirm"]["confirm"]["text"] == "Cancel job"
    assert "billed" in cancel["confirm"]["text"]["text"]
    assert parse_job_action(cancel["value"]) == "6b01abc"
    assert parse_job_action(els[SHOW_LOGS_ACTION]["value"]) == "6b01abc"
    link = next(e for e in block["elements"] if e.get("url"))
    assert (
        link["url"] == RUNNING_JOB["links"]["trackio"]
        and link["text"]["text"] == "Trackio dashboard"
    )
    payload = with_job_actions(job_payload(RUNNING_JOB, now=0.0), RUNNING_JOB)
    assert validate_blocks(payload.blocks) == []


def test_final_card_has_no_cancel():
    block = job_actions_block({**RUNNING_JOB, "stage": "COMPLETED", "links": {}})
    assert list(_elements(block)) == [SHOW_LOGS_ACTION]
    assert job_actions_block({"stage": "RUNNING"}) is None
    assert parse_job_action("not json") == ""


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (
            {"stage": "COMPLETED", "wall_time_s": 754, "cost_usd": 0.21},
            ["<@U1>", "completed", "12m 34s", "$0.21"],
        ),
        ({"stage": "ERROR", "error": "CUDA out of memory"}, ["failed", "CUDA out of memory"]),
        ({"stage": "CANCELED", "canceled_by": "U2"}, ["was cancelled", "Cancelled by <@U2>"]),
        ({"stage": "COMPLETED", "reported_after_restart": True}, ["while I was offline"]),
    ],
)
def test_finished_mention(extra, needles):
    payload = job_finished_mention({**RUNNING_JOB, **extra})
    shown = json.dumps(payload.blocks)
    for needle in needles:
        assert needle in shown
    assert validate_blocks(payload.blocks) == []
    assert finished_part("x") == "job_done:x"
