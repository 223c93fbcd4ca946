"""Text commands (parsing, and running them against fakes of the engine and the replies), keys,
mention stripping and dedupe keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_core.store import Store
from agent_core.tools.base import Services
from bot.conversation.commands import Command, Commands, parse_command
from bot.conversation.incoming import Incoming, command_text
from bot.llm_warmup import LlmWarmup
from bot.settings import parse_slack_settings
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


def test_command_text_keeps_other_people_and_whitespace() -> None:
    """Only the bot's mention goes; runs of spaces stay (they are code indentation)."""
    assert command_text("<@U0BOT> ask <@U2> about   it", "U0BOT") == "ask <@U2> about   it"
    assert command_text("<@U0BOT|ml-intern>  stop", "U0BOT") == "stop"
    assert command_text("<@U0BOT> a &amp;&gt; b", "U0BOT") == "a &> b"


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


# ------------------------------------------------------------------ running commands
class _Manager:
    def __init__(self, outcome: str = "interrupted", busy: bool = False) -> None:
        self.outcome, self.busy = outcome, busy
        self.interrupts: list[tuple[str, str | None]] = []
        self.submitted: list[Any] = []

    async def exists(self, sid: str) -> bool:
        return True

    def is_busy(self, sid: str) -> bool:
        return self.busy

    async def interrupt(self, sid: str, *, by: str | None = None) -> str:
        self.interrupts.append((sid, by))
        return self.outcome

    async def submit(self, sid: str, op: Any) -> None:
        self.submitted.append(op)


class _Replies:
    def __init__(self) -> None:
        self.posts: list[Any] = []
        self.ephemerals: list[tuple[str, str]] = []
        self.reactions: list[tuple[str, str]] = []

    async def post(self, channel: str, thread_ts: str, payload: Any) -> None:
        self.posts.append(payload)

    async def ephemeral(self, channel: str, user: str, text: str, thread_ts: Any) -> None:
        self.ephemerals.append((user, text))

    def react(self, channel: str, ts: str, name: str) -> None:
        self.reactions.append((ts, name))


class _Store:
    """Sessions' origins, as the thread controls read them (the requester is U1)."""

    async def get_session(self, sid: str) -> dict[str, Any]:
        return {"origin": {"requester": "U1"}}


class _Access:
    """The control policy reduced to its default: only the requester."""

    async def may_control(self, user: str, control: str, *, requester: str | None) -> bool:
        return user == requester

    def describe_controllers(self, control: str, requester: str | None) -> str:
        return f"<@{requester}>"


def _commands(manager: _Manager, replies: _Replies, jobs: Any = None) -> Commands:
    warmup = LlmWarmup()
    warmup.ready.set()
    return Commands(
        settings=parse_slack_settings({}),
        manager=manager,  # type: ignore[arg-type]
        store=_Store(),  # type: ignore[arg-type]
        access=_Access(),  # type: ignore[arg-type]
        replies=replies,  # type: ignore[arg-type]
        warmup=warmup,
        services=Services(jobs=jobs),
    )


def _in_thread(text: str) -> Incoming:
    return Incoming("T1", "C1", "channel", "U1", text, "2.0", "1.0", False, True)


async def test_stop_tells_the_engine_who_stopped_the_turn() -> None:
    manager, replies = _Manager(), _Replies()
    await _commands(manager, replies).run(Command("stop"), _in_thread("stop"))
    assert manager.interrupts == [("slack:T1:C1:1.0", "U1")] and replies.ephemerals == []


async def test_the_stop_button_with_nothing_running_answers_privately() -> None:
    manager, replies = _Manager(outcome="idle"), _Replies()
    said: list[dict[str, Any]] = []

    async def respond(**kwargs: Any) -> None:
        said.append(kwargs)

    container = {"channel_id": "C1", "message_ts": "1.5", "thread_ts": "1.0"}
    body = {"user": {"id": "U1"}, "container": container}
    action = {"action_id": "ml_stop", "value": '{"s":"slack:T1:C1:1.0"}'}
    await _commands(manager, replies).on_stop_click(body, action, respond)
    assert manager.interrupts == [("slack:T1:C1:1.0", "U1")]
    assert said == [
        {
            "text": "Nothing is running in this thread.",
            "response_type": "ephemeral",
            "replace_original": False,
        }
    ]


async def test_a_busy_session_queues_compact_behind_the_turn() -> None:
    manager, replies = _Manager(busy=True), _Replies()
    await _commands(manager, replies).run(Command("compact"), _in_thread("compact"))
    assert [op.kind for op in manager.submitted] == ["compact"]
    assert replies.reactions == [("2.0", "hourglass_flowing_sand")]


async def test_status_lists_the_threads_jobs() -> None:
    class Jobs:
        async def all_status(self, sid: str) -> list[dict[str, Any]]:
            return [{"job_id": "j1", "stage": "RUNNING", "flavor": "a10g-small"}]

    class Info(_Manager):
        async def session_info(self, sid: str) -> dict[str, Any]:
            return {"model": "openai/gpt-5", "busy": False, "turn_count": 1}

    replies = _Replies()
    await _commands(Info(), replies, Jobs()).run(Command("status"), _in_thread("status"))
    (payload,) = replies.posts
    assert "j1" in payload.text + json.dumps(payload.blocks)
