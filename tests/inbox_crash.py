"""A bot process killed after Slack's event was acked and before its op was enqueued.

The window is made deterministic with a real fault, not a test hook in product code: the
intake resolves the author's name (``users.info``) after the ack and before
``manager.submit``; the emulator holds that call's response
(:meth:`~tests.fakes.slack.faults.FaultPlan.lose_next_response`), so when the call arrives
the envelope is acked, the op is not in the queue, and the process is stuck right there.
Then ``kill -9``. Only the durable inbox (:mod:`bot.slack.inbox`) still knows the message.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_core.store import Store
from tests.replica_harness import Replica, ReplicaSet, Turn, answers, ops_of, wait_until

WAIT_S = 60.0


@dataclass
class Acked:
    """The mention whose process died: its prompt token, where it is, its event id."""

    tok: str
    channel: str
    user: str
    ts: str
    event_id: str
    envelope: dict


async def inbox_row(store: Store, event_id: str) -> tuple[str, str | None] | None:
    """(state, body) of the event's inbox row (its ``ev:`` key), or None."""
    row = await store.fetchone(
        "SELECT state, body FROM slack_seen_events WHERE event_key=?", (f"ev:{event_id}",)
    )
    return (row[0], row[1]) if row else None


async def kill_after_ack_before_enqueue(
    rs: ReplicaSet, replica: Replica, tok: str, channel: str, user: str
) -> Acked:
    """Mention the bot as ``user`` in ``channel``; kill ``replica`` in the window above."""
    held = rs.slack.lose_next_response("users.info", match=lambda args: args.get("user") == user)
    try:
        ts, ack = await rs.slack.mention(
            f"bench kind=plain tok={tok}", channel, user, connection=replica.connection
        )
        assert ack.envelope is not None, "the mention was not acked"
        await wait_until(rs.slack, lambda: held.peer, WAIT_S, "the intake's users.info call")
        assert held.peer is not None and replica.owns_port(held.peer[1])
        store = await Store.open(rs.db_url)
        try:
            assert await ops_of(store, tok) == [], "enqueued before the kill: no window tested"
            row = await inbox_row(store, ack.envelope["payload"]["event_id"])
            assert row is not None and row[0] == "received" and tok in (row[1] or "")
        finally:
            await store.close()
        await rs.kill(replica)
    finally:
        held.release.set()
    return Acked(tok, channel, user, ts, ack.envelope["payload"]["event_id"], ack.envelope)


async def assert_answered_once(rs: ReplicaSet, acked: Acked) -> None:
    """Wait for the answer, stop every replica (nothing can post after that), then: one
    answer in the thread, one turn in the store, the inbox row done and its body dropped."""
    turn = Turn("plain", acked.tok, acked.channel, acked.ts, acked.event_id, acked.user)
    answer = f"Answer for {acked.tok}"
    await wait_until(rs.slack, lambda: answers(rs, turn, answer), WAIT_S, "the answer")
    codes = await rs.stop_all()
    assert all(code == 0 for code in codes.values()), codes
    assert answers(rs, turn, answer) == 1
    store = await Store.open(rs.db_url)
    try:
        assert await ops_of(store, acked.tok) == ["done"]  # one turn
        assert await inbox_row(store, acked.event_id) == ("done", None)
    finally:
        await store.close()
