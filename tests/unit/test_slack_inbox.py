"""The durable inbox's state machine (:mod:`bot.slack.inbox`) on a SQLite store file:
received → done / rejected / failed, claims and take-overs, MACs, the replay's queue check,
and the TTL prune."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

from agent_core.redact import register_secret, scrub, scrub_checked
from agent_core.store import Store
from bot.slack.inbox import MAX_ATTEMPTS, REPLAY, SlackInbox, Ticket
from bot.slack.inbox_replay import InboxReplay

SECRET = "xoxb-inbox-unit-secret"


def mention(event_id: str = "Ev1", ts: str = "1700000000.000100", **event: Any) -> dict:
    """An Events API ``app_mention`` body (shape from api.slack.com/events/app_mention)."""
    return {
        "type": "event_callback",
        "team_id": "T1",
        "event_id": event_id,
        "event_time": 1700000000,
        "event": {
            "type": "app_mention",
            "user": "U1",
            "text": "<@U0BOT> train a model",
            "ts": ts,
            "channel": "C1",
            "event_ts": ts,
            **event,
        },
    }


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(str(tmp_path / "inbox.db"))
    try:
        yield s
    finally:
        await s.close()


def inbox(store: Store, replica: str = "r1", ttl: float = 60.0, secret: str = SECRET) -> SlackInbox:
    return SlackInbox(store, secret=secret, replica_id=replica, claim_ttl_s=ttl)


async def row(store: Store, key: str = "ev:Ev1") -> Any:
    return await store.fetchone(
        "SELECT state, body, claimed_by, attempts FROM slack_seen_events WHERE event_key=?",
        (key,),
    )


async def test_a_message_is_stored_once_and_its_twin_is_a_duplicate(store: Store) -> None:
    box = inbox(store)
    new, ticket = await box.take_in(mention())
    assert new and ticket is not None and ticket.key == "ev:Ev1" and not ticket.replayed
    state, body, claimed_by, _ = await row(store)
    assert state == "received" and "train a model" in body and claimed_by == ticket.claim
    assert (await row(store, "msg:C1:1700000000.000100"))[:2] == ("done", None)  # key only
    assert await box.take_in(mention()) == (False, None)  # Slack's retry
    assert await box.take_in(mention("Ev2", type="message")) == (False, None)  # its twin


async def test_events_that_lead_to_no_work_keep_only_their_key(store: Store) -> None:
    body = {"type": "event_callback", "event_id": "EvR", "event": {"type": "reaction_added"}}
    assert await inbox(store).take_in(body) == (True, None)
    assert (await row(store, "ev:EvR"))[:2] == ("done", None)
    assert await inbox(store).take_in(body) == (False, None)


async def test_secrets_in_a_message_are_scrubbed_before_they_are_stored(store: Store) -> None:
    leaked = "hf_inboxUnitLeakedToken0123456789abcd"
    register_secret(leaked)
    await inbox(store).take_in(mention(text=f"<@U0BOT> use {leaked}"))
    assert leaked not in (await row(store))[1]


async def test_done_drops_the_body_and_only_the_holder_closes_the_row(store: Store) -> None:
    box = inbox(store)
    _, ticket = await box.take_in(mention())
    assert ticket is not None
    assert not await box.done(Ticket(ticket.key, "r9:other"))  # not its claim
    assert await box.confirm(ticket)
    assert await box.done(ticket)
    assert (await row(store))[:3] == ("done", None, None)
    assert not await box.done(ticket) and not await box.confirm(ticket)


async def test_an_expired_claim_is_taken_over_by_exactly_one_replica(store: Store) -> None:
    _, dead = await inbox(store, "r1").take_in(mention())
    assert dead is not None
    await store.execute("UPDATE slack_seen_events SET claim_expires_at=0")  # r1 died long ago
    survivor, late = inbox(store, "r2"), inbox(store, "r3")
    (pending,) = await survivor.claim_stale()
    assert pending.ticket.replayed and pending.attempts == 1
    assert pending.body is not None and pending.body["event"]["text"].endswith("train a model")
    assert await late.claim_stale() == []  # r2's claim is live
    assert not await inbox(store, "r1").confirm(dead)  # the dead holder lost it
    assert await survivor.confirm(pending.ticket)
    assert await survivor.done(pending.ticket)


async def test_a_restarted_replica_takes_back_its_own_live_claims_at_start(store: Store) -> None:
    _, ticket = await inbox(store, "r1").take_in(mention())
    assert ticket is not None
    assert await inbox(store, "r1").claim_stale() == []  # live: not during normal patrols
    assert await inbox(store, "r10").claim_stale(starting=True) == []  # not a prefix match
    (pending,) = await inbox(store, "r1").claim_stale(starting=True)
    assert pending.ticket.key == ticket.key and pending.ticket.claim != ticket.claim


async def test_a_forged_or_foreign_body_fails_its_mac(store: Store) -> None:
    await inbox(store).take_in(mention())
    await inbox(store).take_in(mention("Ev2", ts="1700000000.000200"))
    forged = (await row(store))[1].replace('"U1"', '"U666"')
    await store.execute("UPDATE slack_seen_events SET body=? WHERE event_key='ev:Ev1'", (forged,))
    await store.execute("UPDATE slack_seen_events SET claim_expires_at=0")
    pending = {p.ticket.key: p for p in await inbox(store, "r2").claim_stale()}
    assert pending["ev:Ev1"].body is None  # altered in the database
    assert pending["ev:Ev2"].body is not None
    await store.execute("UPDATE slack_seen_events SET claim_expires_at=0")
    other_token = {
        p.ticket.key: p for p in await inbox(store, "r3", secret="xoxb-new").claim_stale()
    }
    assert other_token["ev:Ev2"].body is None and other_token["ev:Ev2"].attempts == 2


async def test_the_replay_check_finds_the_op_of_the_same_delivery_only(store: Store) -> None:
    box = inbox(store)
    sid = "slack:T1:C1:1700000000.000100"
    meta = {"slack_ts": "1700000000.000100", "inbox": "ev:Ev1"}
    await store.enqueue_op(sid, "user_input", {"kind": "user_input", "text": "hi", "meta": meta})
    assert await box.already_enqueued(sid, "ev:Ev1")
    assert not await box.already_enqueued(sid, "ev:Ev10")  # another delivery (an edit)
    assert not await box.already_enqueued("slack:T1:C1:other", "ev:Ev1")


async def test_prune_drops_old_rows_and_reports_unanswered_ones(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    box = inbox(store)
    await box.take_in(mention())
    _, done = await box.take_in(mention("Ev2", ts="1700000000.000200"))
    assert done is not None and await box.done(done)
    await store.execute("UPDATE slack_seen_events SET received_at=0")
    with caplog.at_level(logging.WARNING, logger="bot.slack.inbox"):
        assert await box.prune(3_600.0) == 4  # two events, two keys each
    assert [r.getMessage() for r in caplog.records] == [
        "inbox: ev:Ev1 dropped unanswered after the dedupe TTL"
    ]
    new, ticket = await box.take_in(mention())  # the key is gone: new again
    assert new and ticket is not None


async def test_a_fresh_claim_holds_without_a_statement_a_stale_one_asks(store: Store) -> None:
    box = inbox(store, ttl=60.0)
    _, ticket = await box.take_in(mention())
    assert ticket is not None
    before = store.stats.statements
    assert await box.still_held(ticket)
    assert store.stats.statements == before  # more than half the TTL left: no round trip
    stale = Ticket(ticket.key, ticket.claim, expires_at=ticket.expires_at - 45.0)
    assert await box.still_held(stale)  # asked the database, and renewed
    assert store.stats.statements == before + 1
    await store.execute("UPDATE slack_seen_events SET claimed_by='r2:taken'")
    assert not await box.still_held(stale)


@pytest.mark.parametrize(
    "event",
    [
        {"text": "<@U0BOT> use hf_" + "a" * 34},
        {"text": 'config: TOKEN="abcdef123" please'},
        {"blocks": [{"type": "rich_text", "elements": [{"text": "Bearer " + "x" * 30}]}]},
        {"files": [{"name": "creds", "password": "hunter22"}]},
        {"text": "nothing secret here, just a question about LoRA"},
    ],
)
def test_the_checked_scrub_of_the_ack_path_scrubs_exactly_what_scrub_does(event: dict) -> None:
    body = mention(**event)
    assert scrub_checked(body) == scrub(body)


async def test_replay_dispatches_through_a_signed_http_app_and_refuses_bad_rows(
    store: Store,
) -> None:
    """A replay is a Socket Mode request (no signature: it was checked before the ack) with
    its ticket in the context; a row failing its MAC is rejected, one replayed too often
    is given up — neither reaches a listener."""

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None, team_id="T1", bot_user_id="U0BOT", bot_id="B1", bot_token=SECRET
        )

    app = AsyncApp(
        authorize=authorize, signing_secret="signing-s3cret", process_before_response=True
    )
    replayed: list[Ticket] = []

    @app.event("app_mention")
    async def on_mention(context: Any) -> None:
        replayed.append(context[REPLAY])

    live = inbox(store)
    for n in (1, 2, 3):
        await live.take_in(mention(f"Ev{n}", ts=f"1700000000.00010{n}"))
    forged = (await row(store, "ev:Ev2"))[1].replace('"C1"', '"C666"')
    await store.execute("UPDATE slack_seen_events SET body=? WHERE event_key='ev:Ev2'", (forged,))
    await store.execute(
        "UPDATE slack_seen_events SET attempts=? WHERE event_key='ev:Ev3'", (MAX_ATTEMPTS,)
    )
    await store.execute("UPDATE slack_seen_events SET claim_expires_at=0")
    replay = InboxReplay(inbox(store, "r2"), app, every_s=60.0)
    assert await replay.run_once() == 1
    assert [t.key for t in replayed] == ["ev:Ev1"] and replayed[0].replayed
    assert (await row(store, "ev:Ev2"))[0] == "rejected"
    assert (await row(store, "ev:Ev3"))[0] == "failed"
    assert (await row(store, "ev:Ev1"))[0] == "received"  # done only when its work is


async def test_done_marks_of_a_burst_share_one_statement_and_close_writes_the_rest(
    store: Store,
) -> None:
    box = inbox(store)
    tickets = []
    for n in range(5):
        _, ticket = await box.take_in(mention(f"Ev{n}", ts=f"1700000000.00010{n}"))
        assert ticket is not None
        tickets.append(ticket)
    stolen = Ticket(tickets[4].key, "r9:other")  # a mark whose claim is not the row's
    for ticket in [*tickets[:4], stolen]:
        box.finished(ticket)
    before = store.stats.statements
    await box.close()
    assert store.stats.statements == before + 1
    states = [(await row(store, t.key))[0] for t in tickets]
    assert states == ["done"] * 4 + ["received"]
    assert await box.flush() == 0  # nothing left
