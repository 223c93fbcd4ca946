"""Where a mention becomes a session (:class:`bot.conversation.intake.Intake`), without Slack:
the engine, the thread directory and the sender are recording fakes of our own components.

Thread history follows ``conversations.replies``'s documented response
(https://api.slack.com/methods/conversations.replies#examples).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent_core.events import UserInput
from agent_core.manager import ManagerClosed
from agent_core.store import Store
from bot.conversation.commands import Command
from bot.conversation.dm_sessions import DmConversations
from bot.conversation.incoming import Incoming
from bot.conversation.intake import Intake
from bot.conversation.message_input import InputComposer, ThreadNotes
from bot.llm_warmup import LlmWarmup
from bot.settings import parse_slack_settings
from bot.slack.inbox import Deferred, SlackInbox
from bot.slack.keys import ThreadRef

BOT = "U0BOT"
ROOT = "1700000000.000100"


class Manager:
    def __init__(self, existing: bool = False, busy: bool = False) -> None:
        self.existing, self.busy = existing, busy
        self.submitted: list[tuple[str, Any, dict[str, Any] | None]] = []
        self.gate: asyncio.Event | None = None

    async def exists(self, sid: str) -> bool:
        return self.existing or any(s == sid for s, _, _ in self.submitted)

    def is_busy(self, sid: str) -> bool:
        return self.busy

    async def at_session_limit(self, requester: str | None) -> bool:
        return False

    async def queued_count(self, sid: str) -> int:
        return 0

    async def submit(self, sid: str, op: Any, origin: dict[str, Any] | None = None) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.submitted.append((sid, op, origin))


class Threads:
    def __init__(self) -> None:
        self.ensured: list[ThreadRef] = []

    async def ensure(self, ref: ThreadRef) -> None:
        self.ensured.append(ref)


class Sender:
    def __init__(self, history: list[dict[str, Any]] | None = None) -> None:
        self.history = history or []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, queue: str, method: str, /, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((method, kwargs))
        if method == "conversations_replies":
            return {"ok": True, "messages": self.history, "has_more": False}
        return {"ok": True, "ts": "1700000009.000900"}


class Replies:
    def __init__(self) -> None:
        self.reactions: list[tuple[str, str]] = []
        self.posts: list[Any] = []

    def react(self, channel: str, ts: str, name: str) -> None:
        self.reactions.append((ts, name))

    async def post(self, channel: str, thread_ts: str, payload: Any) -> None:
        self.posts.append(payload)

    async def ephemeral(self, *args: Any) -> None:  # pragma: no cover - not reached here
        raise AssertionError("no ephemeral expected")


class KvStore:
    """The store's kv and session lookup, in memory."""

    def __init__(self) -> None:
        self.kv: dict[tuple[str, str], Any] = {}

    async def kv_get(self, namespace: str, key: str) -> Any:
        return self.kv.get((namespace, key))

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        self.kv[(namespace, key)] = value

    async def kv_delete(self, namespace: str, keys: list[str]) -> int:
        return sum(self.kv.pop((namespace, k), None) is not None for k in keys)

    async def get_session(self, sid: str) -> None:
        return None


class Inputs:
    """Which session each message went to (the InputIndex's interface), in memory."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[str, str], str] = {}

    async def remember(self, channel: str, ts: str, session_id: str) -> None:
        self.sessions[(channel, ts)] = session_id

    async def session_of(self, channel: str, ts: str) -> str | None:
        return self.sessions.get((channel, ts))


class Commands:
    def __init__(self) -> None:
        self.ran: list[Command] = []

    async def run(self, cmd: Command, msg: Incoming) -> None:
        self.ran.append(cmd)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    """Yield to the loop until ``predicate()`` holds (no timed sleep)."""

    async def wait() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await asyncio.wait_for(wait(), timeout)


def _intake(manager: Manager, sender: Sender | None = None, **slack: Any) -> Intake:
    warmup = LlmWarmup()
    warmup.ready.set()
    settings = parse_slack_settings(slack)
    store: Any = KvStore()
    sender = sender or Sender()
    notes = ThreadNotes(store)
    intake = Intake(
        settings=settings,
        manager=manager,  # type: ignore[arg-type]
        threads=Threads(),  # type: ignore[arg-type]
        sender=sender,  # type: ignore[arg-type]
        replies=Replies(),  # type: ignore[arg-type]
        commands=Commands(),  # type: ignore[arg-type]
        warmup=warmup,
        bot_user_id=BOT,
        store=store,
        composer=InputComposer(
            names=None,  # no users.info here: ids stand for names
            files=None,
            notes=notes,
            sender=sender,  # type: ignore[arg-type]
            state_dir=None,
            seed_limit=settings.seed_thread_messages,
        ),
        dms=DmConversations(store, idle_s=3600),
        inputs=Inputs(),  # type: ignore[arg-type]
    )
    return intake


def _msg(text: str, ts: str = ROOT, thread_ts: str | None = None, **kw: Any) -> Incoming:
    fields: dict[str, Any] = {
        "team": "T1",
        "channel": "C1",
        "channel_type": "channel",
        "user": "U1",
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "is_mention": True,
        "session_exists": False,
        **kw,
    }
    return Incoming(**fields)


async def test_a_mention_starts_a_session_keyed_by_its_thread() -> None:
    manager = Manager()
    intake = _intake(manager)
    await intake.handle_message(_msg(f"<@{BOT}>  train distilbert on imdb"))
    ((sid, op, origin),) = manager.submitted
    assert sid == f"slack:T1:C1:{ROOT}"
    assert isinstance(op, UserInput)
    assert op.text == "Message from @U1 (the requester):\ntrain distilbert on imdb"
    assert op.meta == {
        "slack_ts": ROOT,
        "queued": False,
        "author": "U1",
        "author_name": "U1",
        "requester": True,
    }
    assert origin is not None and origin["requester"] == "U1" and origin["thread_ts"] == ROOT
    assert intake.threads.ensured == [ThreadRef("T1", "C1", ROOT)]  # type: ignore[attr-defined]
    assert intake.replies.reactions == [(ROOT, "eyes")]  # type: ignore[attr-defined]


async def test_a_message_that_is_a_command_goes_to_the_commands() -> None:
    manager = Manager(existing=True)
    intake = _intake(manager)
    await intake.handle_message(_msg(f"<@{BOT}> stop", thread_ts=ROOT, ts="2.0"))
    assert [c.name for c in intake.commands.ran] == ["stop"]  # type: ignore[attr-defined]
    assert manager.submitted == []


async def test_an_empty_mention_gets_help_not_a_session() -> None:
    manager = Manager()
    intake = _intake(manager)
    await intake.handle_message(_msg(f"<@{BOT}>"))
    assert manager.submitted == [] and len(intake.replies.posts) == 1  # type: ignore[attr-defined]


async def test_a_follow_up_while_busy_is_marked_queued() -> None:
    manager = Manager(existing=True, busy=True)
    intake = _intake(manager)
    await intake.handle_message(_msg("also try lr 3e-5", ts="2.0", thread_ts=ROOT))
    assert manager.submitted[0][1].meta["queued"] is True
    assert intake.replies.reactions == [("2.0", "hourglass_flowing_sand")]  # type: ignore[attr-defined]


async def test_messages_reach_the_engine_in_the_order_slack_delivered_them() -> None:
    manager = Manager(existing=True)
    manager.gate = asyncio.Event()
    intake = _intake(manager)
    first = asyncio.create_task(intake.handle_message(_msg("first", ts="2.0", thread_ts=ROOT)))
    second = asyncio.create_task(intake.handle_message(_msg("second", ts="3.0", thread_ts=ROOT)))
    # both are in: the first holds the thread's intake lock (blocked in the engine), the second
    # waits for it
    await until(
        lambda: intake.replies.reactions == [("2.0", "eyes"), ("3.0", "hourglass_flowing_sand")]
    )  # type: ignore[attr-defined]
    manager.gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert [op.text.split("\n")[-1] for _, op, _ in manager.submitted] == ["first", "second"]
    assert manager.submitted[1][1].meta["queued"] is True  # it waited behind the first


async def test_a_session_started_inside_a_human_thread_is_seeded_with_its_history() -> None:
    history = [
        {"type": "message", "user": "U2", "text": "the eval loss went up", "ts": ROOT},
        {"type": "message", "user": BOT, "text": "(our own post)", "ts": "1700000001.000100"},
        {"type": "message", "user": "U3", "text": "maybe the lr?", "ts": "1700000002.000100"},
        {"type": "message", "user": "U1", "text": "<@U0BOT> look", "ts": "1700000003.000100"},
    ]
    manager = Manager()
    intake = _intake(manager, Sender(history))
    await intake.handle_message(_msg(f"<@{BOT}> look", ts="1700000003.000100", thread_ts=ROOT))
    text = manager.submitted[0][1].text
    assert "@U2: the eval loss went up" in text and "@U3: maybe the lr?" in text
    assert "our own post" not in text and text.endswith("look")


async def test_an_engine_failure_is_told_in_the_thread() -> None:
    class Broken(Manager):
        async def submit(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("disk full")

    intake = _intake(Broken())
    await intake.handle_message(_msg(f"<@{BOT}> hello"))
    (notice,) = intake.replies.posts  # type: ignore[attr-defined]
    assert "RuntimeError" in notice.text


async def test_inbox_tickets_mark_ops_skip_replays_already_queued_and_defer_at_shutdown(
    tmp_path: Any,
) -> None:
    """With the durable inbox (bot.slack.inbox): the op carries its delivery's key; a
    replay of a delivery whose op is queued already enqueues nothing; an engine shutting down
    leaves the row for the next start (Deferred) instead of answering with an error."""
    store = await Store.open(str(tmp_path / "inbox.db"))
    try:
        box = SlackInbox(store, secret="xoxb-unit", replica_id="r1", claim_ttl_s=60.0)
        body = {
            "type": "event_callback",
            "event_id": "EvI1",
            "event": {"type": "app_mention", "channel": "C1", "ts": ROOT, "user": "U1"},
        }
        _, ticket = await box.take_in(body)
        assert ticket is not None
        manager = Manager()
        intake = _intake(manager)
        intake.inbox = box
        await intake.handle_message(_msg(f"<@{BOT}> train", ticket=ticket))
        ((sid, op, _),) = manager.submitted
        assert op.meta["inbox"] == "ev:EvI1"
        await store.enqueue_op(sid, "user_input", op.model_dump())  # as manager.submit does
        await store.execute("UPDATE slack_seen_events SET claim_expires_at=0")
        (pending,) = await box.claim_stale()
        await intake.handle_message(_msg(f"<@{BOT}> train", ticket=pending.ticket))
        assert len(manager.submitted) == 1  # the replay found its op: not enqueued again

        class Closed(Manager):
            async def submit(self, sid: str, op: Any, origin: Any = None) -> None:
                raise ManagerClosed("the engine is shutting down")

        closing = _intake(Closed())
        closing.inbox = box
        _, fresh = await box.take_in(
            {**body, "event_id": "EvI2", "event": {**body["event"], "ts": "1.5"}}
        )
        assert fresh is not None
        with pytest.raises(Deferred):
            await closing.handle_message(_msg(f"<@{BOT}> train", ts="1.5", ticket=fresh))
        assert closing.replies.posts == []  # type: ignore[attr-defined]
    finally:
        await store.close()
