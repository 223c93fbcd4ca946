"""The middleware chain, as bolt-python tests its own middleware: requests dispatched to an
``AsyncApp`` with :meth:`AsyncApp.async_dispatch`, no socket. The thread directory and the
dedupe table are the real ones on a SQLite file; sessions, access and refusals are recording
fakes of our own components.

Event payloads follow the Events API examples (https://api.slack.com/events/app_mention,
https://api.slack.com/events/message and its ``message_replied`` thread shape), wrapped in the
``event_callback`` envelope (https://api.slack.com/apis/events-api#callback-field).
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest

from agent_core.store import Store
from bot.slack.inbox import SlackInbox
from bot.slack.inflight import InFlight
from bot.slack.keys import ThreadRef
from bot.slack.middleware import build_middleware
from bot.slack.threads import ThreadStore

BOT = "U0BOT"


def envelope(event: dict[str, Any], event_id: str = "Ev0001") -> dict[str, Any]:
    return {
        "token": "XXYYZZ",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [{"team_id": "T1", "user_id": BOT, "is_bot": True}],
    }


def mention(text: str = f"<@{BOT}> train a model", ts: str = "1700000000.000100", **extra: Any):
    return {
        "type": "app_mention",
        "user": "U1",
        "text": text,
        "ts": ts,
        "channel": "C1",
        "event_ts": ts,
        **extra,
    }


def reply(text: str, ts: str, thread_ts: str, user: str = "U1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": "C1",
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "event_ts": ts,
        **extra,
    }


class Sessions:
    def __init__(self, existing: set[str] | None = None) -> None:
        self.existing = existing or set()

    async def exists(self, sid: str) -> bool:
        return sid in self.existing


class Access:
    def __init__(self, refused_users: set[str] | None = None) -> None:
        self.refused = refused_users or set()

    def channel_allowed(self, channel: str, channel_type: str | None = None) -> bool:
        return True

    async def user_allowed(self, user: str | None) -> bool:
        return bool(user) and user not in self.refused


class Refusals:
    def __init__(self) -> None:
        self.refused: list[tuple[str, str, str | None]] = []

    async def refuse(self, channel: str, user: str, thread_ts: str | None) -> None:
        self.refused.append((channel, user, thread_ts))


class Chain:
    def __init__(self, store: Store, sessions: Sessions, access: Access) -> None:
        self.threads = ThreadStore(store)
        self.refusals = Refusals()
        self.inflight = InFlight()
        self.routed: list[Any] = []

        async def authorize(**_: Any) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=None, team_id="T1", bot_user_id=BOT, bot_id="B1", bot_token="xoxb-1"
            )

        self.app = AsyncApp(
            authorize=authorize,
            process_before_response=True,  # listeners finish before dispatch returns
            request_verification_enabled=False,
        )
        for middleware in build_middleware(
            inbox=SlackInbox(store, secret="xoxb-1", replica_id="r1", claim_ttl_s=15.0),
            threads=self.threads,
            sessions=sessions,  # type: ignore[arg-type]
            access=access,  # type: ignore[arg-type]
            refusals=self.refusals,  # type: ignore[arg-type]
            inflight=self.inflight,
            refusal_text="Not for you.",
        ):
            self.app.use(middleware)

        async def on_message(context: Any) -> None:
            if context.get("incoming") is not None:
                self.routed.append(context["incoming"])

        self.app.event("app_mention")(on_message)
        self.app.event("message")(on_message)

    async def send(self, body: dict[str, Any], headers: dict[str, Any] | None = None) -> int:
        request = AsyncBoltRequest(body=body, headers=headers or {}, mode="socket_mode")
        response = await self.app.async_dispatch(request)
        await self.inflight.wait(timeout=5)
        return response.status


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(tmp_path / "state.db")
    try:
        yield store
    finally:
        await store.close()


async def test_a_mention_is_routed_with_its_thread(store) -> None:
    chain = Chain(store, Sessions(), Access())
    assert await chain.send(envelope(mention())) == 200
    (incoming,) = chain.routed
    assert incoming.is_mention and incoming.user == "U1" and incoming.thread_ts is None
    assert incoming.ref.session_id == "slack:T1:C1:1700000000.000100"


async def test_a_reply_in_a_thread_being_started_is_routed_through_the_thread_directory(
    store,
) -> None:
    chain = Chain(store, Sessions(), Access())  # the engine has no session yet
    await chain.threads.ensure(ThreadRef("T1", "C1", "1700000000.000100"))
    body = envelope(reply("and use bf16", "1700000001.000200", "1700000000.000100"), "Ev2")
    assert await chain.send(body) == 200
    (incoming,) = chain.routed
    assert incoming.session_exists and not incoming.is_mention


async def test_a_reply_in_someone_elses_thread_is_acked_and_dropped(store) -> None:
    chain = Chain(store, Sessions(), Access())
    body = envelope(reply("lunch?", "1700000001.000200", "1699999999.000100"), "Ev3")
    assert await chain.send(body) == 200
    assert chain.routed == []


async def test_a_redelivered_event_is_handled_once(store) -> None:
    chain = Chain(store, Sessions(), Access())
    body = envelope(mention())
    assert await chain.send(body) == 200
    retry = {"x-slack-retry-num": ["1"], "x-slack-retry-reason": ["timeout"]}
    assert await chain.send(body, headers=retry) == 200
    # the same message also delivered as a `message` event with another event_id
    twin = envelope({**mention(), "type": "message", "channel_type": "channel"}, "Ev9")
    assert await chain.send(twin) == 200
    assert len(chain.routed) == 1


async def test_bot_posts_and_edits_never_reach_the_agent(store) -> None:
    chain = Chain(store, Sessions({"slack:T1:C1:1.0"}), Access())
    from_a_bot = reply("I am a bot", "2.0", "1.0", bot_id="B9")
    edited = reply("edited", "3.0", "1.0", subtype="message_changed")
    our_own = reply("our answer", "4.0", "1.0", user=BOT)
    for i, event in enumerate([from_a_bot, edited, our_own]):
        assert await chain.send(envelope(event, f"Ev{i + 10}")) == 200
    assert chain.routed == []


async def test_someone_not_allowed_gets_one_refusal_and_no_session(store) -> None:
    chain = Chain(store, Sessions(), Access(refused_users={"U666"}))
    assert await chain.send(envelope(mention(user="U666"))) == 200
    assert chain.routed == []
    assert chain.refusals.refused == [("C1", "U666", None)]
