"""The durable outbox: every notification is a row before anyone tries to send it.

Row life: ``pending`` → ``sending`` (claimed by the worker, ``attempts`` + 1) → ``sent`` (with
the provider's id) | back to ``pending`` with a later ``next_attempt_at`` | ``failed`` with the
reason. ``idempotency_key`` is UNIQUE — ``<session>:<seq>:<destination>`` for engine events — so
replaying an event after a restart can never enqueue (or send) it twice. Sent rows are kept for
``delivery.sent_retention_days`` (they are what makes replays idempotent) and then pruned.

A row found in ``sending`` at startup was cut off mid-delivery by a crash; it goes back to
``pending`` (at-least-once for that one case; webhooks carry the stable key so receivers can
drop the duplicate). A graceful :meth:`NotificationService.close` drains in-flight deliveries
first, so ordinary restarts neither lose nor repeat anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_core.store import Schema, Store
from agent_core.store import dumps as _dumps

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"

OUTBOX_SCHEMA = Schema(
    "gateways",
    (
        # v1 — adopts the table older builds created with the engine's own v1.
        """
        CREATE TABLE IF NOT EXISTS outbox (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            idempotency_key TEXT NOT NULL UNIQUE,
            destination   TEXT NOT NULL,
            event_type    TEXT NOT NULL,
            session_id    TEXT,
            payload       TEXT NOT NULL,
            status        TEXT NOT NULL DEFAULT 'pending',
            attempts      INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error    TEXT,
            external_id   TEXT,
            created_at    REAL NOT NULL,
            updated_at    REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
        """,
        # v2 — the event-log position moves from a timestamp in kv to the store's per-session
        # cursors (consumer "gateways"). Sessions get the last event older than the old cursor
        # minus the old replay margin (60 s); sessions with nothing older replay from the start.
        """
        INSERT INTO event_consumers (consumer, started_at)
            SELECT 'gateways', CAST(value AS REAL) FROM kv
            WHERE namespace='gateways' AND key='notifying_since'
            ON CONFLICT (consumer) DO NOTHING;
        INSERT INTO event_cursors (consumer, session_id, seq, state, updated_at)
            SELECT 'gateways', e.session_id, MAX(e.seq), '{}', k.updated_at
            FROM events e JOIN kv k ON k.namespace='gateways' AND k.key='event_cursor'
            WHERE e.ts < CAST(k.value AS REAL) - 60
            GROUP BY e.session_id
            ON CONFLICT (consumer, session_id) DO NOTHING;
        DELETE FROM kv WHERE namespace='gateways' AND key IN ('event_cursor', 'notifying_since');
        """,
    ),
    postgres={
        # v2 as above, with the aggregate Postgres requires for the kv row's time.
        2: """
        INSERT INTO event_consumers (consumer, started_at)
            SELECT 'gateways', CAST(value AS DOUBLE PRECISION) FROM kv
            WHERE namespace='gateways' AND key='notifying_since'
            ON CONFLICT (consumer) DO NOTHING;
        INSERT INTO event_cursors (consumer, session_id, seq, state, updated_at)
            SELECT 'gateways', e.session_id, MAX(e.seq), '{}', MAX(k.updated_at)
            FROM events e JOIN kv k ON k.namespace='gateways' AND k.key='event_cursor'
            WHERE e.ts < CAST(k.value AS DOUBLE PRECISION) - 60
            GROUP BY e.session_id
            ON CONFLICT (consumer, session_id) DO NOTHING;
        DELETE FROM kv WHERE namespace='gateways' AND key IN ('event_cursor', 'notifying_since');
        """
    },
)


@dataclass(frozen=True)
class OutboxItem:
    key: str
    destination: str
    event_type: str
    session_id: str | None
    payload: dict[str, Any]
    due_at: float


@dataclass(frozen=True)
class OutboxRow:
    id: int
    key: str
    destination: str
    event_type: str
    session_id: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    external_id: str | None
    created_at: float
    updated_at: float


def _row(r: Any) -> OutboxRow:
    return OutboxRow(
        id=int(r["id"]),
        key=r["idempotency_key"],
        destination=r["destination"],
        event_type=r["event_type"],
        session_id=r["session_id"],
        payload=json.loads(r["payload"]),
        status=r["status"],
        attempts=int(r["attempts"]),
        next_attempt_at=float(r["next_attempt_at"]),
        last_error=r["last_error"],
        external_id=r["external_id"],
        created_at=float(r["created_at"]),
        updated_at=float(r["updated_at"]),
    )


class Outbox:
    """Queries on the ``outbox`` table (declared here, :data:`OUTBOX_SCHEMA`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.require(OUTBOX_SCHEMA)

    async def enqueue(self, items: Sequence[OutboxItem]) -> dict[str, OutboxRow]:
        """Insert rows atomically; existing keys are left alone. Returns rows by key."""
        if not items:
            return {}
        now = time.time()
        await self.store.transaction(
            [
                (
                    "INSERT INTO outbox (idempotency_key, destination, event_type,"
                    " session_id, payload, status, attempts, next_attempt_at, created_at,"
                    " updated_at) VALUES (?,?,?,?,?,?,0,?,?,?)"
                    " ON CONFLICT (idempotency_key) DO NOTHING",
                    (
                        it.key,
                        it.destination,
                        it.event_type,
                        it.session_id,
                        _dumps(it.payload),
                        PENDING,
                        it.due_at,
                        now,
                        now,
                    ),
                )
                for it in items
            ]
        )
        return await self.by_keys([it.key for it in items])

    async def upsert_pending(self, item: OutboxItem) -> OutboxRow | None:
        """Insert, or replace the payload of a row that has not been attempted yet.

        Used for the collapsed-error follow-up whose count grows until it is due. Returns the
        row, or None when the existing row is already past ``pending`` (caller starts afresh).
        """
        now = time.time()
        await self.store.execute(
            "INSERT INTO outbox (idempotency_key, destination, event_type, session_id, payload,"
            " status, attempts, next_attempt_at, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,0,?,?,?)"
            " ON CONFLICT(idempotency_key) DO UPDATE SET payload=excluded.payload,"
            " updated_at=excluded.updated_at WHERE outbox.status='pending'",
            (
                item.key,
                item.destination,
                item.event_type,
                item.session_id,
                _dumps(item.payload),
                PENDING,
                item.due_at,
                now,
                now,
            ),
        )
        row = (await self.by_keys([item.key])).get(item.key)
        if row is None or row.status != PENDING or row.payload != item.payload:
            return None
        return row

    async def by_keys(self, keys: Sequence[str]) -> dict[str, OutboxRow]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = await self.store.fetchall(
            f"SELECT * FROM outbox WHERE idempotency_key IN ({marks})", list(keys)
        )
        return {r["idempotency_key"]: _row(r) for r in rows}

    async def get(self, row_id: int) -> OutboxRow | None:
        r = await self.store.fetchone("SELECT * FROM outbox WHERE id=?", (row_id,))
        return _row(r) if r else None

    async def due_heads(self, now: float, exclude: set[str]) -> list[OutboxRow]:
        """The oldest due row of each destination not in ``exclude``.

        One row per destination is all the worker can start, and selecting per destination
        means a backlog at one destination can never hide another's rows.
        """
        marks = ",".join("?" * len(exclude))
        skip = f" AND destination NOT IN ({marks})" if exclude else ""
        rows = await self.store.fetchall(
            "SELECT * FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox"
            f" WHERE status=? AND next_attempt_at<=?{skip} GROUP BY destination) ORDER BY id",
            (PENDING, now, *sorted(exclude)),
        )
        return [_row(r) for r in rows]

    async def next_due_by_destination(self) -> dict[str, float]:
        rows = await self.store.fetchall(
            "SELECT destination, MIN(next_attempt_at) AS t FROM outbox WHERE status=?"
            " GROUP BY destination",
            (PENDING,),
        )
        return {r["destination"]: float(r["t"]) for r in rows}

    async def claim(self, row_id: int) -> bool:
        """pending → sending, counting the attempt. False if someone else got there first."""
        n = await self.store.execute(
            "UPDATE outbox SET status=?, attempts=attempts+1, updated_at=? WHERE id=? AND status=?",
            (SENDING, time.time(), row_id, PENDING),
        )
        return n == 1

    async def mark_sent(self, row_id: int, external_id: str | None) -> None:
        await self.store.execute(
            "UPDATE outbox SET status=?, external_id=?, updated_at=? WHERE id=?",
            (SENT, external_id, time.time(), row_id),
        )

    async def mark_retry(self, row_id: int, error: str, next_attempt_at: float) -> None:
        await self.store.execute(
            "UPDATE outbox SET status=?, last_error=?, next_attempt_at=?, updated_at=? WHERE id=?",
            (PENDING, error[:1000], next_attempt_at, time.time(), row_id),
        )

    async def mark_failed(self, row_id: int, error: str) -> None:
        await self.store.execute(
            "UPDATE outbox SET status=?, last_error=?, updated_at=? WHERE id=?",
            (FAILED, error[:1000], time.time(), row_id),
        )

    async def unsettled(self, now: float, *, include_future: bool = False) -> int:
        """Rows in flight or due by ``now`` (with ``include_future``: every unsent pending row)."""
        if include_future:
            sql, params = "SELECT COUNT(*) FROM outbox WHERE status IN (?,?)", (SENDING, PENDING)
        else:
            sql = "SELECT COUNT(*) FROM outbox WHERE status=? OR (status=? AND next_attempt_at<=?)"
            params = (SENDING, PENDING, now)
        row = await self.store.fetchone(sql, params)
        return int(row[0]) if row else 0

    async def recover_interrupted(self) -> int:
        """Rows left ``sending`` by a crash go back to ``pending`` (attempt count kept)."""
        return await self.store.execute(
            "UPDATE outbox SET status=?, next_attempt_at=?, updated_at=? WHERE status=?",
            (PENDING, time.time(), time.time(), SENDING),
        )

    async def prune_sent(self, older_than: float) -> int:
        return await self.store.execute(
            "DELETE FROM outbox WHERE status=? AND updated_at<?", (SENT, older_than)
        )

    async def stats(self) -> dict[str, dict[str, Any]]:
        """Per destination: counts by status, last sent time, latest unresolved error."""
        out: dict[str, dict[str, Any]] = {}
        for r in await self.store.fetchall(
            "SELECT destination, status, COUNT(*) AS n, MAX(updated_at) AS t FROM outbox"
            " GROUP BY destination, status"
        ):
            d = out.setdefault(r["destination"], {"counts": {}, "last_sent_at": None})
            d["counts"][r["status"]] = int(r["n"])
            if r["status"] == SENT:
                d["last_sent_at"] = float(r["t"])
        for r in await self.store.fetchall(
            "SELECT destination, status, last_error, updated_at FROM outbox"
            " WHERE last_error IS NOT NULL AND status IN (?,?) ORDER BY updated_at",
            (PENDING, FAILED),
        ):
            d = out.setdefault(r["destination"], {"counts": {}, "last_sent_at": None})
            d["last_error"] = r["last_error"]
            d["last_error_at"] = float(r["updated_at"])
            d["last_error_status"] = r["status"]
        return out
