"""What people send in Slack reaches the agent intact (issue 12), over real sockets.

Payloads are replayed from tests/data/slack/ (Slack's documented examples, bolt-python's
fixtures, slack-web's captures from a real workspace; the source is in each file) through the
Socket Mode emulator to the real Bolt app; assertions are on what reaches the LLM request (the
scripted LLM server records every request) and on what is posted in Slack.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from agent_core.tools.base import session_workspace
from tests import slack_payloads
from tests.fakes.fake_llm import last_user_text, text
from tests.fakes.fake_slack import BOT_USER_ID, TEAM_ID
from tests.slack_harness import BotEnv, bot_env
from tests.slack_payloads import said

CODE = "def f(x) -> bool:\n    if x < 3 and x > 0:\n        return x & 1 == 1\n    return False"


def user_texts(req: Any) -> list[str]:
    return [str(m.get("content")) for m in req["messages"] if m["role"] == "user"]


async def replay(
    env: BotEnv,
    name: str,
    *,
    channel: str = "C1",
    user: str = "U1",
    thread_ts: str | None = None,
    event_type: str | None = None,
    files: list[dict[str, Any]] | None = None,
    text: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Store the fixture's message in the emulator (so reactions and replies find it) and
    push its event with our channel/user/ts; returns (ts, event). ``text`` replaces the
    fixture's words (and drops its blocks, as a client without rich text would send)."""
    ev = slack_payloads.event(name)
    if text is not None:
        ev["text"], ev["blocks"] = text, []
    blocks = ev.get("blocks") or []
    ts = env.slack.add_message(channel, user, ev.get("text") or "", thread_ts, blocks=blocks)
    ev.update(channel=channel, user=user, ts=ts, event_ts=ts, team=TEAM_ID)
    ev["channel_type"] = "im" if channel.startswith("D") else "channel"
    if thread_ts:
        ev["thread_ts"] = thread_ts
    if event_type:
        ev["type"] = event_type
    if files is not None:
        ev["files"] = files
        ev.setdefault("subtype", "file_share") if ev["type"] == "message" else None
    await env.slack.send_event(ev)
    return ts, ev


async def queued_behind_a_running_turn(
    env: BotEnv, queued_text: str, *replies: Any
) -> tuple[str, str, asyncio.Event]:
    """A turn held open by a gate, and a follow-up queued behind it (⏳ on it): the state in
    which edits and deletes of a queued message matter. Returns (root, queued ts, gate)."""
    gate = asyncio.Event()
    env.llm.push(text("answer one", gate=gate), *replies)
    ts, _ = await env.slack.mention("question one")
    await env.llm.wait_for_requests(1, timeout=30)
    queued, _ = await env.slack.message(queued_text, thread_ts=ts)
    await env.slack.wait_for(
        lambda: "hourglass_flowing_sand" in env.slack.get_message("C1", queued).reactions
    )
    return ts, queued, gate


def edit_event(channel: str, ts: str, user: str, old: str, new: str, **msg: Any) -> dict:
    """A message_changed event as documented (docs.slack.dev message_changed example)."""
    ev = slack_payloads.event("docs_message_changed")
    ev.update(channel=channel, ts=f"{float(ts) + 5:.6f}", channel_type="channel")
    ev["message"] = {"type": "message", "user": user, "text": new, "ts": ts, **msg}
    ev["message"]["edited"] = {"user": user, "ts": ev["ts"]}
    ev["previous_message"] = {"type": "message", "user": user, "text": old, "ts": ts, **msg}
    return ev


def delete_event(channel: str, ts: str, user: str, old: str, **msg: Any) -> dict:
    """A message_deleted event (slack-web's capture from a real workspace, ids replaced)."""
    ev = slack_payloads.event("slackweb_message_deleted")
    ev.update(channel=channel, deleted_ts=ts, ts=f"{float(ts) + 7:.6f}", channel_type="channel")
    ev["previous_message"] = {"type": "message", "user": user, "text": old, "ts": ts, **msg}
    return ev


async def test_pasted_code_links_channels_and_people_reach_the_model(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.slack.add_user("U0ALICE", "alice.k", real_name="Alice K")
        env.slack.add_channel("C0DATA", name="datasets")
        env.llm.push(text("Looks fine."), text("Same."))
        ts, _ = await replay(env, "composed_pasted_code_mention")
        await env.wait_answer("C1", ts, "Looks fine.")
        got = said(last_user_text(env.llm.requests[0]))
        assert got == (
            "why does this fail? see [the docs](https://huggingface.co/docs/transformers) and "
            "#datasets, cc @alice.k @here\n```\n" + CODE + "\n```\nliteral &lt;tag&gt; stays"
        )
        # The same message from a client that sends no blocks: byte for byte the same.
        ev = slack_payloads.event("composed_pasted_code_mention")
        ts2 = env.slack.add_message("C1", "U1", ev["text"], blocks=[])
        ev.update(channel="C1", user="U1", ts=ts2, event_ts=ts2, team=TEAM_ID)
        del ev["blocks"]
        await env.slack.send_event(ev)
        await env.wait_answer("C1", ts2, "Same.")
        assert said(last_user_text(env.llm.requests[1])) == got


async def test_markup_without_blocks_names_groups_channels_and_people(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.slack.set_usergroup("S0MLE", ["U1", "U2"], handle="ml-leads-now")
        env.slack.add_channel("C0DATA", name="datasets")
        env.slack.add_user("U0ALICE", "alice.k")  # the label in the text says "alice": stale
        env.llm.push(text("ok"))
        ts, _ = await replay(env, "composed_no_blocks_markup", event_type="app_mention")
        await env.wait_answer("C1", ts, "ok")
        assert said(last_user_text(env.llm.requests[0])) == (
            "ping @ml-leads-now and @channel about https://example.com/a?b=1&c=2 on Feb 18, "
            "2014, mail bob@example.com, see #datasets and @alice.k\n    indented line & more"
        )


async def test_forward_with_empty_text_is_content_not_the_help_card(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("Noted the forward."))
        dm = env.slack.dm_channel("U1")
        ts, ev = await replay(env, "slackweb_forwarded_message", channel=dm)
        assert ev["text"] == ""
        await env.wait_answer(dm, ts, "Noted the forward.")
        got = said(last_user_text(env.llm.requests[0]))
        assert got.startswith("[Forwarded message from lev in #")
        assert got.endswith("> 123")
        assert not any("How to work with me" in m.text for m in env.slack.bot_messages(dm))


async def test_small_csv_inline_and_large_csv_as_preview_plus_workspace_file(tmp_path) -> None:
    rows = ["text,label"] + [f"an example review number {i},{i % 2}" for i in range(10_000)]
    big = ("\n".join(rows) + "\n").encode()
    small = ("\n".join(rows[:60]) + "\n").encode()
    assert len(small) < 2_500 and len(big) > 300_000
    async with bot_env(tmp_path) as env:
        env.llm.push(text("Got the small one."), text("Got the big one."))
        f_small = env.slack.share_file("train.csv", small)
        ts, _ = await replay(
            env, "bolt_file_share_png", event_type="app_mention", files=[f_small]
        )  # bolt's file_share event shape, with our CSV instead of its PNG
        await env.wait_answer("C1", ts, "Got the small one.")
        first = last_user_text(env.llm.requests[0])
        assert small.decode() in first  # the whole file, in the first request
        assert "saved in your workspace as `train.csv`" in first
        ws = session_workspace(env.state_dir, f"slack:{TEAM_ID}:C1:{ts}")
        assert (ws / "train.csv").read_bytes() == small

        f_big = env.slack.share_file("reviews.csv", big)
        ts2, _ = await replay(env, "bolt_file_share_png", event_type="app_mention", files=[f_big])
        await env.wait_answer("C1", ts2, "Got the big one.")
        second = last_user_text(env.llm.requests[1])
        assert "10001 lines" in second and "too large to show whole" in second
        assert "Schema: 2 columns: text (str), label (int)" in second
        assert "an example review number 0,0" in second
        assert "an example review number 9999" not in second and len(second) < 8_000
        ws2 = session_workspace(env.state_dir, f"slack:{TEAM_ID}:C1:{ts2}")
        assert (ws2 / "reviews.csv").read_bytes() == big
        manifest = json.loads((ws2 / ".slack_files.json").read_text())
        assert list(manifest) == [f_big["id"]]
        downloads = env.slack.calls_for("files-pri")  # once each, with the bot token
        assert [(c.args["file"], c.args["authorized"]) for c in downloads] == [
            (f_small["id"], True),
            (f_big["id"], True),
        ]


async def test_slack_connect_file_stub_is_fetched_through_files_info(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("Read your config."))
        real = env.slack.share_file("config.yaml", b"lr: 0.001\nepochs: 2\n")
        stub = slack_payloads.event("slackweb_message_file_share_slack_connect")["files"][0]
        stub["id"] = real["id"]  # the captured stub shape, pointing at a file the fake holds
        ts, _ = await replay(
            env, "slackweb_message_file_share_slack_connect", event_type="app_mention",
            files=[stub],
        )  # fmt: skip
        await env.wait_answer("C1", ts, "Read your config.")
        assert "```yaml\nlr: 0.001\nepochs: 2\n```" in last_user_text(env.llm.requests[0])
        assert [c.args.get("file") for c in env.slack.calls_for("files.info")] == [real["id"]]


async def test_thread_broadcast_reply_is_a_follow_up(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("first"), text("second"))
        ts, _ = await env.slack.mention("start")
        await env.wait_answer("C1", ts, "first")
        await replay(env, "bolt_thread_broadcast", thread_ts=ts)  # "also send to #channel"
        await env.wait_answer("C1", ts, "second")
        assert said(last_user_text(env.llm.requests[1])) == "Hi there!"


async def test_two_top_level_dms_are_one_conversation_until_new(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(
            text("Training with 3 epochs."),
            text("OK, 2 epochs."),
            text("Logging to trackio."),
            text("Hi again."),
        )
        dm = env.slack.dm_channel("U1")
        first, _ = await env.slack.dm("fine-tune bert on imdb with 3 epochs")
        await env.wait_answer(dm, first, "Training with 3 epochs.")
        second, _ = await env.slack.dm("use 2 epochs instead")
        await env.wait_answer(dm, first, "OK, 2 epochs.")  # the conversation's thread
        assert [said(t) for t in user_texts(env.llm.requests[1])] == [
            "fine-tune bert on imdb with 3 epochs",
            "use 2 epochs instead",
        ]
        # A reply in the thread of the second DM belongs to the same conversation.
        await env.slack.dm("and log to trackio", thread_ts=second)
        await env.wait_answer(dm, first, "Logging to trackio.")
        assert [said(t) for t in user_texts(env.llm.requests[2])][-1] == "and log to trackio"
        assert len(user_texts(env.llm.requests[2])) == 3
        await env.slack.dm("new")
        await env.slack.wait_for_message(dm, lambda m: m.is_bot and "Starting fresh" in m.text)
        third, _ = await env.slack.dm("hello")
        await env.wait_answer(dm, third, "Hi again.")
        assert [said(t) for t in user_texts(env.llm.requests[3])] == ["hello"]
        assert len(env.llm.requests) == 4  # "new" is not a turn


async def test_dm_idle_time_starts_a_new_conversation(tmp_path) -> None:
    async with bot_env(tmp_path, slack_settings={"dm_idle_hours": 1}) as env:
        env.llm.push(text("one"), text("two"))
        dm = env.slack.dm_channel("U1")
        first, _ = await env.slack.dm("first request")
        await env.wait_answer(dm, first, "one")
        # As if the person went quiet for two hours.
        entry = await env.runtime.store.kv_get("slack_dm_sessions", dm)
        entry["last"] -= 2 * 3600
        await env.runtime.store.kv_set("slack_dm_sessions", dm, entry)
        later, _ = await env.slack.dm("a new day")
        await env.wait_answer(dm, later, "two")
        assert [said(t) for t in user_texts(env.llm.requests[1])] == ["a new day"]


async def test_authors_are_named_and_colleague_chatter_is_context_not_a_turn(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("Plan: lr 5e-5."), text("Switching to 3e-5."))
        ts, _ = await env.slack.mention("train bert", user="U1")
        await env.wait_answer("C1", ts, "Plan: lr 5e-5.")
        assert last_user_text(env.llm.requests[0]).startswith(
            "Message from @alice (the requester):\n"
        )
        # Bob asks Alice, not the bot: no turn.
        await env.slack.message("<@U1> do you agree with that lr?", thread_ts=ts, user="U2")
        await env.slack.message("yes, go on", thread_ts=ts, user="U1")  # a follow-up: a turn
        await env.wait_answer("C1", ts, "Switching to 3e-5.")
        await env.settle()
        assert len(env.llm.requests) == 2
        last = last_user_text(env.llm.requests[1])
        assert "@bob: @alice do you agree with that lr?" in last
        assert last.endswith("Message from @alice (the requester):\nyes, go on")


async def test_a_file_a_colleague_hands_a_colleague_is_there_next_turn(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("Waiting for data."), text("Using bob's labels."))
        ts, _ = await env.slack.mention("train a classifier", user="U1")
        await env.wait_answer("C1", ts, "Waiting for data.")
        labels = env.slack.share_file("labels.csv", b"id,label\n1,pos\n2,neg\n", user="U2")
        # bolt's file_share event shape; Bob's words are to Alice, not to the bot.
        await replay(
            env, "bolt_file_share_png", user="U2", thread_ts=ts, files=[labels],
            text="<@U1> here are the labels",
        )  # fmt: skip
        await env.settle()
        assert len(env.llm.requests) == 1  # no turn for it
        assert [c.args["file"] for c in env.slack.calls_for("files-pri")] == [labels["id"]]
        await env.slack.message("use them", thread_ts=ts, user="U1")
        await env.wait_answer("C1", ts, "Using bob's labels.")
        last = last_user_text(env.llm.requests[1])
        assert "@bob: @alice here are the labels" in last
        assert "```csv\nid,label\n1,pos\n2,neg\n```" in last
        assert last.endswith("Message from @alice (the requester):\nuse them")


async def test_a_mention_from_a_colleague_is_a_turn_with_their_name(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("first"), text("second"))
        ts, _ = await env.slack.mention("train bert", user="U1")
        await env.wait_answer("C1", ts, "first")
        await env.slack.mention("<@U0BOT> also ask <@U1> about data", thread_ts=ts, user="U2")
        await env.wait_answer("C1", ts, "second")
        assert last_user_text(env.llm.requests[1]) == (
            "Message from @bob:\nalso ask @alice about data"
        )


async def test_editing_a_queued_message_updates_it(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        ts, q2, gate = await queued_behind_a_running_turn(env, "use 3 epochs", text("answer two"))
        await env.slack.send_event(
            edit_event("C1", q2, "U1", "use 3 epochs", "use 2 epochs", thread_ts=ts)
        )
        await env.slack.wait_for(lambda: "pencil2" in env.slack.get_message("C1", q2).reactions)
        gate.set()
        await env.wait_answer("C1", ts, "answer two")
        users = user_texts(env.llm.requests[1])
        assert users[-1] == "Message from @alice (the requester):\nuse 2 epochs"  # as if sent so
        assert not any("use 3 epochs" in u for u in users)
        assert len(env.llm.requests) == 2


async def test_editing_a_queued_message_with_a_file_keeps_the_file(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        gate = asyncio.Event()
        env.llm.push(text("answer one", gate=gate), text("answer two"))
        ts, _ = await env.slack.mention("question one")
        await env.llm.wait_for_requests(1, timeout=30)
        cfg = env.slack.share_file("cfg.yaml", b"epochs: 3\n")
        q2, _ = await replay(
            env, "bolt_file_share_png", thread_ts=ts, files=[cfg], text="use this config"
        )
        await env.slack.wait_for(
            lambda: "hourglass_flowing_sand" in env.slack.get_message("C1", q2).reactions
        )
        edited = edit_event("C1", q2, "U1", "use this config", "use this config, 2 epochs")
        edited["message"].update(thread_ts=ts, files=[cfg])
        await env.slack.send_event(edited)
        await env.slack.wait_for(lambda: "pencil2" in env.slack.get_message("C1", q2).reactions)
        gate.set()
        await env.wait_answer("C1", ts, "answer two")
        last = user_texts(env.llm.requests[1])[-1]
        assert last.startswith("Message from @alice (the requester):\nuse this config, 2 epochs")
        assert "```yaml\nepochs: 3\n```" in last
        assert len(env.slack.calls_for("files-pri")) == 1  # not downloaded again


async def test_editing_an_answered_message_is_a_correction(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("Training on imdb."), text("Switching to sst2."))
        ts, _ = await env.slack.mention("train on imdb")
        await env.wait_answer("C1", ts, "Training on imdb.")
        await env.slack.send_event(
            edit_event(
                "C1", ts, "U1", f"<@{BOT_USER_ID}> train on imdb", f"<@{BOT_USER_ID}> train on sst2"
            )  # fmt: skip
        )
        await env.wait_answer("C1", ts, "Switching to sst2.")
        assert last_user_text(env.llm.requests[1]) == (
            "(edited) Message from @alice (the requester):\ntrain on sst2"
        )
        await env.slack.wait_for(lambda: "repeat" in env.slack.get_message("C1", ts).reactions)


async def test_an_unfurl_is_not_an_edit(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("ok"))
        ts, _ = await env.slack.mention("see https://hf.co")
        await env.wait_answer("C1", ts, "ok")
        same = f"<@{BOT_USER_ID}> see <https://hf.co>"
        ev = edit_event("C1", ts, "U1", same, same)
        ev["message"]["attachments"] = [{"title": "Hugging Face", "from_url": "https://hf.co"}]
        await env.slack.send_event(ev)
        await env.settle()
        assert len(env.llm.requests) == 1


async def test_editing_in_the_mention_starts_the_session(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        env.llm.push(text("On it."))
        ts, _ = await env.slack.message("can someone train bert?", user="U1")
        await env.settle()
        assert env.llm.requests == []  # not addressed to the bot
        await env.slack.send_event(
            edit_event(
                "C1",
                ts,
                "U1",
                "can someone train bert?",
                f"<@{BOT_USER_ID}> can someone train bert?",
            )  # fmt: skip
        )
        await env.wait_answer("C1", ts, "On it.")
        assert said(last_user_text(env.llm.requests[0])) == "can someone train bert?"


async def test_deleting_a_queued_message_drops_it(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        ts, q2, gate = await queued_behind_a_running_turn(
            env, "and push it to the hub", text("never")
        )
        await env.slack.send_event(delete_event("C1", q2, "U1", "and push it", thread_ts=ts))
        note = await env.slack.wait_for_call("chat.postEphemeral")
        assert "dropped it from my queue" in note.args["text"] and note.args["user"] == "U1"
        gate.set()
        await env.wait_answer("C1", ts, "answer one")
        await env.settle()
        assert len(env.llm.requests) == 1


async def test_deleting_the_running_message_offers_stop(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        gate = asyncio.Event()
        env.llm.push(text("slow answer", gate=gate))
        ts, _ = await env.slack.mention("a long task")
        await env.llm.wait_for_requests(1, timeout=30)
        await env.slack.send_event(delete_event("C1", ts, "U1", f"<@{BOT_USER_ID}> a long task"))
        note = await env.slack.wait_for_call("chat.postEphemeral")
        assert "Stop that work?" in note.args["text"]
        blocks = note.args["blocks"]
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        assert blocks[1]["elements"][0]["action_id"] == "ml_stop"
        gate.set()


async def test_unmatched_interactive_payloads_are_acked(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        for name in (
            "bolt_view_closed",
            "bolt_global_shortcut",
            "bolt_message_shortcut",
            "bolt_block_suggestion",
        ):
            payload = slack_payloads.load(name)
            if payload.get("response_url"):  # loopback, never hooks.slack.com
                payload["response_url"] = env.slack.new_response_url(channel="C1", user="U1")
            envelope = {
                "envelope_id": str(uuid.uuid4()),
                "type": "interactive",
                "accepts_response_payload": payload.get("type") == "block_suggestion",
                "payload": payload,
            }
            ack = await env.slack.push_envelope(envelope, ack_timeout=5)
            assert ack.envelope_id == envelope["envelope_id"], name
        await env.slack.wait_for(lambda: env.slack.response_url_posts)
        assert "shortcuts" in env.slack.response_url_posts[-1].payload["text"]


async def test_slash_command_without_text_explains_itself(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        payload = slack_payloads.load("bolt_slash_command")
        payload.update(
            command="/ml-intern",
            text="",
            channel_id="C1",
            user_id="U1",
            team_id=TEAM_ID,
            response_url=env.slack.new_response_url(channel="C1", user="U1"),
        )
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": payload,
        }
        await env.slack.push_envelope(envelope)
        await env.slack.wait_for(lambda: env.slack.response_url_posts)
        help_text = env.slack.response_url_posts[-1].payload["text"]
        assert "/ml-intern fine-tune" in help_text and "`stop`" in help_text
        assert "send `new`" in help_text
        assert env.llm.requests == []


def test_fixture_files_name_their_source() -> None:
    for name in slack_payloads.names():
        assert slack_payloads.source(name), name
    assert Path(slack_payloads.DATA, "composed_pasted_code_mention.json").exists()
