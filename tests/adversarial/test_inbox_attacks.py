"""Attacks on the durable Slack inbox (:mod:`bot.slack.inbox`), named after the attack. Each
starts from a bot process killed after it acked a mention and before it enqueued the op
(:mod:`tests.inbox_crash`), so the only copy of the message is its inbox row.

- A redelivery storm of the same event while the restarted process is replaying it: the
  storm's copies are duplicates of the stored row, the replay answers once.
- The inbox row's body rewritten in the database into another channel and person: a replay
  trusts only what this deployment stored (the row's MAC, keyed from the bot token), so the
  forged message is rejected, and nothing is posted anywhere.
- Two replicas replaying the same row at once (real Postgres): one claim wins, one answer.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from agent_core.store import Store
from tests.inbox_crash import (
    WAIT_S,
    assert_answered_once,
    inbox_row,
    kill_after_ack_before_enqueue,
)
from tests.postgres_harness import postgres_server, postgres_url, store_url  # noqa: F401
from tests.replica_harness import (
    eventually,
    ops_of,
    replica_config,
    replica_set,
    wait_until,
)

LEASE_TTL_S = 2.0


async def test_redelivery_storm_of_one_event_during_its_replay_is_answered_once(
    tmp_path: Path,
    store_url: str,  # noqa: F811
) -> None:
    async with replica_set(store_url, tmp_path, replica_config(LEASE_TTL_S)) as rs:
        (first,) = await rs.start(1)
        acked = await kill_after_ack_before_enqueue(
            rs, first, "tkstorm0002", "C0STORM02", "U0STORM02"
        )
        # The replay is held mid-intake (its own users.info), and the storm arrives then.
        held = rs.slack.lose_next_response(
            "users.info", match=lambda args: args.get("user") == acked.user
        )
        try:
            (second,) = await rs.start(1)
            await wait_until(rs.slack, lambda: held.peer, WAIT_S, "the replay's intake")
            storm = [
                {
                    **json.loads(json.dumps(acked.envelope)),
                    "envelope_id": f"env-inbox-storm-{i}",
                    "retry_attempt": i,
                    "retry_reason": "timeout",
                }
                for i in (1, 2, 3)
            ]
            acks = await asyncio.gather(
                *(rs.slack.push_envelope(env, connection=second.connection) for env in storm)
            )
            assert len(acks) == 3  # each copy acked (as duplicates)
        finally:
            held.release.set()
        await assert_answered_once(rs, acked)
        log = second.proc.log_path.read_text(errors="replace")
        assert log.count("duplicate delivery ignored") == 3, log[-3000:]


async def test_inbox_row_rewritten_into_another_channel_and_person_is_not_replayed(
    tmp_path: Path,
    store_url: str,  # noqa: F811
) -> None:
    victim_channel, victim_user = "C0VICTIM1", "U0VICTIM1"
    async with replica_set(store_url, tmp_path, replica_config(LEASE_TTL_S)) as rs:
        (first,) = await rs.start(1)
        acked = await kill_after_ack_before_enqueue(
            rs, first, "tkforge0003", "C0FORGE03", "U0FORGE03"
        )
        store = await Store.open(store_url)
        try:
            key = f"ev:{acked.event_id}"
            row = await inbox_row(store, acked.event_id)
            assert row is not None and row[1] is not None
            forged = row[1].replace(acked.channel, victim_channel).replace(acked.user, victim_user)
            assert forged != row[1]
            await store.execute(
                "UPDATE slack_seen_events SET body=? WHERE event_key=?", (forged, key)
            )
            (second,) = await rs.start(1)
            state = await eventually(
                lambda: _state_settled(store, acked.event_id), WAIT_S, "the replay's verdict"
            )
            assert state == "rejected"
            codes = await rs.stop_all()
            assert all(code == 0 for code in codes.values()), codes
            assert await ops_of(store, acked.tok) == []  # no turn for the forged message
        finally:
            await store.close()
        for channel in (victim_channel, acked.channel):
            assert [m for m in rs.slack.messages(channel) if m.is_bot] == []
        log = second.proc.log_path.read_text(errors="replace")
        assert "does not match its MAC" in log, log[-3000:]


async def _state_settled(store: Store, event_id: str) -> str | None:
    row = await inbox_row(store, event_id)
    return row[0] if row is not None and row[0] != "received" else None


async def test_two_replicas_replaying_the_same_inbox_row_answer_once(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    async with replica_set(postgres_url, tmp_path, replica_config(LEASE_TTL_S)) as rs:
        (first,) = await rs.start(1)
        acked = await kill_after_ack_before_enqueue(
            rs, first, "tktwin00004", "C0TWIN004", "U0TWIN004"
        )
        survivors = await rs.start(2)  # both come up and patrol the same expired claim
        await assert_answered_once(rs, acked)
        replays = [
            r.proc.log_path.read_text(errors="replace").count(f"replaying ev:{acked.event_id}")
            for r in survivors
        ]
        assert sorted(replays) == [0, 1], replays
