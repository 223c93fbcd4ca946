"""The durable store: everything that must survive a restart lives here, in one SQLite file.

One aiosqlite connection in WAL mode serves the whole process. Writes are serialised by the
connection's own worker thread, so callers never hold locks across awaits. The schema is
versioned with ``PRAGMA user_version`` and migrated forward on open; a newer file than this
code understands is refused rather than silently damaged.

Layers above own their queries (the bot's ledger, the gateways' outbox, the job watcher) but
the tables are declared here so that there is exactly one migration history.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from .events import Event
from .paths import default_db_path

# Each entry upgrades the schema by one version. Never edit a released entry: append.
MIGRATIONS: list[str] = [
    # v1 — the whole initial schema.
    """
    CREATE TABLE sessions (
        id            TEXT PRIMARY KEY,
        origin        TEXT NOT NULL DEFAULT '{}',
        model         TEXT,
        state         TEXT NOT NULL DEFAULT '{}',
        status        TEXT NOT NULL DEFAULT 'active',
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL
    );
    CREATE TABLE messages (
        session_id    TEXT NOT NULL,
        idx           INTEGER NOT NULL,
        message       TEXT NOT NULL,
        PRIMARY KEY (session_id, idx)
    );
    CREATE TABLE events (
        session_id    TEXT NOT NULL,
        seq           INTEGER NOT NULL,
        type          TEXT NOT NULL,
        data          TEXT NOT NULL,
        ts            REAL NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    CREATE INDEX events_by_type ON events (type, ts);
    CREATE TABLE ops (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id    TEXT NOT NULL,
        kind          TEXT NOT NULL,
        data          TEXT NOT NULL,
        status        TEXT NOT NULL DEFAULT 'queued',
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL
    );
    CREATE INDEX ops_pending ON ops (status, session_id, id);
    CREATE TABLE approvals (
        session_id    TEXT NOT NULL,
        tool_call_id  TEXT NOT NULL,
        batch_id      TEXT NOT NULL,
        tool          TEXT NOT NULL,
        arguments     TEXT NOT NULL,
        args_hash     TEXT NOT NULL,
        approval_class TEXT,
        status        TEXT NOT NULL DEFAULT 'pending',
        requester     TEXT,
        decided_by    TEXT,
        feedback      TEXT,
        overrides     TEXT NOT NULL DEFAULT '{}',
        reason        TEXT,
        estimated_cost_usd REAL,
        created_at    REAL NOT NULL,
        expires_at    REAL,
        decided_at    REAL,
        PRIMARY KEY (session_id, tool_call_id)
    );
    CREATE INDEX approvals_pending ON approvals (status, expires_at);
    CREATE TABLE jobs (
        job_id        TEXT PRIMARY KEY,
        session_id    TEXT NOT NULL,
        namespace     TEXT NOT NULL,
        tool_call_id  TEXT,
        flavor        TEXT,
        url           TEXT,
        origin        TEXT NOT NULL DEFAULT '{}',
        stage         TEXT NOT NULL DEFAULT 'SCHEDULING',
        info          TEXT NOT NULL DEFAULT '{}',
        submitted_at  REAL NOT NULL,
        finished_at   REAL,
        finished_emitted INTEGER NOT NULL DEFAULT 0,
        updated_at    REAL NOT NULL
    );
    CREATE INDEX jobs_open ON jobs (finished_emitted, session_id);
    CREATE TABLE slack_seen_events (
        event_key     TEXT PRIMARY KEY,
        received_at   REAL NOT NULL
    );
    CREATE TABLE slack_ledger (
        session_id    TEXT NOT NULL,
        seq           INTEGER NOT NULL,
        part          TEXT NOT NULL DEFAULT '',
        channel       TEXT NOT NULL,
        ts            TEXT,
        status        TEXT NOT NULL DEFAULT 'posted',
        created_at    REAL NOT NULL,
        PRIMARY KEY (session_id, seq, part)
    );
    CREATE TABLE slack_threads (
        session_id    TEXT PRIMARY KEY,
        team          TEXT,
        channel       TEXT NOT NULL,
        thread_ts     TEXT NOT NULL,
        rendered_seq  INTEGER NOT NULL DEFAULT 0,
        state         TEXT NOT NULL DEFAULT '{}',
        updated_at    REAL NOT NULL
    );
    CREATE TABLE outbox (
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
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    CREATE TABLE kv (
        namespace     TEXT NOT NULL,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        updated_at    REAL NOT NULL,
        PRIMARY KEY (namespace, key)
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The store cannot be opened or used (bad path, newer schema, corrupt file)."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class Store:
    """Async facade over the SQLite file. Open with ``await Store.open(path)``; close always."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.db = db
        self.path = path
        # One connection is shared by every coroutine; without this lock a statement issued
        # by one coroutine could land inside (and be rolled back with) another's transaction.
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(cls, path: str | os.PathLike[str] | None = None) -> Store:
        resolved = str(path) if path else str(default_db_path())
        if resolved != ":memory:":
            try:
                Path(resolved).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory for the store {resolved}: {exc}"
                ) from exc
        try:
            db = await aiosqlite.connect(resolved, isolation_level=None)
        except Exception as exc:  # sqlite3.OperationalError and friends
            raise StoreError(f"cannot open the store at {resolved}: {exc}") from exc
        db.row_factory = aiosqlite.Row
        store = cls(db, resolved)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA foreign_keys=ON")
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self.db.close()

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store at {self.path} has schema v{version}, newer than this build "
                f"understands (v{SCHEMA_VERSION}); upgrade ml-intern-slack or use another ML_INTERN_DB"
            )
        for target in range(version, SCHEMA_VERSION):
            await self.db.executescript(
                "BEGIN;\n" + MIGRATIONS[target] + f"\nPRAGMA user_version={target + 1};\nCOMMIT;"
            )

    # ------------------------------------------------------------------ generic helpers
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns lastrowid (for inserts) or rowcount."""
        async with self._lock:
            async with self.db.execute(sql, params) as cur:
                return cur.lastrowid if sql.lstrip()[:6].upper() == "INSERT" else cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._lock:
            await self.db.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self._lock:
            async with self.db.execute(sql, params) as cur:
                return await cur.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            async with self.db.execute(sql, params) as cur:
                return list(await cur.fetchall())

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[aiosqlite.Connection]:
        """An exclusive write transaction. Inside, use the yielded connection directly."""
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Apply several statements atomically."""
        async with self.atomic() as db:
            for sql, params in statements:
                await db.execute(sql, params)

    # ------------------------------------------------------------------ sessions
    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        row = await self.fetchone("SELECT * FROM sessions WHERE id=?", (session_id,))
        if row is None:
            return None
        return {
            "id": row["id"],
            "origin": json.loads(row["origin"]),
            "model": row["model"],
            "state": json.loads(row["state"]),
            "status": row["status"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    async def create_session(
        self, session_id: str, origin: dict[str, Any], model: str, state: dict[str, Any]
    ) -> None:
        now = time.time()
        await self.execute(
            "INSERT OR IGNORE INTO sessions (id, origin, model, state, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?)",
            (session_id, _dumps(origin), model, _dumps(state), now, now),
        )

    async def update_session(
        self,
        session_id: str,
        *,
        state: dict[str, Any] | None = None,
        model: str | None = None,
        origin: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> None:
        sets, params = ["updated_at=?"], [time.time()]
        for col, val in (("state", state), ("origin", origin)):
            if val is not None:
                sets.append(f"{col}=?")
                params.append(_dumps(val))
        for col, val in (("model", model), ("status", status)):
            if val is not None:
                sets.append(f"{col}=?")
                params.append(val)
        params.append(session_id)
        await self.execute(f"UPDATE sessions SET {', '.join(sets)} WHERE id=?", params)

    async def list_sessions(self, status: str | None = None) -> list[str]:
        if status:
            rows = await self.fetchall("SELECT id FROM sessions WHERE status=?", (status,))
        else:
            rows = await self.fetchall("SELECT id FROM sessions")
        return [r["id"] for r in rows]

    # ------------------------------------------------------------------ history
    async def load_messages(self, session_id: str) -> list[dict[str, Any]]:
        rows = await self.fetchall(
            "SELECT message FROM messages WHERE session_id=? ORDER BY idx", (session_id,)
        )
        return [json.loads(r["message"]) for r in rows]

    async def append_messages(
        self, session_id: str, start_idx: int, messages: Sequence[dict[str, Any]]
    ) -> None:
        if not messages:
            return
        await self.transaction(
            [
                (
                    "INSERT OR REPLACE INTO messages (session_id, idx, message) VALUES (?,?,?)",
                    (session_id, start_idx + i, _dumps(m)),
                )
                for i, m in enumerate(messages)
            ]
        )

    async def replace_messages(self, session_id: str, messages: Sequence[dict[str, Any]]) -> None:
        """Rewrite the whole history atomically (after compaction, undo, repair)."""
        stmts: list[tuple[str, Sequence[Any]]] = [
            ("DELETE FROM messages WHERE session_id=?", (session_id,))
        ]
        stmts += [
            (
                "INSERT INTO messages (session_id, idx, message) VALUES (?,?,?)",
                (session_id, i, _dumps(m)),
            )
            for i, m in enumerate(messages)
        ]
        await self.transaction(stmts)

    # ------------------------------------------------------------------ events
    async def append_event(self, session_id: str, type_: str, data: dict[str, Any]) -> Event:
        """Persist an event and return it with its sequence number.

        The sequence number is computed inside the INSERT so that two emitters for one session
        (a turn and the job watcher, say) can never collide.
        """
        now = time.time()
        payload = _dumps(data)
        row = await self.fetchone(
            "INSERT INTO events (session_id, seq, type, data, ts) VALUES (?, "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id=?), ?, ?, ?) "
            "RETURNING seq",
            (session_id, session_id, type_, payload, now),
        )
        assert row is not None
        return Event(session_id=session_id, seq=int(row[0]), type=type_, data=data, ts=now)

    async def events_after(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        sql = "SELECT seq, type, data, ts FROM events WHERE session_id=? AND seq>? ORDER BY seq"
        params: list[Any] = [session_id, after_seq]
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self.fetchall(sql, params)
        return [
            Event(session_id, int(r["seq"]), r["type"], json.loads(r["data"]), r["ts"])
            for r in rows
        ]

    async def last_seq(self, session_id: str) -> int:
        row = await self.fetchone(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id=?", (session_id,)
        )
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ queued operations
    async def enqueue_op(self, session_id: str, kind: str, data: dict[str, Any]) -> int:
        now = time.time()
        return await self.execute(
            "INSERT INTO ops (session_id, kind, data, status, created_at, updated_at)"
            " VALUES (?,?,?,'queued',?,?)",
            (session_id, kind, _dumps(data), now, now),
        )

    async def next_op(self, session_id: str) -> tuple[int, dict[str, Any]] | None:
        row = await self.fetchone(
            "SELECT id, data FROM ops WHERE session_id=? AND status='queued' ORDER BY id LIMIT 1",
            (session_id,),
        )
        return (int(row["id"]), json.loads(row["data"])) if row else None

    async def set_op_status(self, op_id: int, status: str) -> None:
        await self.execute(
            "UPDATE ops SET status=?, updated_at=? WHERE id=?", (status, time.time(), op_id)
        )

    async def sessions_with_queued_ops(self) -> list[str]:
        rows = await self.fetchall(
            "SELECT DISTINCT session_id FROM ops WHERE status='queued' ORDER BY session_id"
        )
        return [r["session_id"] for r in rows]

    async def mark_running_ops(self, status: str) -> list[tuple[int, str, str]]:
        """After a crash: ops left 'running' were cut off mid-way. Returns (id, session, kind)."""
        rows = await self.fetchall("SELECT id, session_id, kind FROM ops WHERE status='running'")
        if rows:
            await self.execute(
                "UPDATE ops SET status=?, updated_at=? WHERE status='running'",
                (status, time.time()),
            )
        return [(int(r["id"]), r["session_id"], r["kind"]) for r in rows]

    # ------------------------------------------------------------------ kv
    async def kv_get(self, namespace: str, key: str) -> Any:
        row = await self.fetchone(
            "SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key)
        )
        return json.loads(row["value"]) if row else None

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        await self.execute(
            "INSERT OR REPLACE INTO kv (namespace, key, value, updated_at) VALUES (?,?,?,?)",
            (namespace, key, _dumps(value), time.time()),
        )
