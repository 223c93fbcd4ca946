"""The durable outbox: every notification is a row before anyone tries to send it.

Row life: ``pending`` → ``sending`` (claimed by the worker, ``attempts`` + 1) → ``sent`` (with
the provider's id) | back to ``pending`` with a later ``next_attempt_at`` | ``failed`` with the
reason. ``idempotency_key`` is UNIQUE — ``<session>:<seq>:<destination>`` for engine events — so
replaying an event after a restart can never enqueue (or send) it twice. Sent rows are kept for
``delivery.sent_retention_days`` (they are what makes replays idempotent) and then pruned.

Several replicas may each run a delivery worker on one store. A claim is one conditional
``UPDATE … WHERE status='pending'`` that also records the claimant (``claimed_by``) and until
when the claim holds (``claim_expires_at``, beyond the longest a delivery may take), so exactly
one worker delivers a row; the claimant marks it ``sent`` before its claim can expire. A row
whose claimant died (still ``sending`` past its expiry) is put back to ``pending`` by whichever
worker looks next (:meth:`Outbox.reclaim_expired`) — at-least-once for that one case; webhooks
carry the stable key so receivers can drop the duplicate. A late claimant's retry/failure
bookkeeping only applies to a row it still holds. Due rows skip destinations with a delivery
in flight on any replica, so deliveries to one destination stay sequential across replicas.

At startup a worker takes back what its own previous life left ``sending`` (same
``ML_INTERN_REPLICA_ID``; on SQLite, one process per file: every such row, as before). A
graceful :meth:`NotificationService.close` drains in-flight deliveries first, so ordinary
restarts neither lose nor repeat anything.
"""

from __future__ import annotations

import json
import os
import socket
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
        # v3 — delivery claims shared by several replicas' workers (who, and until when).
        """
        ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
        ALTER TABLE outbox ADD COLUMN claim_expires_at REAL;
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


DEFAULT_CLAIM_TTL_S = 120.0


def default_claimant() -> str:
    """This process's name on its claims: ``ML_INTERN_REPLICA_ID``, else ``<host>-<pid>``."""
    return os.environ.get("ML_INTERN_REPLICA_ID") or f"{socket.gethostname()}-{os.getpid()}"


class Outbox:
    """Queries on the ``outbox`` table (declared here, :data:`OUTBOX_SCHEMA`).

    ``claimant`` names this worker on its claims; ``claim_ttl_s`` must exceed the longest a
    delivery (and its bookkeeping) can take, or a slow delivery could be repeated.
    """

    def __init__(
        self,
        store: Store,
        *,
        claimant: str | None = None,
        claim_ttl_s: float = DEFAULT_CLAIM_TTL_S,
    ) -> None:
        self.store = store
        self.claimant = claimant or default_claimant()
        self.claim_ttl_s = claim_ttl_s
        store.require(OUTBOX_SCHEMA)

    async def enqueue(self, items: Sequence[OutboxItem]) -> dict[str, OutboxRow]:
        """Insert rows atomically; existing keys are left alone. Returns rows by key."""
        if not items:
            return {}
        now = time.time()
        # One statement: atomic by itself, and a key enqueued by two replicas at once is
        # decided by the unique index (no store-wide lock).
        params: list[Any] = []
        for it in items:
            params += [
                it.key,
                it.destination,
                it.event_type,
                it.session_id,
                _dumps(it.payload),
                PENDING,
                it.due_at,
                now,
                now,
            ]
        await self.store.execute(
            "INSERT INTO outbox (idempotency_key, destination, event_type, session_id, payload,"
            " status, attempts, next_attempt_at, created_at, updated_at) VALUES "
            + ",".join("(?,?,?,?,?,?,0,?,?,?)" for _ in items)
            + " ON CONFLICT (idempotency_key) DO NOTHING",
            params,
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
            f" WHERE status=? AND next_attempt_at<=?{skip} AND destination NOT IN"
            " (SELECT destination FROM outbox WHERE status=?) GROUP BY destination) ORDER BY id",
            (PENDING, now, *sorted(exclude), SENDING),
        )
        return [_row(r) for r in rows]

    async def next_due_by_destination(self) -> dict[str, float]:
        """When each destination next has a row due (those with a delivery in flight on any
        replica are left to that delivery's worker)."""
        rows = await self.store.fetchall(
            "SELECT destination, MIN(next_attempt_at) AS t FROM outbox WHERE status=?"
            " AND destination NOT IN (SELECT destination FROM outbox WHERE status=?)"
            " GROUP BY destination",
            (PENDING, SENDING),
        )
        return {r["destination"]: float(r["t"]) for r in rows}

    async def claim(self, row_id: int) -> bool:
        """pending → sending for this claimant, counting the attempt. False if another worker
        (of any replica) got there first."""
        now = time.time()
        n = await self.store.execute(
            "UPDATE outbox SET status=?, attempts=attempts+1, claimed_by=?, claim_expires_at=?,"
            " updated_at=? WHERE id=? AND status=?",
            (SENDING, self.claimant, now + self.claim_ttl_s, now, row_id, PENDING),
        )
        return n == 1

    async def mark_sent(self, row_id: int, external_id: str | None) -> None:
        """Delivered: never again (whoever holds the claim by now — a slow claimant's
        success still stops a redelivery that has not started)."""
        await self.store.execute(
            "UPDATE outbox SET status=?, external_id=?, claimed_by=NULL, claim_expires_at=NULL,"
            " updated_at=? WHERE id=?",
            (SENT, external_id, time.time(), row_id),
        )

    async def mark_retry(self, row_id: int, error: str, next_attempt_at: float) -> None:
        await self._settle(row_id, PENDING, error, next_attempt_at)

    async def mark_failed(self, row_id: int, error: str) -> None:
        await self._settle(row_id, FAILED, error, None)

    async def _settle(self, row_id: int, status: str, error: str, due: float | None) -> None:
        """Record a failed attempt, unless the row was sent or is claimed by another worker
        (this one was too slow and its claim ran out)."""
        due_sql = ", next_attempt_at=?" if due is not None else ""
        await self.store.execute(
            f"UPDATE outbox SET status=?, last_error=?{due_sql}, claimed_by=NULL,"
            " claim_expires_at=NULL, updated_at=? WHERE id=? AND status<>?"
            " AND (claimed_by IS NULL OR claimed_by=?)",
            (
                status,
                error[:1000],
                *(() if due is None else (due,)),
                time.time(),
                row_id,
                SENT,
                self.claimant,
            ),
        )

    async def reclaim_expired(self, now: float | None = None) -> int:
        """Rows whose claimant died mid-delivery (claim expired) go back to ``pending``."""
        now = time.time() if now is None else now
        return await self.store.execute(
            "UPDATE outbox SET status=?, claimed_by=NULL, claim_expires_at=NULL,"
            " next_attempt_at=?, updated_at=? WHERE status=? AND claim_expires_at<=?",
            (PENDING, now, now, SENDING, now),
        )

    async def next_claim_expiry(self) -> float | None:
        """When the earliest live claim runs out (the worker looks again then)."""
        row = await self.store.fetchone(
            "SELECT MIN(claim_expires_at) FROM outbox WHERE status=?", (SENDING,)
        )
        return float(row[0]) if row is not None and row[0] is not None else None

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
        """At startup: rows this worker's previous life left ``sending`` go back to
        ``pending`` (attempt count kept), with unclaimed ones and expired claims. On SQLite (one
        process per file) every ``sending`` row is such a leftover."""
        now = time.time()
        mine = ""
        params: tuple[object, ...] = (PENDING, now, now, SENDING)
        if self.store.dialect.is_postgres:
            mine = " AND (claimed_by IS NULL OR claimed_by=? OR claim_expires_at<=?)"
            params += (self.claimant, now)
        return await self.store.execute(
            "UPDATE outbox SET status=?, claimed_by=NULL, claim_expires_at=NULL,"
            f" next_attempt_at=?, updated_at=? WHERE status=?{mine}",
            params,
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
