"""The engine's own tables: sessions, their LLM history, queued operations, and a small kv."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ..events import EventType
from .database import Database, dumps

# The last event of a turn: once one is logged after an op started, the op has done its work.
TURN_ENDINGS = tuple(
    str(t)
    for t in (
        EventType.TURN_COMPLETE,
        EventType.INTERRUPTED,
        EventType.APPROVAL_REQUIRED,
        EventType.ERROR,
    )
)


class SessionTables(Database):
    """Sessions, history (``messages``), the operation queue (``ops``) and ``kv``."""

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
            "INSERT INTO sessions (id, origin, model, state, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
            (session_id, dumps(origin), model, dumps(state), now, now),
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
        await self.execute(
            *self.session_update(session_id, state=state, model=model, origin=origin, status=status)
        )

    def session_update(
        self,
        session_id: str,
        *,
        state: dict[str, Any] | str | None = None,
        model: str | None = None,
        origin: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> tuple[str, list[Any]]:
        """The UPDATE for :meth:`update_session`, to run inside a larger transaction
        (``state`` may already be JSON text)."""
        sets, params = ["updated_at=?"], [time.time()]
        for col, val in (("state", state), ("origin", origin)):
            if val is not None:
                sets.append(f"{col}=?")
                params.append(val if isinstance(val, str) else dumps(val))
        for col, val in (("model", model), ("status", status)):
            if val is not None:
                sets.append(f"{col}=?")
                params.append(val)
        params.append(session_id)
        return f"UPDATE sessions SET {', '.join(sets)} WHERE id=?", params

    async def sessions_with_pending_batch(self) -> list[tuple[str, str]]:
        """(session, batch id) of every session whose state names an approval batch in flight."""
        batch = self.dialect.json_text("state", "pending_batch")
        rows = await self.fetchall(
            f"SELECT id, {batch} AS batch FROM sessions WHERE {batch} IS NOT NULL"
        )
        return [(r["id"], str(r["batch"])) for r in rows]

    # ------------------------------------------------------------------ history
    async def load_messages(self, session_id: str) -> list[dict[str, Any]]:
        rows = await self.fetchall(
            "SELECT message FROM messages WHERE session_id=? ORDER BY idx", (session_id,)
        )
        return [json.loads(r["message"]) for r in rows]

    async def append_messages(
        self, session_id: str, start_idx: int, messages: Sequence[dict[str, Any]]
    ) -> None:
        if messages:
            await self.transaction(self.messages_appended(session_id, start_idx, messages))

    async def replace_messages(self, session_id: str, messages: Sequence[dict[str, Any]]) -> None:
        """Rewrite the whole history atomically (after compaction, undo, repair)."""
        await self.transaction(self.messages_replaced(session_id, messages))

    def messages_appended(
        self, session_id: str, start_idx: int, messages: Sequence[dict[str, Any]]
    ) -> list[tuple[str, Sequence[Any]]]:
        """The statements of :meth:`append_messages` (for a larger transaction)."""
        return [
            (
                "INSERT INTO messages (session_id, idx, message) VALUES (?,?,?)"
                " ON CONFLICT (session_id, idx) DO UPDATE SET message=excluded.message",
                (session_id, start_idx + i, dumps(m)),
            )
            for i, m in enumerate(messages)
        ]

    def messages_replaced(
        self, session_id: str, messages: Sequence[dict[str, Any]]
    ) -> list[tuple[str, Sequence[Any]]]:
        """The statements of :meth:`replace_messages` (for a larger transaction)."""
        stmts: list[tuple[str, Sequence[Any]]] = [
            ("DELETE FROM messages WHERE session_id=?", (session_id,))
        ]
        stmts += [
            (
                "INSERT INTO messages (session_id, idx, message) VALUES (?,?,?)",
                (session_id, i, dumps(m)),
            )
            for i, m in enumerate(messages)
        ]
        return stmts

    # ------------------------------------------------------------------ queued operations
    async def enqueue_op(self, session_id: str, kind: str, data: dict[str, Any]) -> int:
        now = time.time()
        row = await self.fetchone(
            "INSERT INTO ops (session_id, kind, data, status, created_at, updated_at)"
            " VALUES (?,?,?,'queued',?,?) RETURNING id",
            (session_id, kind, dumps(data), now, now),
        )
        assert row is not None
        return int(row[0])

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

    async def count_queued_ops(self, session_id: str, kind: str | None = None) -> int:
        """Operations of a session still waiting to run (of one ``kind`` if given)."""
        sql = "SELECT COUNT(*) FROM ops WHERE session_id=? AND status='queued'"
        params: list[Any] = [session_id]
        if kind is not None:
            sql += " AND kind=?"
            params.append(kind)
        row = await self.fetchone(sql, params)
        return int(row[0]) if row else 0

    async def has_queued_op(self, session_id: str, kind: str) -> bool:
        return await self.count_queued_ops(session_id, kind) > 0

    async def queued_ops(self, session_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        """(id, kind, data) of the session's operations still waiting to run, oldest first."""
        rows = await self.fetchall(
            "SELECT id, kind, data FROM ops WHERE session_id=? AND status='queued' ORDER BY id",
            (session_id,),
        )
        return [(int(r["id"]), r["kind"], json.loads(r["data"])) for r in rows]

    async def update_queued_op(self, op_id: int, data: dict[str, Any]) -> bool:
        """Replace a waiting operation's data; False if it already started (or is gone)."""
        return (
            await self.execute(
                "UPDATE ops SET data=?, updated_at=? WHERE id=? AND status='queued'",
                (dumps(data), time.time(), op_id),
            )
            == 1
        )

    async def drop_queued_op(self, op_id: int) -> bool:
        """Withdraw a waiting operation; False if it already started (or is gone)."""
        return await self.execute("DELETE FROM ops WHERE id=? AND status='queued'", (op_id,)) == 1

    async def count_all_queued_ops(self) -> int:
        """Operations waiting across every session (the ops endpoint's queue depth)."""
        row = await self.fetchone("SELECT COUNT(*) FROM ops WHERE status='queued'")
        return int(row[0]) if row else 0

    async def sessions_with_queued_ops(self) -> list[str]:
        rows = await self.fetchall(
            "SELECT DISTINCT session_id FROM ops WHERE status='queued' ORDER BY session_id"
        )
        return [r["session_id"] for r in rows]

    async def count_working_sessions(self, requester: str) -> int:
        """How many sessions started by ``requester`` have an operation running (on any
        replica sharing the store)."""
        who = self.dialect.json_text("s.origin", "requester")
        row = await self.fetchone(
            "SELECT COUNT(DISTINCT o.session_id) FROM ops o JOIN sessions s ON s.id = o.session_id"
            f" WHERE o.status = 'running' AND {who} = ?",
            (requester,),
        )
        return int(row[0]) if row else 0

    async def mark_running_ops(
        self, status: str, session_id: str | None = None
    ) -> list[tuple[int, str, str]]:
        """After a crash: ops left 'running' were cut off mid-way (all of them, or one
        session's when another replica takes it over). Returns (id, session, kind) of those
        set to ``status``.

        An op whose turn had already ended — an answer, a stop, an approval request or an
        error logged after it started — only missed being marked done (the process died in
        between): it is marked done and not returned, so nobody is told a finished turn was
        cut off.
        """
        marks = ",".join("?" * len(TURN_ENDINGS))
        where, params = "status='running'", [*TURN_ENDINGS, status, time.time()]
        if session_id is not None:
            where += " AND session_id=?"
            params.append(session_id)
        rows = await self.fetchall(
            "UPDATE ops SET status = CASE WHEN EXISTS (SELECT 1 FROM events e"
            " WHERE e.session_id = ops.session_id AND e.ts >= ops.updated_at"
            f" AND e.type IN ({marks})) THEN 'done' ELSE ? END, updated_at=?"
            f" WHERE {where} RETURNING id, session_id, kind, status",
            params,
        )
        return sorted(
            (int(r["id"]), r["session_id"], r["kind"]) for r in rows if r["status"] == status
        )

    # ------------------------------------------------------------------ kv
    async def kv_get(self, namespace: str, key: str) -> Any:
        row = await self.fetchone(
            "SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key)
        )
        return json.loads(row["value"]) if row else None

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        await self.execute(
            "INSERT INTO kv (namespace, key, value, updated_at) VALUES (?,?,?,?)"
            " ON CONFLICT (namespace, key) DO UPDATE SET value=excluded.value,"
            " updated_at=excluded.updated_at",
            (namespace, key, dumps(value), time.time()),
        )

    async def kv_items(self, namespace: str) -> dict[str, Any]:
        """Every key of a namespace with its value (namespaces are small by design)."""
        rows = await self.fetchall("SELECT key, value FROM kv WHERE namespace=?", (namespace,))
        return {r["key"]: json.loads(r["value"]) for r in rows}

    async def kv_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Forget ``keys``; returns how many existed."""
        if not keys:
            return 0
        marks = ",".join("?" * len(keys))
        return await self.execute(
            f"DELETE FROM kv WHERE namespace=? AND key IN ({marks})", (namespace, *keys)
        )
