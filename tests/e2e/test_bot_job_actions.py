"""Jobs in Slack: the job card's buttons (Cancel with confirmation and authorization, Show
logs as a file), the finished message that mentions the requester, and the whole flow
"mention → approval card → approve → job card → job ends → message in the thread" with the
real gateway, the Slack emulator, the scripted LLM and the fake Hub.

The payloads themselves are unit-tested in ``tests/unit/test_bot_job_buttons.py``. The bot
runs as production builds it (:class:`bot.startup.BotRuntime`): the renderer draws the
buttons and posts the finished message, and the app has the button listeners registered.
"""

from __future__ import annotations

import pytest

from agent_core.tools import hf_jobs, plan_tool
from agent_core.tools.router import ToolRouter
from bot.jobs.buttons import (
    CANCEL_JOB_ACTION,
    SHOW_LOGS_ACTION,
)
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub
from tests.fakes.fake_hub_jobs import training_log_lines
from tests.fakes.fake_llm import call, text, tool_calls
from tests.hub_harness import FAST_JOBS
from tests.slack_harness import all_text, bot_env

GPU_RUN = {
    "operation": "run",
    "script": "from trl import SFTTrainer\nprint('train distilbert on imdb')\n",
    "hardware_flavor": "a10g-small",
    "timeout": "2h",
}
# --------------------------------------------------------------------------- end to end


@pytest.fixture
async def world(tmp_path, monkeypatch):
    async with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)  # the bot builds its HubClient from the env
        monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
        async with bot_env(
            tmp_path, config_overrides={"jobs": dict(FAST_JOBS)}, start=False
        ) as env:
            env.router = lambda: ToolRouter([*plan_tool.tools(None), *hf_jobs.tools(None)])  # type: ignore[method-assign]
            await start(env)
            yield env, hub


async def start(env):
    runtime = await env.start_bot()
    assert runtime.manager.services.jobs is not None  # the watcher was attached after connect
    return runtime


def card_of(env, thread_ts, job_id):
    msgs = [m for m in env.bot_replies("C1", thread_ts) if m.text.startswith(f"Job {job_id}:")]
    return msgs[0] if msgs else None


async def wait_card(env, thread_ts, predicate, timeout=10.0):
    return await env.wait_reply(
        "C1", thread_ts, lambda m: m.text.startswith("Job ") and predicate(m), timeout
    )


async def mention_and_approve(env, user="U1"):
    env.llm.push(tool_calls(call("hf_jobs", GPU_RUN)))
    ts, _ = await env.slack.mention("train distilbert on imdb and push it", channel="C1", user=user)
    card = await env.wait_reply("C1", ts, lambda m: "ml_approval:approve:0" in all_text(m))
    assert "a10g-small" in all_text(card)
    env.llm.push(text("Submitted the job; I'll post here when it finishes."))
    await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user=user)
    job_card = await wait_card(env, ts, lambda m: True)
    job_id = job_card.text.split()[1].rstrip(":")
    return ts, job_id


async def test_mention_to_finished_message_in_thread(world):
    env, hub = world
    hub.jobs.script(logs=training_log_lines(steps=3), stages=["SCHEDULING", ("RUNNING", 0.8)])
    ts, job_id = await mention_and_approve(env)
    assert hub.jobs.get(job_id).flavor == "a10g-small"
    await env.wait_answer("C1", ts, "Submitted the job")
    done = await env.wait_reply(
        "C1", ts, lambda m: "your job" in all_text(m) and "completed" in all_text(m)
    )
    assert "<@U1>" in all_text(done) and job_id in all_text(done)
    await env.settle()
    card = card_of(env, ts, job_id)
    assert card is not None and "completed" in card.text
    assert CANCEL_JOB_ACTION not in all_text(card) and SHOW_LOGS_ACTION in all_text(card)
    assert "loss" in all_text(card)  # metrics / last log lines on the card
    finished = [m for m in env.bot_replies("C1", ts) if "your job" in all_text(m)]
    assert len(finished) == 1
    assert all(ALICE_TOKEN not in all_text(m) for m in env.slack.messages("C1"))


async def test_cancel_button_is_authorized_and_confirmed(world):
    env, hub = world
    hub.jobs.script(manual=True, logs=["step=1 loss=0.9"])
    ts, job_id = await mention_and_approve(env, user="U1")
    hub.jobs.set_stage(job_id, "RUNNING")
    card = await wait_card(
        env, ts, lambda m: "running" in m.text and CANCEL_JOB_ACTION in all_text(m)
    )
    cancel = next(
        e
        for b in card.blocks
        for e in b.get("elements", [])
        if e.get("action_id") == CANCEL_JOB_ACTION
    )
    assert cancel["confirm"]["title"]["text"] == "Cancel this job?"
    # someone else in the channel may not cancel it
    await env.slack.click_button("C1", card.ts, CANCEL_JOB_ACTION, user="U2")
    refusal = await env.slack.wait_for(
        lambda: next((e for e in env.slack.ephemerals if "can cancel" in e["text"]), None)
    )
    assert refusal["user"] == "U2" and "<@U1>" in refusal["text"]
    assert hub.jobs.stage(job_id) == "RUNNING"
    # the requester may
    await env.slack.click_button("C1", card.ts, CANCEL_JOB_ACTION, user="U1")
    done = await env.wait_reply("C1", ts, lambda m: "was cancelled" in all_text(m))
    assert hub.jobs.stage(job_id) == "CANCELED" and "<@U1>" in all_text(done)
    await env.settle()
    card = card_of(env, ts, job_id)
    assert "canceled" in card.text and CANCEL_JOB_ACTION not in all_text(card)


async def test_approver_may_cancel_and_show_logs_uploads_a_file(world):
    env, hub = world
    env.runtime.settings.approvers.gpu_job = ["U3"]
    hub.jobs.script(manual=True, logs=[f"step={i} loss={1 / (i + 1):.3f}" for i in range(30)])
    ts, job_id = await mention_and_approve(env, user="U1")
    hub.jobs.set_stage(job_id, "RUNNING")
    card = await wait_card(
        env, ts, lambda m: "running" in m.text and SHOW_LOGS_ACTION in all_text(m)
    )
    await env.slack.click_button("C1", card.ts, SHOW_LOGS_ACTION, user="U2")
    upload = await env.slack.wait_for(
        lambda: next((f for f in env.slack.files.values() if f.completed), None)
    )
    assert upload.filename == f"job-{job_id}.log" and b"step=29 loss=0.033" in (
        upload.content or b""
    )
    await env.slack.click_button("C1", card.ts, SHOW_LOGS_ACTION, user="U2")
    await env.slack.wait_for(
        lambda: any("just uploaded" in e["text"] for e in env.slack.ephemerals)
    )
    assert len([f for f in env.slack.files.values() if f.completed]) == 1
    await env.slack.click_button("C1", card.ts, CANCEL_JOB_ACTION, user="U3")
    done = await env.wait_reply("C1", ts, lambda m: "was cancelled" in all_text(m))
    assert "Cancelled by <@U3>" in all_text(done)


async def test_job_finishing_while_bot_is_down_is_reported_once_after_restart(world):
    env, hub = world
    hub.jobs.script(manual=True, logs=["step=1 loss=0.9"])
    ts, job_id = await mention_and_approve(env)
    hub.jobs.set_stage(job_id, "RUNNING")
    await wait_card(env, ts, lambda m: "running" in m.text)
    await env.settle()
    await env.stop_bot()
    hub.jobs.set_stage(job_id, "COMPLETED")
    await start(env)
    done = await env.wait_reply("C1", ts, lambda m: "your job" in all_text(m))
    assert "while I was offline" in all_text(done)
    await env.settle()
    card = card_of(env, ts, job_id)
    assert "completed" in card.text  # the same card was edited, not a new one posted
    assert len([m for m in env.bot_replies("C1", ts) if m.text.startswith(f"Job {job_id}:")]) == 1
    await env.stop_bot()
    await start(env)
    await env.settle()
    assert len([m for m in env.bot_replies("C1", ts) if "your job" in all_text(m)]) == 1
