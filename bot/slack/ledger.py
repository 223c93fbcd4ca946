"""What was posted to Slack for which engine event: the gateway's outbound idempotency.

A post is recorded as ``pending`` *before* the request and as ``posted`` with its ts after.
After a crash, a ``pending`` row means "the request may or may not have reached Slack"; the
renderer then looks for the message's metadata marker in the thread before posting again, so
a restart never doubles a message and never loses one.
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
            "SELECT session_id, seq, part, channel, ts, status FROM slack_ledger"
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
        )

    async def begin(self, session_id: str, seq: int, part: str, channel: str) -> None:
        await self.store.execute(
            "INSERT INTO slack_ledger (session_id, seq, part, channel, ts, status,"
            " created_at) VALUES (?,?,?,?,NULL,?,?) ON CONFLICT DO NOTHING",
            (session_id, seq, part, channel, PENDING, time.time()),
        )

    async def done(self, session_id: str, seq: int, part: str, ts: str | None) -> None:
        await self.store.execute(
            "UPDATE slack_ledger SET ts=?, status=? WHERE session_id=? AND seq=? AND part=?",
            (ts, POSTED, session_id, seq, part),
        )
