"""Reliability over real sockets: stop mid-turn, rate limits on post and update, long output,
allow-lists, secrets, restarts (replay without double posts), shutdown mid-turn."""

from __future__ import annotations

import asyncio
import json

from tests.fakes.fake_llm import call, text, tool_calls
from tests.slack_harness import all_text, bot_env, echo_tool, markdown_text

HF_SECRET = "hf_" + "Q" * 34
SLACK_SECRET = "xoxb-111111111111-222222222222-abcdefabcdef"


async def test_stop_button_mid_turn(tmp_path) -> None:
    never = asyncio.Event()
    async with bot_env(tmp_path, tools=[echo_tool("slow", gate=never)]) as env:
        env.llm.push(tool_calls(call("slow", {"query": "forever"})))
        ts, _ = await env.slack.mention("do the slow thing")
        progress = await env.wait_reply(
            "C1", ts, lambda m: "slow" in all_text(m) and "ml_stop" in all_text(m)
        )
        ack = await env.slack.click_button("C1", progress.ts, "ml_stop", user="U2")
        assert ack.latency_s < 1.0
        await env.slack.wait_for(
            lambda: "Stopped by <@U2>" in all_text(env.slack.get_message("C1", progress.ts))
        )
        await env.settle()
        final = env.slack.get_message("C1", progress.ts)
        assert "ml_stop" not in all_text(final)
        assert "octagonal_sign" in env.slack.get_message("C1", ts).reactions
        assert len(env.llm.requests) == 1
        # The thread goes on afterwards.
        env.llm.push(text("back"))
        await env.slack.message("carry on", thread_ts=ts)
        await env.wait_answer("C1", ts, "back")


async def test_stop_command_while_the_model_thinks(tmp_path) -> None:
    async with bot_env(tmp_path, slack_settings={"progress_delay_s": 30}) as env:
        env.llm.push(text("never seen", gate=asyncio.Event()))
        ts, _ = await env.slack.mention("think hard")
        await env.llm.wait_for_requests(1, timeout=30)
        await env.slack.message("stop", thread_ts=ts)
        stopped = await env.wait_reply("C1", ts, lambda m: "Stopped by <@U1>" in m.text)
        await env.settle()
        assert [m.ts for m in env.bot_replies("C1", ts)] == [stopped.ts]


async def test_rate_limits_on_post_and_update_are_honoured(tmp_path) -> None:
    async with bot_env(tmp_path, tools=[echo_tool("lookup")]) as env:
        env.slack.fail_next(
            "chat.postMessage",
            status=429,
            retry_after=0,
            match=lambda a: "markdown" in str(a.get("blocks")),
        )
        env.slack.fail_next("chat.update", status=429, retry_after=0)
        env.llm.push(tool_calls(call("lookup", {"query": "x"})), text("answer despite 429s"))
        ts, _ = await env.slack.mention("go")
        await env.wait_answer("C1", ts, "answer despite 429s")
        await env.settle()
        assert env.slack.rate_limited["chat.postMessage"] == 1
        assert env.slack.rate_limited["chat.update"] == 1
        replies = env.bot_replies("C1", ts)
        assert len([m for m in replies if markdown_text(m)]) == 1
        assert "Done in" in _progress_final(replies)


def _progress_final(replies) -> str:
    return next(m.text for m in replies if not markdown_text(m))


async def test_ok_false_ratelimited_with_http_200_is_retried(tmp_path) -> None:
    async with bot_env(tmp_path, slack_settings={"progress_delay_s": 30}) as env:
        env.slack.fail_next("chat.postMessage", error="ratelimited", status=200, retry_after=0)
        env.llm.push(text("posted once"))
        ts, _ = await env.slack.mention("go")
        await env.wait_answer("C1", ts, "posted once")
        await env.settle()
        posts = env.slack.calls_for("chat.postMessage")
        assert [c.error for c in posts] == ["ratelimited", None]
        assert len(env.bot_replies("C1", ts)) == 1


async def test_a_slack_outage_delays_the_answer_but_never_loses_it(tmp_path) -> None:
    async with bot_env(tmp_path, slack_settings={"progress_delay_s": 30}) as env:
        env.slack.fail_next("chat.postMessage", status=503, count=2)
        env.llm.push(text("survived the outage"))
        ts, _ = await env.slack.mention("go")
        await env.wait_answer("C1", ts, "survived the outage")
        await env.settle()
        posts = env.slack.calls_for("chat.postMessage")
        assert [c.status for c in posts] == [503, 503, 200]
        assert len(env.bot_replies("C1", ts)) == 1


async def test_long_answers_are_split_and_huge_ones_uploaded(tmp_path) -> None:
    settings = {"message_chars": 1500, "upload_threshold_chars": 6000, "progress_delay_s": 30}
    async with bot_env(tmp_path, slack_settings=settings) as env:
        code = "\n".join(f"step_{i} = train(step={i})" for i in range(80))
        long_answer = "Here is the plan.\n\n```python\n" + code + "\n```\n\nThat's all."
        assert 1500 < len(long_answer) < 6000
        env.llm.push(text(long_answer, chunk_size=500))
        ts, _ = await env.slack.mention("write the script")
        await env.wait_answer("C1", ts, "That's all.")
        await env.settle()
        parts = [markdown_text(m) for m in env.bot_replies("C1", ts)]
        assert len(parts) >= 3
        for part in parts:
            assert len(part) <= 1500 and part.count("```") % 2 == 0
        body = "\n".join(parts)
        for i in (0, 40, 79):
            assert f"step_{i} = train(step={i})" in body

        huge = "# Report\n\n" + "\n".join(f"- row {i}: " + "value " * 10 for i in range(200))
        env.llm.push(text(huge, chunk_size=4000))
        await env.slack.message("now the full report", thread_ts=ts)
        preview = await env.wait_reply("C1", ts, lambda m: "attached below" in markdown_text(m))
        assert len(markdown_text(preview)) < 2000
        shared = await env.slack.wait_for(
            lambda: [
                f for f in env.slack.files.values() if f.completed and f.filename == "answer.md"
            ]
        )
        assert shared[0].content.decode() == huge.strip()


async def test_allow_lists_refuse_politely_once(tmp_path) -> None:
    settings = {"allowed_users": ["U1"], "allowed_channels": ["C1"]}
    async with bot_env(tmp_path, slack_settings=settings) as env:
        env.llm.push(text("hi U1"), text("hi in DM"))
        await env.slack.mention("let me in", user="U2")
        await env.slack.mention("please?", user="U2")
        await env.slack.mention("and here", channel="C9", user="U1")
        await env.slack.wait_for(lambda: len(env.slack.ephemerals) >= 2)
        ts, _ = await env.slack.mention("hello", user="U1")
        await env.wait_answer("C1", ts, "hi U1")
        dm_ts, _ = await env.slack.dm("in a DM", user="U1")
        await env.wait_answer(env.slack.dm_channel("U1"), dm_ts, "hi in DM")
        await env.settle()
        refusals = [(e["user"], e["channel"]) for e in env.slack.ephemerals]
        assert refusals == [("U2", "C1"), ("U1", "C9")]  # U2 was told once, not twice
        assert "allow-list" in env.slack.ephemerals[0]["text"]
        assert len(env.llm.requests) == 2
        assert env.slack.bot_messages("C9") == []

        # Buttons are input too: a click from someone not allowed is refused privately.
        env.llm.push(
            tool_calls(call("hf_jobs", {"operation": "run", "hardware_flavor": "a10g-large"}))
        )
        await env.slack.message("run a job", thread_ts=ts, user="U1")
        card = await env.wait_reply("C1", ts, lambda m: "Approval needed" in m.text)
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U2")
        await env.slack.wait_for(lambda: env.slack.response_url_posts)
        assert "allow-list" in env.slack.response_url_posts[-1].payload["text"]
        assert env.hf_jobs.calls == []


async def test_planted_secrets_are_never_posted(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "custom-hf-token-value-123")
    leaky = echo_tool("leaky")

    async def leak(args, ctx):
        return f"found HF_TOKEN=custom-hf-token-value-123 and {HF_SECRET}", True

    leaky.handler = leak
    async with bot_env(tmp_path, tools=[leaky]) as env:
        env.llm.push(
            tool_calls(call("leaky", {"query": f"with {SLACK_SECRET}"})),
            text(
                f"The token is {HF_SECRET}, the bot token {SLACK_SECRET}, custom-hf-token-value-123."
            ),
        )
        ts, _ = await env.slack.mention(f"my token is {HF_SECRET}")
        await env.wait_answer("C1", ts, "The token is")
        await env.slack.message("status", thread_ts=ts)
        await env.wait_reply("C1", ts, lambda m: "Status" in m.text)
        await env.settle()
        sent = json.dumps([c.args for c in env.slack.calls], default=str)
        for secret in (HF_SECRET, SLACK_SECRET, "custom-hf-token-value-123", "sk-fake-test-key"):
            assert secret not in sent, secret
        assert "[REDACTED" in sent


async def test_restart_replays_unrendered_events_without_double_posts(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("first answer"))
        ts, _ = await env.slack.mention("first")
        await env.wait_answer("C1", ts, "first answer")
        await env.settle()
        sid = f"slack:T111:C1:{ts}"

        # A "crash" between persisting events and drawing them: detach the renderer.
        env.manager.remove_listener(env.runtime.renderer.on_event)
        done = asyncio.Event()

        async def on_event(event) -> None:
            if event.session_id == sid and event.type == "turn_complete":
                done.set()

        env.manager.add_listener(on_event)
        env.llm.push(text("answer nobody drew yet"))
        await env.slack.message("second", thread_ts=ts)
        await asyncio.wait_for(done.wait(), 10)
        assert not any("nobody drew" in markdown_text(m) for m in env.bot_replies("C1", ts))

        await env.restart()
        await env.wait_answer("C1", ts, "answer nobody drew yet")
        await env.settle()

        # A post that reached Slack but whose ledger row was still "pending" (crash mid-post):
        # after the next restart the marker in the thread is found and nothing is re-posted.
        store = env.runtime.store
        row = await store.fetchone(
            "SELECT seq FROM slack_ledger WHERE session_id=? AND part='answer:0' ORDER BY seq DESC",
            (sid,),
        )
        await store.execute(
            "UPDATE slack_ledger SET status='pending', ts=NULL WHERE session_id=? AND seq=?",
            (sid, row["seq"]),
        )
        await store.execute(  # the renderer's cursor, as if the crash came before the post
            "UPDATE event_cursors SET seq=? WHERE consumer='slack' AND session_id=?",
            (row["seq"] - 1, sid),
        )
        await env.restart()
        await env.slack.wait_for_call("conversations.replies")
        await env.settle()
        await env.restart()
        await env.settle()
        answers = [markdown_text(m) for m in env.bot_replies("C1", ts) if markdown_text(m)]
        assert answers == ["first answer", "answer nobody drew yet"]
        entry = await env.runtime.renderer.ledger.get(sid, row["seq"], "answer:0")
        assert entry.status == "posted" and entry.ts


async def test_shutdown_mid_turn_says_so_in_the_thread(tmp_path) -> None:
    async with bot_env(tmp_path, tools=[echo_tool("slow", gate=asyncio.Event())]) as env:
        env.llm.push(tool_calls(call("slow", {"query": "x"})))
        ts, _ = await env.slack.mention("long job")
        await env.wait_reply("C1", ts, lambda m: "slow" in all_text(m))
        await env.stop_bot(grace_s=0.1)
        notes = [m for m in env.bot_replies("C1", ts) if "restart" in all_text(m)]
        assert notes, [m.text for m in env.bot_replies("C1", ts)]
        progress = next(m for m in env.bot_replies("C1", ts) if "slow" in all_text(m))
        assert "ml_stop" not in all_text(progress)
        await env.start_bot()
        env.llm.push(text("resumed"))
        await env.slack.message("continue", thread_ts=ts)
        await env.wait_answer("C1", ts, "resumed")
