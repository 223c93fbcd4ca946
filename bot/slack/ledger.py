"""What was posted to Slack for which engine event: the gateway's outbound idempotency.

A post is recorded as ``pending`` *before* the request and as ``posted`` with its ts after.
After a crash, a ``pending`` row means "the request may or may not have reached Slack"; the
renderer then looks for the message's metadata marker in the thread before posting again, so
a restart never doubles a message and never loses one.

Across replicas every decision to post is one conditional statement: :meth:`Ledger.begin`
inserts the row only if absent and says whether this caller won it; :meth:`Ledger.retry`
takes over a ``pending`` row left by a crash only if nobody took it over since it was read
(compare-and-set on its attempt time). Of two replicas racing for one part, one posts.
(A *live* replica's in-flight post is not taken over because only a session's owner renders
it — see the manager's session leases.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agent_core.store import Store
from bot.slack.tables import SLACK_SCHEMA

PENDING = "pending"
POSTED = "posted"

METADATA_EVENT_TYPE = "ml_intern_render"


@dataclass(frozen=True)
class LedgerEntry:
    session_id: str
    seq: int
    part: str
    channel: str
    ts: str | None
    status: str
    attempted_at: float = 0.0  # when the current attempt began (the takeover check)


def marker(session_id: str, seq: int, part: str) -> dict[str, object]:
    """The message metadata that identifies a post (found again after a crash)."""
    return {
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {"session": session_id, "seq": seq, "part": part},
    }


def matches_marker(message: dict, session_id: str, seq: int, part: str) -> bool:
    meta = message.get("metadata") if isinstance(message, dict) else None
    if not isinstance(meta, dict) or meta.get("event_type") != METADATA_EVENT_TYPE:
        return False
    payload = meta.get("event_payload") or {}
    return (
        payload.get("session") == session_id
        and int(payload.get("seq", -1)) == seq
        and payload.get("part") == part
    )


class Ledger:
    """Rows of ``slack_ledger``: (session, seq, part) → channel, ts, status."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.require(SLACK_SCHEMA)

    async def get(self, session_id: str, seq: int, part: str) -> LedgerEntry | None:
        row = await self.store.fetchone(
            "SELECT session_id, seq, part, channel, ts, status, created_at FROM slack_ledger"
            " WHERE session_id=? AND seq=? AND part=?",
            (session_id, seq, part),
        )
        if row is None:
            return None
        return LedgerEntry(
            row["session_id"],
            int(row["seq"]),
            row["part"],
            row["channel"],
            row["ts"],
            row["status"],
            float(row["created_at"]),
        )

    async def begin(self, session_id: str, seq: int, part: str, channel: str) -> bool:
        """Record the attempt to post a part; False if it is already recorded (then this
        caller must not post it: it was posted, or another replica is posting it)."""
        row = await self.store.fetchone(
            "INSERT INTO slack_ledger (session_id, seq, part, channel, ts, status,"
            " created_at) VALUES (?,?,?,?,NULL,?,?) ON CONFLICT DO NOTHING RETURNING seq",
            (session_id, seq, part, channel, PENDING, time.time()),
        )
        return row is not None

    async def retry(self, entry: LedgerEntry) -> bool:
        """Take over a ``pending`` part (its post was cut off) for a new attempt; False if it
        was posted or taken over by someone else since ``entry`` was read."""
        row = await self.store.fetchone(
            "UPDATE slack_ledger SET created_at=? WHERE session_id=? AND seq=? AND part=?"
            " AND status=? AND created_at=? RETURNING seq",
            (
                max(time.time(), entry.attempted_at + 1e-3),
                entry.session_id,
                entry.seq,
                entry.part,
                PENDING,
                entry.attempted_at,
            ),
        )
        return row is not None

    async def done(self, session_id: str, seq: int, part: str, ts: str | None) -> None:
        await self.store.execute(
            "UPDATE slack_ledger SET ts=?, status=? WHERE session_id=? AND seq=? AND part=?",
            (ts, POSTED, session_id, seq, part),
        )
