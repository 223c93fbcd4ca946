"""Who may change a thread: the requester and the configured approvers, nobody else, through
one policy for every control (commands, the Stop button, approval buttons); a button acts only
on its own thread; ``model`` switches only to allowed models.

Attacks observed: any channel member could ``stop`` (withdrawing the requester's approvals),
``undo``, ``compact`` or ``model <id>`` someone else's session; a Stop button value copied
into another channel stopped a session there; ``model ollama/x`` made the bot call
localhost:11434; ``yolo on`` was checked against the ``default`` class even where
``gpu_job: []`` means "the requester only". Real sockets: the bot against the Slack emulator.
"""

from __future__ import annotations

import asyncio
import json

from tests.fakes.fake_llm import call, text, tool_calls
from tests.fakes.fake_slack import TEAM_ID
from tests.slack_harness import bot_env

JOB = {"operation": "run", "script": "print(1)\n", "hardware_flavor": "a10g-large", "timeout": "2h"}


def refused(env, user: str, needle: str):
    return lambda: any(e["user"] == user and needle in e["text"] for e in env.slack.ephemerals)


def buttons(message) -> list[dict]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


async def test_channel_member_stops_undoes_compacts_and_switches_model_of_others_session(
    tmp_path,
) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(call("hf_jobs", JOB)))
        ts, _ = await env.slack.mention("train it", user="U1")
        await env.wait_reply("C1", ts, lambda m: "Approval needed" in m.text)
        sid = f"slack:{TEAM_ID}:C1:{ts}"
        for command in ("stop", "undo", "compact", "model openai/other", "cancel jobs"):
            await env.slack.message(command, thread_ts=ts, user="U2")
            await env.slack.wait_for(refused(env, "U2", "Only"), timeout=10)
            env.slack.ephemerals.clear()
        await env.settle()
        pending = await env.manager.approvals.pending(sid)
        assert len(pending) == 1, "the requester's approval was withdrawn"
        card = env.bot_replies("C1", ts)[-1]
        assert "Approval needed" in card.text and buttons(card)
        assert len(env.llm.requests) == 1 and env.hf_jobs.calls == []


async def test_forged_stop_button_stops_session_in_another_channel(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        hold_a, hold_b = asyncio.Event(), asyncio.Event()
        env.llm.push(text("A done", gate=hold_a))
        ts_a, _ = await env.slack.mention("long task A", channel="C1", user="U1")
        progress_a = await env.wait_reply(
            "C1", ts_a, lambda m: any("stop" in b["action_id"] for b in buttons(m))
        )
        env.llm.push(text("B done", gate=hold_b))
        ts_b, _ = await env.slack.mention("task B", channel="C2", user="U2")
        progress_b = await env.wait_reply(
            "C2", ts_b, lambda m: any("stop" in b["action_id"] for b in buttons(m))
        )
        stop_a = next(b for b in buttons(progress_a) if "stop" in b["action_id"])
        stop_b = next(b for b in buttons(progress_b) if "stop" in b["action_id"])
        # U2 clicks the Stop button on their own message in C2, carrying session A's value
        await env.slack.click_button(
            "C2", progress_b.ts, stop_b["action_id"], value=stop_a["value"], user="U2"
        )
        await env.slack.wait_for(
            lambda: any(
                "another conversation" in p.payload.get("text", "")
                for p in env.slack.response_url_posts
            ),
            timeout=10,
        )
        hold_a.set()
        await env.wait_answer("C1", ts_a, "A done")  # session A was not stopped
        hold_b.set()
        await env.wait_answer("C2", ts_b, "B done")


async def test_model_switch_to_a_local_endpoint(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("hi"))
        ts, _ = await env.slack.mention("hello", user="U1")
        await env.wait_answer("C1", ts, "hi")
        await env.slack.message("model ollama/llama3", thread_ts=ts, user="U1")
        await env.wait_reply("C1", ts, lambda m: "Model not changed" in m.text)
        info = await env.manager.session_info(f"slack:{TEAM_ID}:C1:{ts}")
        assert info["model"] == "openai/fake"
        # a model of the configured provider is still allowed
        await env.slack.message("model openai/other", thread_ts=ts, user="U1")
        await env.wait_reply("C1", ts, lambda m: "openai/other" in m.text and "not" not in m.text)


async def test_yolo_on_checked_against_default_class_not_gpu_class(tmp_path) -> None:
    settings = {"approvers": {"default": ["U2"], "gpu_job": []}}  # GPU: requester only
    async with bot_env(tmp_path, slack_settings=settings) as env:
        env.llm.push(text("hi"))
        ts, _ = await env.slack.mention("hello", user="U1")
        await env.wait_answer("C1", ts, "hi")
        await env.slack.message("yolo on 50", thread_ts=ts, user="U2")
        await env.slack.wait_for(refused(env, "U2", "YOLO"), timeout=10)
        await env.settle()
        assert not any("YOLO on" in m.text for m in env.bot_replies("C1", ts))


async def test_approval_button_value_replayed_from_another_channel(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(call("hf_jobs", JOB)))
        ts_a, _ = await env.slack.mention("train A", channel="C1", user="U1")
        card_a = await env.wait_reply("C1", ts_a, lambda m: "Approval needed" in m.text)
        env.llm.push(tool_calls(call("hf_jobs", {**JOB, "script": "print(2)\n"})))
        ts_b, _ = await env.slack.mention("train B", channel="C2", user="U1")
        card_b = await env.wait_reply("C2", ts_b, lambda m: "Approval needed" in m.text)
        approve_a = next(b for b in buttons(card_a) if b["action_id"].endswith("approve:0"))
        approve_b = next(b for b in buttons(card_b) if b["action_id"].endswith("approve:0"))
        assert json.loads(approve_a["value"])["s"] != json.loads(approve_b["value"])["s"]
        await env.slack.click_button(
            "C2", card_b.ts, approve_b["action_id"], value=approve_a["value"], user="U1"
        )
        await env.slack.wait_for(
            lambda: any(
                "another conversation" in p.payload.get("text", "")
                for p in env.slack.response_url_posts
            ),
            timeout=10,
        )
        await env.settle()
        assert env.hf_jobs.calls == []


def test_button_value_only_acts_in_its_own_thread_or_dm() -> None:
    from bot.access import click_in_place

    sid = "slack:T111:C1:100.000"
    here = {"container": {"channel_id": "C1", "message_ts": "101.0", "thread_ts": "100.000"}}
    other_thread = {"container": {"channel_id": "C1", "message_ts": "201.0", "thread_ts": "200.0"}}
    other_channel = {
        "container": {"channel_id": "C2", "message_ts": "101.0", "thread_ts": "100.000"}
    }
    assert click_in_place(here, sid)
    assert not click_in_place(other_thread, sid) and not click_in_place(other_channel, sid)
    # a DM conversation spans top-level messages of that one DM channel
    dm = "slack:T111:D9:100.000"
    assert click_in_place({"container": {"channel_id": "D9", "message_ts": "300.0"}}, dm)
    assert not click_in_place({"container": {"channel_id": "D8", "message_ts": "300.0"}}, dm)
