"""Text commands, keys, mention stripping and dedupe keys (small pure pieces)."""

from __future__ import annotations

import pytest

from agent_core.store import Store
from bot.conversation.commands import Command, parse_command
from bot.conversation.incoming import strip_mentions
from bot.slack.keys import ThreadRef, make_origin, parse_session_key, session_key
from bot.slack.middleware import event_keys
from bot.slack.seen_events import SeenEvents


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stop", Command("stop")),
        ("  STOP! ", Command("stop")),
        ("/status", Command("status")),
        ("compact", Command("compact")),
        ("undo.", Command("undo")),
        ("help", Command("help")),
        ("cancel jobs", Command("cancel_jobs")),
        ("yolo on", Command("yolo", enabled=True)),
        ("yolo on $12.5", Command("yolo", enabled=True, cap_usd=12.5)),
        ("yolo off", Command("yolo", enabled=False)),
        ("model openai/gpt-5", Command("model", model="openai/gpt-5")),
        ("Model `anthropic/claude`", Command("model", model="anthropic/claude")),
        ("stop using adam, try sgd", None),
        ("what model are you?", None),
        ("model a b", None),
        ("yolo maybe", None),
        ("", None),
    ],
)
def test_parse_command(text: str, expected: Command | None) -> None:
    assert parse_command(text) == expected


def test_session_keys_round_trip() -> None:
    sid = session_key("T1", "C2", "1700000000.000100")
    assert sid == "slack:T1:C2:1700000000.000100"
    ref = parse_session_key(sid)
    assert ref == ThreadRef("T1", "C2", "1700000000.000100") and ref.session_id == sid
    assert parse_session_key("cli:123") is None
    origin = make_origin(ref, "U9", "channel")
    assert origin == {
        "platform": "slack",
        "team": "T1",
        "channel": "C2",
        "thread_ts": "1700000000.000100",
        "requester": "U9",
        "channel_type": "channel",
    }


def test_strip_mentions_keeps_other_people() -> None:
    assert strip_mentions("<@U0BOT> ask <@U2> about   it", "U0BOT") == "ask <@U2> about it"
    assert strip_mentions("<@U0BOT|ml-intern>  stop", "U0BOT") == "stop"


def test_event_keys() -> None:
    body = {"event_id": "Ev1", "event": {"type": "app_mention", "channel": "C1", "ts": "1.2"}}
    assert event_keys(body) == ["ev:Ev1", "msg:C1:1.2"]
    assert event_keys({"event_id": "Ev2", "event": {"type": "reaction_added"}}) == ["ev:Ev2"]


async def test_seen_events_first_time_only(tmp_path) -> None:
    store = await Store.open(tmp_path / "s.db")
    try:
        seen = SeenEvents(store)
        assert await seen.first_time(["ev:1", "msg:C:1"])
        assert not await seen.first_time(["ev:1"])
        assert not await seen.first_time(["ev:2", "msg:C:1"])  # the mention's message twin
        assert await seen.first_time(["ev:3"])
        assert await seen.prune(-1) == 3  # everything is older than "now + 1 s"
        assert await seen.first_time(["ev:1"])
    finally:
        await store.close()
