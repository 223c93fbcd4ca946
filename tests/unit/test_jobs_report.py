"""One job-stage vocabulary, one duration formatter, one "job finished" report for every
presenter (Slack thread message and card, notifications, the agent's note)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from huggingface_hub import JobStage

from agent_core.durations import format_duration
from agent_core.events import Event
from agent_core.jobs.report import JobFinished, finished_note
from agent_core.jobs.stages import decode_stage, is_terminal, normalize_stage, outcome_of
from bot.jobs.buttons import job_actions_block
from bot.jobs.card import job_payload
from bot.jobs.finished import job_finished_mention
from gateways.compose import compose


@pytest.mark.parametrize(
    ("info", "stage"),
    [
        (SimpleNamespace(status=SimpleNamespace(stage=JobStage.ERROR)), "ERROR"),
        (SimpleNamespace(status=SimpleNamespace(stage="running")), "RUNNING"),
        (SimpleNamespace(status=SimpleNamespace(stage="Cancelled")), "CANCELED"),
        (SimpleNamespace(status=None), "UNKNOWN"),
        (object(), "UNKNOWN"),
    ],
)
def test_decode_stage_reads_enums_strings_and_missing_status(info, stage) -> None:
    assert decode_stage(info) == stage


def test_stage_vocabulary() -> None:
    assert is_terminal("CANCELLED") and is_terminal("deleted") and not is_terminal("STARTING")
    assert [outcome_of(s) for s in ("COMPLETED", "ERROR", "CANCELED", "DELETED", "RUNNING")] == [
        "completed",
        "failed",
        "cancelled",
        "deleted",
        None,
    ]
    assert normalize_stage(None, "SCHEDULING") == "SCHEDULING"


@pytest.mark.parametrize(
    ("seconds", "short", "exact"),
    [
        (0, "0s", "0s"),
        (0.4, "0s", "0.4s"),
        (65.9, "1m 05s", "1m 6s"),
        (600, "10m 00s", "10m"),
        (3723, "1h 02m", "1h 2m 3s"),
        (-5, "0s", "0s"),
    ],
)
def test_one_duration_formatter_two_styles(seconds, short, exact) -> None:
    assert format_duration(seconds) == short
    assert format_duration(seconds, "exact") == exact


def test_duration_of_nothing_is_nothing() -> None:
    assert format_duration(None) is None
    assert format_duration("soon", "exact") is None  # type: ignore[call-overload]


def test_report_round_trips_and_tolerates_old_or_hand_written_payloads() -> None:
    report = JobFinished(
        job_id="j1",
        stage="ERROR",
        wall_time_s=754.04,
        cost_usd=0.21,
        log_tail=("a", "", "b"),
        metrics={"loss": 0.5},
        error="x" * 5000,
        reported_after_restart=True,
    )
    data = report.to_data()
    assert data["wall_time_s"] == 754.0 and len(data["error"]) == 1000
    again = JobFinished.from_data(data)
    assert (again.job_id, again.outcome, again.last_lines(5)) == ("j1", "failed", ["a", "b"])
    sparse = JobFinished.from_data({"stage": "cancelled", "wall_time_s": "n/a", "log_tail": "x\ny"})
    assert sparse.job_id == "?" and sparse.outcome == "cancelled" and sparse.wall_time_s is None
    assert sparse.log_tail == ("x", "y") and "error" not in sparse.to_data()


FAILED_JOB = {
    "job_id": "6650abc123",
    "stage": "ERROR",
    "wall_time_s": 3723.4,
    "cost_usd": 0.42,
    "url": "https://huggingface.co/jobs/alice/6650abc123",
    "flavor": "a10g-small",
    "requester": "U1",
    "error": "CUDA out of memory",
    "log_tail": ["epoch 1", "RuntimeError: CUDA out of memory"],
}


def test_every_presenter_tells_the_same_story() -> None:
    """The thread message, the card, the notification and the agent's note all say the job
    failed, after the same time, at the same cost, with the same error."""
    mention = job_finished_mention(FAILED_JOB).blocks[0]["text"]["text"]
    card = str(job_payload({**FAILED_JOB, "finished": True}, now=0.0).blocks)
    note = compose(Event("s1", 7, "job_finished", FAILED_JOB, 0.0), {})
    agent = finished_note(JobFinished.from_data(FAILED_JOB))
    assert "failed" in mention and "1h 02m" in mention and "$0.42" in mention
    assert "error" in card and "1h 02m" in card and "$0.42" in card
    assert note is not None and note.title == "Job failed" and note.severity == "error"
    fields = {f.label: f.value for f in note.fields}
    assert fields["Wall time"] == "1h 2m 3s" and fields["Cost"] == "$0.42"
    assert "CUDA out of memory" in mention and "CUDA out of memory" in note.message
    assert "stage ERROR after 1h 02m" in agent and "CUDA out of memory" in agent


def test_a_finished_job_has_no_cancel_button() -> None:
    ids = lambda job: [e.get("action_id") for e in job_actions_block(job)["elements"]]  # noqa: E731
    assert "ml_job:cancel" in ids({"job_id": "j", "stage": "RUNNING"})
    assert "ml_job:cancel" not in ids({"job_id": "j", "stage": "Cancelled"})
