"""Conversations over real sockets: the Bolt app + Socket Mode handler against the Slack
emulator, the engine against the scripted LLM. Assertions are on Slack-side state."""

from __future__ import annotations

import asyncio
import re

from tests.fakes.fake_llm import call, last_user_text, text, tool_calls
from tests.slack_harness import all_text, bot_env, echo_tool, markdown_text
from tests.slack_payloads import said


async def test_mention_gets_a_threaded_answer_with_feedback(tmp_path) -> None:
    # A long progress delay: a quick text-only turn should post nothing but its answer.
    async with bot_env(tmp_path, slack_settings={"progress_delay_s": 30}) as env:
        env.llm.push(text("Fine-tuning **distilbert** is a good start."))
        ts, ack = await env.slack.mention("how do I fine-tune bert?")
        assert ack.latency_s < 1.0
        answer = await env.wait_answer("C1", ts, "distilbert")
        assert answer.thread_ts == ts and answer.blocks[0]["type"] == "markdown"
        await env.slack.wait_for(
            lambda: "white_check_mark" in env.slack.get_message("C1", ts).reactions
        )
        await env.settle()
        root = env.slack.get_message("C1", ts)
        assert "eyes" not in root.reactions  # replaced by the done mark
        assert [m.ts for m in env.bot_replies("C1", ts)] == [answer.ts]
        (req,) = env.llm.requests
        assert said(last_user_text(req)) == "how do I fine-tune bert?"  # our mention stripped
        assert last_user_text(req).startswith("Message from @")  # who said it
        status = env.slack.statuses[0]
        assert status["thread_ts"] == ts and status["status"]


async def test_tool_calls_show_in_one_progress_message(tmp_path) -> None:
    async with bot_env(tmp_path, tools=[echo_tool("lookup")]) as env:
        plan_shown = asyncio.Event()  # hold the model until the plan is on screen
        env.llm.push(
            tool_calls(
                call(
                    "plan_tool",
                    {"todos": [{"id": "1", "content": "Look it up", "status": "completed"}]},
                )
            ),
            tool_calls(
                call("lookup", {"query": "imdb"}),
                call("lookup", {"query": "sst2"}),
                gate=plan_shown,
            ),
            text("Both datasets are fine."),
        )
        ts, _ = await env.slack.mention("compare imdb and sst2")

        def plan_visible() -> bool:
            replies = env.bot_replies("C1", ts)
            return bool(replies) and any("Look it up" in all_text(v) for v in replies[0].versions)

        await env.slack.wait_for(plan_visible, timeout=30)  # first turn waits for litellm
        plan_shown.set()
        await env.wait_answer("C1", ts, "Both datasets")
        await env.settle()
        replies = env.bot_replies("C1", ts)
        assert len(replies) == 2  # one progress message, one answer
        progress = replies[0]
        assert "Done in" in progress.text and "3 tool calls" in progress.text
        assert not [b for b in progress.blocks if b["type"] == "actions"]  # Stop button gone
        seen = [all_text(v) for v in progress.versions]
        assert any("imdb" in s and "sst2" in s for s in seen)


async def test_follow_up_without_mention_and_separate_threads(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("first answer"), text("second answer"), text("other thread"))
        ts, _ = await env.slack.mention("first question")
        await env.wait_answer("C1", ts, "first answer")
        await env.slack.message("a follow-up, no mention", thread_ts=ts)
        await env.wait_answer("C1", ts, "second answer")
        contents = [
            said(m.get("content")) for m in env.llm.requests[1]["messages"] if m["role"] == "user"
        ]
        assert contents == ["first question", "a follow-up, no mention"]

        ts2, _ = await env.slack.mention("a new topic", channel="C1")
        await env.wait_answer("C1", ts2, "other thread")
        users = [
            said(m.get("content")) for m in env.llm.requests[2]["messages"] if m["role"] == "user"
        ]
        assert users == ["a new topic"]  # a separate session

        # A human thread the bot is not part of: ignored, but acked.
        root = env.slack.add_message("C1", "U2", "lunch?")
        _, ack = await env.slack.message("sure", thread_ts=root, user="U1")
        assert ack.envelope_id
        _, ack = await env.slack.message("top-level chatter", user="U2")
        await env.settle()
        assert env.bot_replies("C1", root) == [] and len(env.llm.requests) == 3


async def test_messages_during_a_turn_are_queued_in_order(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        gate = asyncio.Event()
        env.llm.push(text("answer one", gate=gate), text("answer two"))
        ts, _ = await env.slack.mention("question one")
        await env.llm.wait_for_requests(1, timeout=30)
        q2, _ = await env.slack.message("question two", thread_ts=ts)
        await env.slack.wait_for(
            lambda: "hourglass_flowing_sand" in env.slack.get_message("C1", q2).reactions
        )
        assert len(env.llm.requests) == 1  # not run in parallel
        gate.set()
        await env.wait_answer("C1", ts, "answer two")
        answers = [markdown_text(m) for m in env.bot_replies("C1", ts) if markdown_text(m)]
        assert answers == ["answer one", "answer two"]
        users = [
            said(m.get("content")) for m in env.llm.requests[1]["messages"] if m["role"] == "user"
        ]
        assert users == ["question one", "question two"]
        await env.settle()
        reactions = env.slack.get_message("C1", q2).reactions
        assert "hourglass_flowing_sand" not in reactions and "white_check_mark" in reactions


async def test_mention_inside_a_human_thread_is_seeded_with_its_messages(tmp_path) -> None:
    async with bot_env(tmp_path, slack_settings={"seed_thread_messages": 2}) as env:
        root = env.slack.add_message("C1", "U2", "our eval loss went up after epoch 3")
        env.slack.add_message("C1", "U3", "maybe the lr schedule?", thread_ts=root)
        env.slack.add_message("C1", "U2", "warmup was 0 steps", thread_ts=root)
        env.llm.push(text("Add warmup."))
        ts, _ = await env.slack.mention("what do you think?", thread_ts=root, user="U3")
        await env.wait_answer("C1", root, "Add warmup")
        first = last_user_text(env.llm.requests[0])
        assert re.search(
            r"\n@[\w-]+: maybe the lr schedule\?\n@[\w-]+: warmup was 0 steps\n", first
        )
        assert "eval loss went up" not in first  # only the 2 most recent were asked for
        assert first.endswith("what do you think?")
        assert env.slack.get_message("C1", ts).thread_ts == root


async def test_direct_messages(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("hello from the DM"), text("still here"))
        ts, _ = await env.slack.dm("hi bot")
        dm = env.slack.dm_channel("U1")
        await env.wait_answer(dm, ts, "hello from the DM")
        await env.slack.dm("and again", thread_ts=ts)
        await env.wait_answer(dm, ts, "still here")


async def test_duplicate_deliveries_are_handled_once(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("only once"))
        ts, ack = await env.slack.mention("do it once")
        # Slack's retry of the same event, a reconnect redelivery, and the `message` twin.
        await env.slack.redeliver(ack, retry_attempt=1, retry_reason="http_timeout")
        await env.slack.redeliver(ack, retry_attempt=2, retry_reason="timeout")
        twin = dict(ack.envelope["payload"]["event"], type="message", channel_type="channel")
        await env.slack.send_event(twin)
        await env.slack.request_reconnect()
        await env.slack.redeliver(ack, retry_attempt=3)
        await env.wait_answer("C1", ts, "only once")
        await env.settle()
        assert len(env.llm.requests) == 1
        replies = env.bot_replies("C1", ts)
        assert len([m for m in replies if markdown_text(m)]) == 1
        assert len(replies) == 2  # progress + answer, nothing twice
        assert len(env.slack.acks) == 5  # every delivery was acked


async def test_our_own_echoes_and_other_bots_are_ignored(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("answer"))
        ts, _ = await env.slack.mention("start")
        answer = await env.wait_answer("C1", ts, "answer")
        echo = {
            "type": "message",
            "channel": "C1",
            "user": "U0BOT",
            "bot_id": "B0BOT",
            "text": "answer",
            "ts": answer.ts,
            "thread_ts": ts,
        }
        await env.slack.send_event(echo)
        await env.slack.send_event(
            {
                "type": "message",
                "subtype": "message_changed",
                "channel": "C1",
                "ts": "9.9",
                "message": {"text": "x"},
            }
        )
        other = env.slack.add_message("C1", "U7", "<@U0BOT> I am another bot", thread_ts=ts)
        await env.slack.send_event(
            {
                "type": "app_mention",
                "channel": "C1",
                "user": "U7",
                "bot_id": "B7",
                "text": "<@U0BOT> hi",
                "ts": other,
                "thread_ts": ts,
            }
        )
        await env.settle()
        assert len(env.llm.requests) == 1


async def test_an_error_in_a_turn_is_one_clear_message(tmp_path) -> None:
    from tests.fakes.fake_llm import error

    async with bot_env(tmp_path) as env:
        env.llm.push(error(401, "Incorrect API key provided"), text("back to normal"))
        ts, _ = await env.slack.mention("break please")
        msg = await env.wait_reply("C1", ts, lambda m: "went wrong" in m.text)
        await env.settle()
        errors = [m for m in env.bot_replies("C1", ts) if "went wrong" in m.text]
        assert len(errors) == 1
        assert "warning" in env.slack.get_message("C1", ts).reactions
        assert "sk-fake-test-key" not in all_text(msg)
        await env.slack.message("try again", thread_ts=ts)
        await env.wait_answer("C1", ts, "back to normal")


async def test_commands_in_a_thread(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("ready"))
        ts, _ = await env.slack.mention("hello")
        await env.wait_answer("C1", ts, "ready")
        await env.slack.message("status", thread_ts=ts)
        status = await env.wait_reply("C1", ts, lambda m: "Status" in m.text)
        assert "openai/fake" in all_text(status)
        await env.slack.message("model openai/other", thread_ts=ts)
        await env.wait_reply("C1", ts, lambda m: "openai/other" in m.text)
        await env.slack.message("yolo on 3", thread_ts=ts)
        await env.wait_reply("C1", ts, lambda m: "YOLO on" in m.text)
        await env.slack.message("yolo on", thread_ts=ts, user="U2")  # not the requester
        await env.slack.wait_for(
            lambda: any("YOLO" in e["text"] and e["user"] == "U2" for e in env.slack.ephemerals)
        )
        await env.slack.message("help", thread_ts=ts)
        await env.wait_reply("C1", ts, lambda m: "How to work with me" in m.text)
        await env.slack.message("stop", thread_ts=ts)
        await env.slack.wait_for(
            lambda: any("Nothing is running" in e["text"] for e in env.slack.ephemerals)
        )
        await env.slack.message("undo", thread_ts=ts)
        await env.wait_reply("C1", ts, lambda m: "Undid the last turn" in m.text)
        assert len(env.llm.requests) == 1  # commands never reached the model
        # `status` where there is no session: a polite ephemeral, no session created.
        _, _ = await env.slack.mention("status", channel="C2")
        await env.slack.wait_for(
            lambda: any("no session" in e["text"] for e in env.slack.ephemerals)
        )


async def test_slash_command_starts_a_thread(tmp_path) -> None:
    import uuid

    async with bot_env(tmp_path) as env:
        env.llm.push(text("on it"))

        def slash(text_: str, user: str = "U1") -> dict:
            return {
                "envelope_id": str(uuid.uuid4()),
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "token": "x",
                    "team_id": "T111",
                    "channel_id": "C1",
                    "channel_name": "c1",
                    "user_id": user,
                    "user_name": "alice",
                    "command": "/ml-intern",
                    "text": text_,
                    "api_app_id": "A111",
                    "response_url": env.slack.new_response_url(channel="C1", user=user),
                    "trigger_id": env.slack.new_trigger(user),
                },
            }

        ack = await env.slack.push_envelope(slash("train bert on imdb"))
        assert ack.latency_s < 1.0
        root = await env.slack.wait_for_message(
            "C1", lambda m: m.is_bot and "asked: train bert on imdb" in m.text
        )
        assert "<@U1>" in root.text
        await env.wait_answer("C1", root.ts, "on it")
        assert said(last_user_text(env.llm.requests[0])) == "train bert on imdb"
        sid = f"slack:T111:C1:{root.ts}"
        origin = (await env.runtime.store.get_session(sid))["origin"]
        assert origin["requester"] == "U1" and origin["thread_ts"] == root.ts
        await env.slack.push_envelope(slash("help"))
        await env.slack.wait_for(lambda: env.slack.response_url_posts)
        assert "/ml-intern" in env.slack.response_url_posts[-1].payload["text"]


async def test_compact_command_reports_back(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("hello"))
        ts, _ = await env.slack.mention("hi")
        await env.wait_answer("C1", ts, "hello")
        await env.slack.message("compact", thread_ts=ts)
        await env.wait_reply(
            "C1", ts, lambda m: "compact" in m.text.lower() and ":compression:" in m.text
        )


async def test_job_events_become_one_card_that_follows_the_job(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("submitted"))
        ts, _ = await env.slack.mention("run a job")
        await env.wait_answer("C1", ts, "submitted")
        sid = f"slack:T111:C1:{ts}"
        emit = env.manager.emit
        await emit(
            sid,
            "job_started",
            {
                "job_id": "j42",
                "flavor": "a10g-large",
                "url": "http://hub/jobs/j42",
                "requester": "U1",
            },
        )
        card = await env.wait_reply("C1", ts, lambda m: m.text.startswith("Job j42"))
        await emit(
            sid,
            "job_progress",
            {"job_id": "j42", "stage": "RUNNING", "log_tail": ["step 10 loss=0.5"]},
        )
        await emit(
            sid,
            "job_finished",
            {"job_id": "j42", "stage": "COMPLETED", "wall_time_s": 65, "cost_usd": 0.04},
        )
        await env.slack.wait_for(lambda: "completed" in env.slack.get_message("C1", card.ts).text)
        await env.settle()
        cards = [m for m in env.bot_replies("C1", ts) if m.text.startswith("Job j42:")]
        assert len(cards) == 1
        final = all_text(cards[0])
        assert "1m 05s" in final and "$0.04" in final and "step 10 loss=0.5" in final
        assert "ml_job:logs" in final and "ml_job:cancel" not in final  # buttons follow the stage
        (done,) = [m for m in env.bot_replies("C1", ts) if "your job" in all_text(m)]
        assert "<@U1>" in all_text(done) and "completed" in all_text(done)


async def test_messages_during_llm_warm_up_wait_and_keep_their_order(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        warmup = env.runtime.warmup
        warmup.ready.clear()  # as right after start, while litellm is imported in a thread
        env.llm.push(text("answer A"), text("answer B"))
        ts, ack = await env.slack.mention("message A")
        assert ack.latency_s < 1.0
        await env.slack.wait_for(lambda: "eyes" in env.slack.get_message("C1", ts).reactions)
        b_ts, _ = await env.slack.message("message B", thread_ts=ts)  # routed: the thread is ours
        await env.slack.wait_for(
            lambda: "hourglass_flowing_sand" in env.slack.get_message("C1", b_ts).reactions
        )
        assert env.llm.requests == []  # nothing reached the engine yet
        warmup.ready.set()
        await env.wait_answer("C1", ts, "answer B")
        users = [
            said(m.get("content")) for m in env.llm.requests[1]["messages"] if m["role"] == "user"
        ]
        assert users == ["message A", "message B"]
