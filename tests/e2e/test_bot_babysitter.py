"""The training babysitter in Slack, end to end (issue 16's "done when"), with the bot as
production builds it, the Slack emulator, the scripted LLM and the fake Hub's time-scaled
training jobs:

* a team sets its ``preferences.md`` in the thread; a bad file is refused with the errors;
* a job whose loss diverges gets, in the same polling tick that read the rising loss, a
  warning with the numbers; the agent is woken with the evidence and proposes the relaunch
  with the team's change; approving the card submits exactly one new job with that change;
* every finished run gets its curves as a PNG in the thread; ``history`` shows (and exports)
  the experiment log; ``compare`` draws both runs on one chart;
* an idle-GPU job gets an alert with a Cancel button (authorised and confirmed like the job
  card's), and the agent is not asked to stop anything by itself.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from agent_core.tools import hf_jobs, plan_tool
from agent_core.tools.router import ToolRouter
from bot.jobs.buttons import CANCEL_JOB_ACTION, SHOW_CURVES_ACTION
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub
from tests.fakes.fake_llm import call, last_user_text, text, tool_calls
from tests.fakes.slack_limits import validate_blocks
from tests.hub_harness import FAST_JOBS
from tests.integration.test_jobs_babysitter import POLICY
from tests.slack_harness import bot_env

BAD_POLICY = """```yaml
thresholds:
  gpu_idel_minutes: 15
rules:
  - when: loss_exploding
    do: relaunch
```
"""
COMMAND = ["python", "train.py", "--learning_rate", "5e-05", "--num_train_epochs", "3"]
RELAUNCHED = ["python", "train.py", "--learning_rate", "2.5e-05", "--num_train_epochs", "3"]
TRAIN = {
    "operation": "run",
    "command": COMMAND,
    "image": "pytorch/pytorch:latest",
    "hardware_flavor": "a10g-small",
    "timeout": "2h",
}


def keep_artifacts(files: dict[str, bytes]) -> None:
    """With ``BABYSITTER_ARTIFACTS`` set to a folder, keep what the thread got (for review)."""
    folder = os.environ.get("BABYSITTER_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (Path(folder) / name).write_bytes(data)


def shown_text(m) -> str:
    """What a person reads: the fallback text and the blocks (unescaped)."""
    return m.text + json.dumps(m.blocks or [], ensure_ascii=False)


def png_size(data: bytes) -> tuple[int, int]:
    from matplotlib.image import imread

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = imread(io.BytesIO(data), format="png").shape[:2]
    return width, height


@pytest.fixture
async def world(tmp_path, monkeypatch):
    async with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
        async with bot_env(
            tmp_path, config_overrides={"jobs": dict(FAST_JOBS)}, start=False
        ) as env:
            env.router = lambda: ToolRouter([*plan_tool.tools(None), *hf_jobs.tools(None)])  # type: ignore[method-assign]
            await env.start_bot()
            yield env, hub


async def approve_card(env, ts, index_text, user="U1"):
    card = await env.wait_reply(
        "C1", ts, lambda m: "ml_approval:approve:0" in shown_text(m) and index_text in shown_text(m)
    )
    await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user=user)
    return card


def curve_files(env):
    return [f for f in env.slack.files.values() if f.completed and f.filename.startswith("curves-")]


async def test_preferences_are_validated_and_shown_back(world):
    env, _hub = world
    ts, _ = await env.slack.mention("preferences set\n" + BAD_POLICY, channel="C1", user="U1")
    refused = await env.wait_reply("C1", ts, lambda m: "not* saved" in shown_text(m))
    shown = shown_text(refused)
    assert "rules.0.when" in shown and "loss_exploding" in shown and "rules.0.do" in shown
    await env.slack.mention("preferences", channel="C1", user="U1", thread_ts=ts)
    default = await env.wait_reply("C1", ts, lambda m: "built-in defaults" in shown_text(m))
    assert "no rules: warnings only" in shown_text(default)
    await env.slack.mention("preferences set\n" + POLICY, channel="C1", user="U1", thread_ts=ts)
    saved = await env.wait_reply("C1", ts, lambda m: "Saved." in shown_text(m))
    assert "on loss_diverging: propose relaunch with learning_rate x0.5" in shown_text(saved)
    assert "halve it and try again" in shown_text(saved)  # the team's prose, shown back
    assert "I can't post to `#ml-alerts`" in shown_text(saved)  # a name, not a channel link
    assert validate_blocks(saved.blocks) == []


async def test_diverging_run_is_relaunched_after_approval_with_the_change(world):
    env, hub = world
    hub.jobs.script_training(
        "diverging", steps=160, run_secs=5.0, match=lambda s: "5e-05" in s["command"]
    )
    hub.jobs.script_training(
        "healthy", steps=100, run_secs=1.0, match=lambda s: "2.5e-05" in s["command"]
    )
    ts, _ = await env.slack.mention("preferences set\n" + POLICY, channel="C1", user="U1")
    await env.wait_reply("C1", ts, lambda m: "Saved." in shown_text(m))

    env.llm.push(tool_calls(call("hf_jobs", TRAIN)), text("Training submitted."))
    await env.slack.mention("train distilbert on imdb", channel="C1", user="U1", thread_ts=ts)
    await approve_card(env, ts, "5e-05")
    # The agent, woken by the babysitter, proposes the relaunch with the team's change.
    env.llm.push(
        tool_calls(call("hf_jobs", {**TRAIN, "command": RELAUNCHED})),
        text("Relaunched with half the learning rate."),
    )
    warning = await env.wait_reply("C1", ts, lambda m: "loss is diverging" in shown_text(m))
    shown = shown_text(warning)
    assert "rose from" in shown and "the best" in shown  # the numbers
    assert "learning_rate 5e-05 → 2.5e-05" in shown and "propose a relaunch" in shown
    assert validate_blocks(warning.blocks) == []
    first_id = hub.jobs.all()[0].id
    await approve_card(env, ts, "2.5e-05")
    wake = next(r for r in env.llm.requests if "training babysitter" in last_user_text(r))
    assert "2.5e-05" in last_user_text(wake) and "rose from" in last_user_text(wake)
    await env.wait_reply(
        "C1", ts, lambda m: "your job" in shown_text(m) and first_id not in shown_text(m)
    )
    first_done = await env.wait_reply(
        "C1", ts, lambda m: "your job" in shown_text(m) and first_id in shown_text(m)
    )
    assert float(warning.ts) < float(first_done.ts)  # seen while it ran, not in the post-mortem
    jobs = hub.jobs.all()
    assert len(jobs) == 2  # exactly one new job
    assert jobs[1].command == RELAUNCHED and jobs[1].flavor == "a10g-small"
    # Every finished run gets its curves in the thread, once.
    await env.slack.wait_for(lambda: len(curve_files(env)) == 2 or None, timeout=20)
    await env.settle()
    files = curve_files(env)
    assert sorted(f.filename for f in files) == sorted(f"curves-{j.id}.png" for j in jobs)
    for f in files:
        width, height = png_size(f.content or b"")
        assert width == 1050 and height >= 900  # 7 in × 150 dpi, portrait: readable on a phone
    # The experiment log of the thread.
    await env.slack.mention("history", channel="C1", user="U1", thread_ts=ts)
    log = await env.wait_reply("C1", ts, lambda m: "Experiment log" in shown_text(m))
    body = shown_text(log)
    for needle in ("launched", "rule fired", "loss_diverging", "proposed", "approved", "finished"):
        assert needle in body, needle
    export = await env.slack.wait_for(
        lambda: next(
            (
                f
                for f in env.slack.files.values()
                if f.filename == "experiment-log.md" and f.completed
            ),
            None,
        )
    )
    markdown = (export.content or b"").decode()
    assert markdown.startswith("# Experiment log") and "learning_rate 5e-05 → 2.5e-05" in markdown
    # compare: both runs on one chart.
    await env.slack.mention("compare", channel="C1", user="U1", thread_ts=ts)
    chart = await env.slack.wait_for(
        lambda: next(
            (
                f
                for f in env.slack.files.values()
                if f.filename == "runs-compared.png" and f.completed
            ),
            None,
        )
    )
    assert png_size(chart.content or b"")[0] == 1050
    keep_artifacts(
        {
            "preferences.md": POLICY.encode(),
            "experiment-log.md": export.content or b"",
            "runs-compared.png": chart.content or b"",
            **{f.filename: f.content or b"" for f in files},
        }
    )
    assert ALICE_TOKEN not in json.dumps([shown_text(m) for m in env.slack.messages("C1")])


async def test_idle_gpu_gets_an_alert_with_a_cancel_proposal(world):
    env, hub = world
    hub.jobs.script_training("idle_gpu", steps=40, run_secs=30.0)
    policy = POLICY.replace('notify: ["#ml-alerts"]', 'notify: ["<#C0ALERTS|ml-alerts>"]')
    ts, _ = await env.slack.mention("preferences set\n" + policy, channel="C1", user="U1")
    await env.wait_reply("C1", ts, lambda m: "Saved." in shown_text(m))
    env.llm.push(tool_calls(call("hf_jobs", TRAIN)), text("Training submitted."))
    await env.slack.mention("train it", channel="C1", user="U1", thread_ts=ts)
    await approve_card(env, ts, "5e-05")
    alert = await env.wait_reply("C1", ts, lambda m: "GPU is idle" in shown_text(m))
    assert "averaged 2%" in shown_text(alert) and CANCEL_JOB_ACTION in shown_text(alert)
    job_id = hub.jobs.all()[0].id
    # "who to tell": the channel named in the preferences hears it too, once, with a link.
    told = await env.slack.wait_for_message("C0ALERTS", lambda m: "GPU is idle" in m.text)
    assert "From (<" in shown_text(told) and len(env.slack.messages("C0ALERTS")) == 1
    # Show curves on the job card while it runs: a second click replaces the first image.
    card = await env.wait_reply("C1", ts, lambda m: m.text.startswith(f"Job {job_id}:"))
    await env.slack.click_button("C1", card.ts, SHOW_CURVES_ACTION, user="U1")
    first = await env.slack.wait_for(lambda: next(iter(curve_files(env)), None))
    await env.slack.click_button("C1", card.ts, SHOW_CURVES_ACTION, user="U1")
    await env.slack.wait_for(
        lambda: (len(curve_files(env)) == 1 and curve_files(env)[0].id != first.id) or None
    )
    # Someone else may not cancel it; the requester may (after Slack's confirmation dialog).
    await env.slack.click_button("C1", alert.ts, CANCEL_JOB_ACTION, user="U2")
    await env.slack.wait_for(
        lambda: next((e for e in env.slack.ephemerals if "can cancel" in e["text"]), None)
    )
    assert hub.jobs.stage(job_id) == "RUNNING"
    await env.slack.click_button("C1", alert.ts, CANCEL_JOB_ACTION, user="U1")
    await env.wait_reply("C1", ts, lambda m: "was cancelled" in shown_text(m))
    assert hub.jobs.stage(job_id) == "CANCELED"
    # The agent was never asked to stop it: two LLM calls, both for the user's turn.
    assert not any("training babysitter" in last_user_text(r) for r in env.llm.requests)


async def test_attached_preferences_md_sets_them(world):
    """A person attaches their team's preferences.md to "@bot preferences": it is downloaded
    with the bot token (as every shared file) and validated; a broken one is answered with
    the errors."""
    from tests.e2e.test_slack_inbound import replay

    env, _hub = world
    f = env.slack.share_file("preferences.md", POLICY.encode())
    ts, _ = await replay(
        env,
        "bolt_file_share_png",
        event_type="app_mention",
        files=[f],
        text="<@U0BOT> preferences",
    )
    saved = await env.wait_reply("C1", ts, lambda m: "Saved." in shown_text(m))
    assert "on gpu_idle: stop" in shown_text(saved)
    assert any(c.args.get("file") == f["id"] for c in env.slack.calls_for("files-pri"))
    bad = env.slack.share_file("preferences.md", BAD_POLICY.encode())
    await replay(
        env,
        "bolt_file_share_png",
        event_type="app_mention",
        files=[bad],
        text="<@U0BOT> preferences",
        thread_ts=ts,
    )
    refused = await env.wait_reply("C1", ts, lambda m: "not* saved" in shown_text(m))
    assert "loss_exploding" in shown_text(refused)
