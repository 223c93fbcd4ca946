"""Pure logic of job following: metrics and NaN parsing from log lines, the polling schedule,
hf_jobs command/env building, install-chatter collapsing, error translation."""

from __future__ import annotations

import base64
import shlex

import pytest

from agent_core.hub import LogTail, clean_log_line, is_billing_error, translate_error
from agent_core.jobs.log_reader import LogReader
from agent_core.jobs.metrics import (
    collapse_installs,
    dashboard_links,
    nan_detected,
    normalize_key,
    parse_line,
    parse_metrics,
)
from agent_core.jobs.report import JobFinished, finished_note
from agent_core.jobs.schedule import (
    backoff_ramp_seconds,
    intervals,
    next_interval,
    polls_within,
    steady_state_requests_per_minute,
)
from agent_core.jobs.stages import is_terminal
from agent_core.tools.job_command import job_env, job_labels, uv_command
from tests.fakes.fake_hub_jobs import training_log_lines

TOKEN = "hf_" + "Z" * 34


# --------------------------------------------------------------------------- metrics


def test_trainer_dict_lines_give_latest_metrics():
    metrics = parse_metrics(training_log_lines(steps=3))
    assert metrics["loss"] == pytest.approx(1.125)
    assert metrics["step"] == 300
    assert metrics["epoch"] == 1
    assert metrics["train_loss"] == pytest.approx(1.2)
    assert metrics["learning_rate"] == pytest.approx(6.67e-06)
    assert list(metrics)[0] == "loss"  # loss first: what a card shows when space is short


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("step=120 loss=2.31 lr=1e-4", {"step": 120, "loss": 2.31, "learning_rate": 1e-4}),
        ("train/loss: 0.42, eval/loss: 0.51", {"train_loss": 0.42, "eval_loss": 0.51}),
        ("Epoch 2/3 | Step: 40", {"epoch": 2, "epochs_total": 3, "step": 40}),
        ("step 100/1000 loss 1.5", {"step": 100, "steps_total": 1000}),
        ('{"eval_accuracy": 0.91, "global_step": 500}', {"eval_accuracy": 0.91, "step": 500}),
    ],
)
def test_key_value_and_counter_shapes(line, expected):
    got = parse_line(line)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), (key, got)


def test_no_false_metrics_from_ids_and_urls():
    assert parse_line("Loading id: 1234 from https://x.y/z?step=3") in ({}, {"step": 3.0})
    assert "id" not in parse_line("id: 1234")
    assert normalize_key("user_id") is None
    assert normalize_key("train/loss") == "train_loss"
    assert normalize_key("lr") == "learning_rate"


@pytest.mark.parametrize(
    "line",
    [
        "{'loss': nan, 'grad_norm': 1.0, 'epoch': 0.2}",
        "step=10 loss=NaN",
        "{'loss': 0.5, 'grad_norm': inf}",
        "Loss is nan at step 30",
        "WARNING: NaN loss detected, skipping batch",
    ],
)
def test_nan_detection(line):
    assert nan_detected([line])


def test_nan_not_flagged_for_normal_or_unrelated_lines():
    assert not nan_detected(training_log_lines(steps=5))
    assert not nan_detected(["reward: 0.5", "nan_policy=omit", "banana loss 0.3"])
    lines = training_log_lines(steps=3, nan_at=2)
    assert nan_detected(lines)
    assert parse_metrics(lines[:8])["loss"] == "nan"  # JSON-safe


def test_dashboard_links_and_install_collapse():
    links = dashboard_links(
        [
            "* Trackio project initialized: https://huggingface.co/spaces/alice/trackio",
            "wandb: View run at https://wandb.ai/alice/proj/runs/abc.",
        ]
    )
    assert links == {
        "trackio": "https://huggingface.co/spaces/alice/trackio",
        "wandb": "https://wandb.ai/alice/proj/runs/abc",
    }
    lines = training_log_lines(steps=1)
    collapsed = collapse_installs(lines)
    assert collapsed[0] == "[installs truncated]"
    assert not any("Downloading" in x for x in collapsed)
    assert collapse_installs(["a", "b"]) == ["a", "b"]


def test_clean_log_line_strips_ansi_and_redraws():
    assert clean_log_line("\x1b[32mok\x1b[0m") == "ok"
    assert clean_log_line("10%\r50%\r100% done") == "100% done"
    assert len(clean_log_line("x" * 5000)) == 500


# --------------------------------------------------------------------------- schedule


def test_backoff_schedule_fast_then_slow():
    seq = intervals(2.0, 1.5, 60.0, 12)
    assert seq[:4] == [2.0, 3.0, 4.5, 6.75]
    assert seq[-1] == 60.0 and max(seq) == 60.0
    assert all(b >= a for a, b in zip(seq, seq[1:], strict=False))
    assert next_interval(59.0, 2.0, 1.5, 60.0) == 60.0
    assert next_interval(0.1, 2.0, 1.5, 60.0) == 2.0  # never below the initial interval
    # first minute: 7 polls (t=0, 2, 5, 9.5, 16.3, 26.4, 41.6) with the defaults, then one per
    # minute (+2 log tails while running)
    assert polls_within(60, 2.0, 1.5, 60.0) == 7
    assert steady_state_requests_per_minute(60.0, 30.0) == 3.0
    assert steady_state_requests_per_minute(60.0, 30.0, running=False) == 1.0
    assert 100 < backoff_ramp_seconds(2.0, 1.5, 60.0) < 200


@pytest.mark.parametrize(
    ("stage", "terminal"),
    [("COMPLETED", True), ("ERROR", True), ("CANCELED", True), ("DELETED", True),
     ("RUNNING", False), ("SCHEDULING", False), ("UPDATING", False), ("STARTING", False),
     ("WEIRD_NEW_STAGE", False), (None, False)],
)  # fmt: skip
def test_unknown_stages_are_still_running(stage, terminal):
    assert is_terminal(stage) is terminal


def test_new_lines_by_timestamp_and_overlap():
    w = LogReader()
    first = [("2025-01-01T00:00:00.001Z", "a"), ("2025-01-01T00:00:00.001Z", "b")]
    assert w.new_lines(first) == ["a", "b"]
    again = [*first, ("2025-01-01T00:00:00.001Z", "c"), ("2025-01-01T00:00:00.002Z", "d")]
    assert w.new_lines(again) == ["c", "d"]
    assert w.new_lines(again) == []
    # no timestamps: overlap of consecutive tails
    w2 = LogReader()
    assert w2.new_lines([(None, "x"), (None, "y")]) == ["x", "y"]
    w2.raw_tail = ["x", "y"]
    assert w2.new_lines([(None, "y"), (None, "z")]) == ["z"]


def test_finished_note_is_short_and_actionable():
    note = finished_note(
        JobFinished.from_data(
            {
                "job_id": "j1",
                "flavor": "a10g-small",
                "stage": "ERROR",
                "wall_time_s": 754,
                "cost_usd": 0.21,
                "url": "http://hub/jobs/alice/j1",
                "error": "Job failed with exit code: 1",
                "metrics": {"loss": 0.5},
                "log_tail": [f"line {i}" for i in range(300)],
            }
        )
    )
    assert "j1" in note and "ERROR" in note and "12m 34s" in note and "$0.21" in note
    # the last 200 lines, so the agent can diagnose; older ones left out
    assert "exit code: 1" in note and "line 299" in note and "line 100\n" in note
    assert "line 99\n" not in note and "Last 200 log lines" in note


def test_finished_note_stays_bounded_keeping_the_end_of_the_log():
    long_lines = [f"{i:04d} " + "x" * 400 for i in range(200)]
    note = finished_note(
        JobFinished.from_data({"job_id": "j", "stage": "ERROR", "log_tail": long_lines})
    )
    assert len(note) <= 16_000
    assert long_lines[-1] in note and long_lines[0] not in note and "earlier cut" in note


# --------------------------------------------------------------------------- command building


def test_uv_command_inline_is_base64_piped():
    code = "import os\nprint('it''s fine; $HOME')\n"
    cmd = uv_command(
        code,
        inline=True,
        dependencies=["trl", "trl", "peft"],
        python="3.11",
        script_args=["--lr", "1e-4"],
    )
    assert cmd[:2] == ["/bin/sh", "-lc"]
    shell = cmd[2]
    b64 = shell.split()[1]
    assert base64.b64decode(b64).decode() == code
    tail = shlex.split(shell.split("|", 2)[2])
    assert tail == [
        "uv",
        "run",
        "--with",
        "hf-transfer",
        "--with",
        "trl",
        "--with",
        "peft",
        "-p",
        "3.11",
        "-",
        "--lr",
        "1e-4",
    ]


def test_uv_command_url_passed_to_uv():
    cmd = uv_command("https://hf.co/x/train.py", inline=False, script_args=["a"])
    assert cmd == ["uv", "run", "--with", "hf-transfer", "https://hf.co/x/train.py", "a"]


def test_job_env_drops_token_names_and_values():
    env, dropped = job_env(
        {"HF_TOKEN": "x", "MY_VAR": "1", "LEAK": f"Bearer {TOKEN}", "HUGGING_FACE_HUB_TOKEN": "y"},
        TOKEN,
        {"TRACKIO_PROJECT": "p"},
    )
    assert sorted(dropped) == ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LEAK"]
    assert env["MY_VAR"] == "1" and env["TRACKIO_PROJECT"] == "p" and env["TQDM_DISABLE"] == "1"
    assert TOKEN not in repr(env)


def test_labels_are_hub_safe():
    labels = job_labels("slack:T1:C1:1700000000.0001", "call_abc/1")
    assert all(c.isalnum() or c in "._-" for v in labels.values() for c in v)
    assert labels["ml-intern-session"].startswith("slack-T1-C1-")


# --------------------------------------------------------------------------- errors


def test_billing_detection_and_translation():
    assert is_billing_error(402, "")
    assert is_billing_error(403, "insufficient credits")
    assert not is_billing_error(403, "forbidden")
    err = translate_error(ConnectionError("boom"), "x", "http://hub")
    assert err.kind == "unreachable" and "http://hub" in err.message


def test_logtail_last_timestamp():
    t = LogTail(lines=["a", "b"], entries=[("2025-01-01T00:00:01.000Z", "a"), (None, "b")])
    assert t.last_timestamp == "2025-01-01T00:00:01.000Z"
    assert LogTail().last_timestamp is None
