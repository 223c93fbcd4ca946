"""Approval cards over real sockets: approve, reject with a reason, who may click, double
clicks, cards after a restart, expiry, edited scripts, approve-all, stop while waiting."""

from __future__ import annotations

from typing import Any

from tests.fakes.fake_llm import call, text, tool_calls
from tests.slack_harness import BotEnv, all_text, bot_env, markdown_text

JOB = {
    "operation": "run",
    "script": "import trl\nprint('training')\n",
    "hardware_flavor": "a10g-large",
    "timeout": "2h",
    "image": "ghcr.io/astral-sh/uv:python3.12",
}


def gpu_job(**over: Any) -> Any:
    return call("hf_jobs", {**JOB, **over})


async def wait_card(env: BotEnv, ts: str, channel: str = "C1") -> Any:
    return await env.wait_reply(channel, ts, lambda m: "Approval needed" in m.text)


def last_ephemeral_reply(env: BotEnv) -> str:
    return env.slack.response_url_posts[-1].payload.get("text", "")


def tool_messages(env: BotEnv, request_index: int) -> list[str]:
    return [
        m.get("content") or ""
        for m in env.llm.requests[request_index]["messages"]
        if m.get("role") == "tool"
    ]


async def test_approve_runs_the_call_and_rewrites_the_card(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(gpu_job()), text("Training submitted."))
        ts, _ = await env.slack.mention("train it on a GPU")
        card = await wait_card(env, ts)
        shown = all_text(card)
        for expected in (
            "a10g-large",
            "2h",
            "ghcr.io/astral-sh/uv:python3.12",
            "$4.00",
            "print('training')",
        ):
            assert expected in shown, expected
        assert env.hf_jobs.calls == []
        ack = await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U1")
        assert ack.latency_s < 1.0
        await env.wait_answer("C1", ts, "Training submitted")
        assert env.hf_jobs.calls == [JOB]
        await env.settle()
        final = env.slack.get_message("C1", card.ts)
        assert "Approved" in final.text and "<@U1>" in all_text(final)
        assert not [b for b in final.blocks if b["type"] == "actions"]
        assert "Job submitted" in tool_messages(env, 1)[0]


async def test_reject_with_a_reason_goes_back_to_the_agent(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(gpu_job()), text("OK, I will use a smaller GPU."))
        ts, _ = await env.slack.mention("train it")
        card = await wait_card(env, ts)
        await env.slack.click_button("C1", card.ts, "ml_approval:reject:0", user="U1")
        view = await env.slack.wait_for(lambda: env.slack.open_views("U1"))
        assert view[0]["callback_id"] == "ml_reject"
        await env.slack.submit_view("ml_reject", {"reason": "too expensive, use a t4"}, user="U1")
        await env.wait_answer("C1", ts, "smaller GPU")
        assert env.hf_jobs.calls == []
        (tool_msg,) = tool_messages(env, 1)
        assert "rejected" in tool_msg and "too expensive, use a t4" in tool_msg
        await env.settle()
        final = all_text(env.slack.get_message("C1", card.ts))
        assert "Rejected" in final and "too expensive, use a t4" in final


async def test_only_the_requester_or_approvers_may_decide(tmp_path) -> None:
    async with bot_env(tmp_path, slack_settings={"approvers": {"gpu_job": ["U3"]}}) as env:
        env.llm.push(tool_calls(gpu_job()), text("done"))
        ts, _ = await env.slack.mention("train it", user="U1")
        card = await wait_card(env, ts)
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U2")
        await env.slack.wait_for(lambda: env.slack.response_url_posts)
        assert "not allowed" in last_ephemeral_reply(env)
        assert "<@U1>" in last_ephemeral_reply(env) and "<@U3>" in last_ephemeral_reply(env)
        await env.slack.click_button("C1", card.ts, "ml_approval:reject:0", user="U2")
        await env.slack.wait_for(lambda: len(env.slack.response_url_posts) == 2)
        assert env.slack.open_views("U2") == []  # no modal for someone who may not decide
        pending = await env.manager.approvals.pending(f"slack:T111:C1:{ts}")
        assert len(pending) == 1  # nothing happened
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U3")
        await env.wait_answer("C1", ts, "done")
        assert len(env.hf_jobs.calls) == 1


async def test_first_decision_wins_and_later_clicks_are_told(tmp_path) -> None:
    async with bot_env(tmp_path, slack_settings={"approvers": {"default": ["U2"]}}) as env:
        env.llm.push(tool_calls(gpu_job()), text("done"))
        ts, _ = await env.slack.mention("train it")
        card = await wait_card(env, ts)
        payload_card = env.slack.get_message("C1", card.ts)
        blocks_before = payload_card.blocks
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U1")
        # A second person clicks on their (stale) copy of the card.
        env.slack.get_message("C1", card.ts).blocks = blocks_before
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U2")
        await env.slack.wait_for(lambda: env.slack.response_url_posts)
        assert "Already approved by <@U1>" in last_ephemeral_reply(env)
        await env.wait_answer("C1", ts, "done")
        assert len(env.hf_jobs.calls) == 1


async def test_cards_keep_working_after_a_restart(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(gpu_job()))
        ts, _ = await env.slack.mention("train it")
        card = await wait_card(env, ts)
        await env.settle()
        await env.restart()
        env.llm.push(text("Submitted after the restart."))
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U1")
        await env.wait_answer("C1", ts, "after the restart")
        await env.settle()
        assert len(env.hf_jobs.calls) == 1
        cards = [m for m in env.bot_replies("C1", ts) if "Approv" in m.text]
        assert len(cards) == 1 and "Approved" in cards[0].text
        answers = [m for m in env.bot_replies("C1", ts) if markdown_text(m)]
        assert len(answers) == 1


async def test_an_unanswered_card_expires(tmp_path) -> None:
    async with bot_env(tmp_path, config_overrides={"approval_ttl_s": 0.2}) as env:
        env.llm.push(tool_calls(gpu_job()))
        ts, _ = await env.slack.mention("train it")
        card = await wait_card(env, ts)
        env.manager.wake_expiry()
        await env.slack.wait_for(
            lambda: "expired" in env.slack.get_message("C1", card.ts).text.lower(), timeout=10
        )
        await env.settle()
        final = env.slack.get_message("C1", card.ts)
        assert not [b for b in final.blocks if b["type"] == "actions"]  # nothing left to click
        assert env.hf_jobs.calls == [] and len(env.llm.requests) == 1


async def test_edit_script_then_approve(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(gpu_job()), text("Ran your version."))
        ts, _ = await env.slack.mention("train it")
        card = await wait_card(env, ts)
        await env.slack.click_button("C1", card.ts, "ml_approval:edit:0", user="U1")
        (view,) = await env.slack.wait_for(lambda: env.slack.open_views("U1"))
        assert "print('training')" in str(view["blocks"])
        await env.slack.submit_view(view["id"], {"script": "print('edited')\n"}, user="U1")
        await env.wait_answer("C1", ts, "Ran your version")
        assert env.hf_jobs.calls[0]["script"] == "print('edited')\n"
        assert "edited the script" in tool_messages(env, 1)[0]
        await env.settle()
        assert "script edited" in all_text(env.slack.get_message("C1", card.ts))


async def test_approve_all_and_reject_all(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(
            tool_calls(gpu_job(), gpu_job(hardware_flavor="t4-small")),
            text("Both running."),
            tool_calls(gpu_job(), gpu_job(hardware_flavor="l4x1")),
            text("Understood."),
        )
        ts, _ = await env.slack.mention("run both")
        card = await wait_card(env, ts)
        await env.slack.click_button("C1", card.ts, "ml_approval:approve_all", user="U1")
        await env.wait_answer("C1", ts, "Both running")
        assert sorted(c["hardware_flavor"] for c in env.hf_jobs.calls) == ["a10g-large", "t4-small"]

        await env.slack.message("again please", thread_ts=ts)
        second = await env.wait_reply(
            "C1", ts, lambda m: "Approval needed" in m.text and m.ts != card.ts
        )
        await env.slack.click_button("C1", second.ts, "ml_approval:reject_all", user="U1")
        (view,) = await env.slack.wait_for(lambda: env.slack.open_views("U1"))
        await env.slack.submit_view(view["id"], {}, user="U1")
        await env.wait_answer("C1", ts, "Understood")
        assert len(env.hf_jobs.calls) == 2


async def test_stop_while_waiting_withdraws_the_request(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(gpu_job()))
        ts, _ = await env.slack.mention("train it")
        card = await wait_card(env, ts)
        await env.slack.message("stop", thread_ts=ts)
        await env.wait_reply("C1", ts, lambda m: "Stopped by <@U1>" in all_text(m))
        await env.settle()
        final = env.slack.get_message("C1", card.ts)
        assert not [b for b in final.blocks if b["type"] == "actions"]
        assert env.hf_jobs.calls == [] and len(env.llm.requests) == 1


async def test_long_scripts_are_previewed_and_attached_in_full(tmp_path) -> None:
    script = "\n".join(f"print('line {i}')" for i in range(120))
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(gpu_job(script=script)))
        ts, _ = await env.slack.mention("train it")
        card = await wait_card(env, ts)
        shown = all_text(card)
        assert "line 3" in shown and "line 119" not in shown and "First 15 of 120 lines" in shown
        files = await env.slack.wait_for(
            lambda: [
                f for f in env.slack.files.values() if f.completed and f.filename == "script.py"
            ]
        )
        assert files[0].content.decode() == script
        assert files[0].shares["public"]["C1"][0]["thread_ts"] == ts
