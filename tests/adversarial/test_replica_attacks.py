"""Attacks on a deployment of several replicas (real ``ml-intern-slack run`` processes on one
Postgres database, ``tests/replica_harness.py``), named after the attack.

- A redelivery storm: Slack delivers the same event (one ``event_id``) to every replica at
  once — three envelopes racing through three processes' dedupe. Answered once.
- A replica killed between posting an answer and recording it in the render ledger (the post
  took effect in Slack, the response never arrived): the replica that takes the session over
  must find the post in the thread (its metadata marker) instead of posting it again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from agent_core.store import Store
from tests.fakes.slack import payloads
from tests.fakes.slack.records import BOT_USER_ID
from tests.postgres_harness import postgres_server, postgres_url  # noqa: F401 - fixtures
from tests.replica_harness import (
    Turn,
    answers,
    bot_replies,
    duplicate_posts,
    eventually,
    ledger_key,
    mention,
    ops_of,
    replica_config,
    replica_set,
    wait_until,
)

LEASE_TTL_S = 3.0
WAIT_S = 60.0


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected


async def test_redelivery_storm_of_one_event_to_every_replica_is_answered_once(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    db_url = postgres_url
    async with replica_set(db_url, tmp_path, replica_config(LEASE_TTL_S)) as rs:
        replicas = await rs.start(3)
        slack = rs.slack
        tok, channel, user = "tkstorm00001", "C0STORM01", "U0STORM01"
        ts = slack.add_message(channel, user, f"<@{BOT_USER_ID}> bench kind=plain tok={tok}")
        event = payloads.message_event(slack, "app_mention", channel, user, ts)
        first = payloads.event_envelope(event, fallback_ts=ts, event_id="EvSTORM0001")
        storm = [first] + [
            {**json.loads(json.dumps(first)), "envelope_id": f"env-storm-{i}", "retry_attempt": i}
            for i in (1, 2)
        ]
        acks = await asyncio.gather(
            *(
                slack.push_envelope(env, connection=r.connection)
                for env, r in zip(storm, replicas, strict=True)
            )
        )
        assert len(acks) == 3  # every replica got (and acked) its copy
        turn = Turn("plain", tok, channel, ts, "EvSTORM0001", user)
        await wait_until(
            slack, lambda: answers(rs, turn, f"Answer for {tok}"), WAIT_S, "the answer"
        )
        codes = await rs.stop_all()  # nothing can post after this
        assert all(code == 0 for code in codes.values()), codes
        assert answers(rs, turn, f"Answer for {tok}") == 1
        assert duplicate_posts(slack, [channel]) == {}
        store = await Store.open(db_url)
        try:
            assert await ops_of(store, tok) == ["done"]  # one turn, not three
        finally:
            await store.close()


async def test_replica_killed_between_posting_an_answer_and_recording_it_posts_nothing_twice(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    db_url = postgres_url
    async with replica_set(db_url, tmp_path, replica_config(LEASE_TTL_S)) as rs:
        first, second = await rs.start(2)
        slack = rs.slack
        # The thread's first post (the progress message the answer later replaces) takes
        # effect in Slack, but its poster never hears back: its ledger has no record of it.
        lost = slack.lose_next_response(
            "chat.postMessage", match=lambda args: args.get("channel") == "C0LOST001"
        )
        try:
            turn = await mention(rs, "plain", channel="C0LOST001", connection=first.connection)
            await wait_until(slack, lambda: lost.peer, WAIT_S, "the thread's first post")
            assert lost.peer is not None
            poster = next(r for r in (first, second) if r.owns_port(lost.peer[1]))
            # The turn itself ends (its answer is in the event log, not yet in Slack: the
            # thread's renderer is stuck on that first post).
            store = await Store.open(db_url)
            try:
                await eventually(
                    lambda: _is(ops_of(store, turn.tok), ["done"]), WAIT_S, "the turn's end"
                )
            finally:
                await store.close()
            survivor = second if poster is first else first
            await rs.kill(poster)
        finally:
            lost.release.set()
        # The survivor takes the session over (lease expiry) and answers a follow-up: by then
        # it has replayed the session's events past its durable cursor, the answer included.
        follow = await mention(
            rs, "plain", channel=turn.channel, thread_ts=turn.ts, connection=survivor.connection
        )
        await wait_until(
            slack,
            lambda: answers(rs, follow, f"Answer for {follow.tok}"),
            WAIT_S,
            "the follow-up's answer from the survivor",
        )
        codes = await rs.stop_all()
        assert all(code == 0 for code in codes.values()), codes
        thread = [(m.text[:70], ledger_key(m)) for m in bot_replies(slack, turn.channel, turn.ts)]
        assert answers(rs, turn, f"Answer for {turn.tok}") == 1, thread
        assert answers(rs, follow, f"Answer for {follow.tok}") == 1, thread
        assert duplicate_posts(slack, [turn.channel]) == {}, thread
