"""The event log and its consumers' durable cursors — the one way to read what a session did.

Every engine event is appended here (with a per-session sequence number) *before* anyone is
told about it. A consumer that must not miss events across a restart (the Slack renderer, the
notification gateways) keeps a cursor per session: "everything up to ``seq`` is handled",
optionally with the state it folded from those events, written together so they never
disagree. Replay after a restart is always the same two steps — :meth:`EventLog.sessions_behind`
to find the sessions with unhandled events, :meth:`EventLog.events_after` from the cursor —
so there is one replay mechanism, not one per consumer.

Nobody outside the store modules writes SQL against ``events`` or ``event_cursors``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from .database import Database, dumps

_APPEND_ATTEMPTS = 50


@dataclass(frozen=True)
class Cursor:
    """How far ``consumer`` has handled ``session_id``'s events, and what it folded from them."""

    consumer: str
    session_id: str
    seq: int = 0
    state: dict[str, Any] = field(default_factory=dict)


def _event(row: Any) -> Event:
    return Event(
        row["session_id"], int(row["seq"]), row["type"], json.loads(row["data"]), row["ts"]
    )


class EventLog(Database):
    """Appending, reading and finding events; consumer cursors."""

    # ------------------------------------------------------------------ the log
    async def append_event(self, session_id: str, type_: str, data: dict[str, Any]) -> Event:
        """Persist an event and return it with its sequence number.

        The sequence number is computed inside the INSERT so that two emitters for one session
        (a turn and the job watcher, say) can never collide.
        """
        (event,) = await self.append_events(session_id, [(type_, data)])
        return event

    async def append_events(
        self,
        session_id: str,
        events: Sequence[tuple[str, dict[str, Any]]],
        *,
        with_statements: Sequence[tuple[str, Sequence[Any]]] = (),
    ) -> list[Event]:
        """Persist several events of one session — and ``with_statements`` before them — in one
        transaction (one round trip on SQLite): a step's history, state and events become
        durable together, or not at all. Returns the events with their sequence numbers.
        """
        now = time.time()
        inserts = [
            (
                "INSERT INTO events (session_id, seq, type, data, ts) VALUES (?, "
                "(SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id=?), ?, ?, ?) "
                "RETURNING seq",
                (session_id, session_id, type_, dumps(data), now),
            )
            for type_, data in events
        ]
        statements = [*with_statements, *inserts]
        # One writer per store on SQLite never collides; Postgres replicas (or pooled
        # connections) appending to one session at once can, and the loser simply retries
        # (``with_statements`` are upserts of the caller's own rows, safe to repeat).
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                if len(statements) == 1:
                    rows = [[await self.fetchone(*statements[0])]]
                else:
                    rows = await self.transaction(statements)
                break
            except self.backend.conflict_errors:
                if attempt == _APPEND_ATTEMPTS - 1:
                    raise
        seqs = [int(r[0][0]) for r in rows[len(with_statements) :]]
        return [
            Event(session_id=session_id, seq=seq, type=type_, data=data, ts=now)
            for seq, (type_, data) in zip(seqs, events, strict=True)
        ]

    async def events_after(
        self,
        session_id: str,
        after_seq: int = 0,
        limit: int | None = None,
        *,
        upto: int | None = None,
        types: Iterable[str] | None = None,
    ) -> list[Event]:
        """The session's events with ``after_seq < seq <= upto``, oldest first.

        ``types`` keeps only those event types (a consumer that cares about a few).
        """
        sql = "SELECT session_id, seq, type, data, ts FROM events WHERE session_id=? AND seq>?"
        params: list[Any] = [session_id, after_seq]
        if upto is not None:
            sql += " AND seq<=?"
            params.append(upto)
        if types is not None:
            wanted = sorted(set(types))
            if not wanted:
                return []
            sql += f" AND type IN ({','.join('?' * len(wanted))})"
            params += wanted
        sql += " ORDER BY seq"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [_event(r) for r in await self.fetchall(sql, params)]

    async def last_seq(self, session_id: str) -> int:
        row = await self.fetchone(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id=?", (session_id,)
        )
        return int(row[0]) if row else 0

    async def find_event(self, session_id: str, type_: str, **fields: Any) -> Event | None:
        """The latest ``type_`` event of the session whose data has all of ``fields``.

        E.g. ``find_event(sid, "approval_required", batch_id=b)`` — the request behind a card.
        """
        sql = "SELECT session_id, seq, type, data, ts FROM events WHERE session_id=? AND type=?"
        params: list[Any] = [session_id, type_]
        for name, value in fields.items():
            condition, param = self.dialect.json_equals("data", name, value)
            sql += f" AND {condition}"
            params.append(param)
        row = await self.fetchone(sql + " ORDER BY seq DESC LIMIT 1", params)
        return _event(row) if row else None

    # ------------------------------------------------------------------ cursors
    async def cursor(self, consumer: str, session_id: str) -> Cursor | None:
        """The consumer's cursor for a session, or None if it never followed it."""
        row = await self.fetchone(
            "SELECT seq, state FROM event_cursors WHERE consumer=? AND session_id=?",
            (consumer, session_id),
        )
        if row is None:
            return None
        return Cursor(consumer, session_id, int(row["seq"]), json.loads(row["state"] or "{}"))

    async def start_cursor(self, consumer: str, session_id: str) -> Cursor:
        """The cursor, created at the session's current end if missing: nothing older replays."""
        await self.execute(*self.cursor_start(consumer, session_id))
        cursor = await self.cursor(consumer, session_id)
        assert cursor is not None
        return cursor

    def cursor_start(self, consumer: str, session_id: str) -> tuple[str, tuple[Any, ...]]:
        """The statement of :meth:`start_cursor` (for a caller's larger transaction)."""
        return (
            "INSERT INTO event_cursors (consumer, session_id, seq, state, updated_at)"
            " VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id=?),"
            " '{}', ?) ON CONFLICT (consumer, session_id) DO NOTHING",
            (consumer, session_id, session_id, time.time()),
        )

    async def advance_cursor(
        self, consumer: str, session_id: str, seq: int, state: dict[str, Any] | None = None
    ) -> None:
        """Record that events up to ``seq`` are handled (and the state folded from them).

        A cursor never moves backwards: an older ``seq`` (a late, concurrent handler) is ignored.
        """
        await self.execute(
            "INSERT INTO event_cursors (consumer, session_id, seq, state, updated_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT (consumer, session_id) DO UPDATE SET"
            " seq=excluded.seq, updated_at=excluded.updated_at,"
            " state=CASE WHEN ? THEN excluded.state ELSE event_cursors.state END"
            " WHERE excluded.seq >= event_cursors.seq",
            (consumer, session_id, seq, dumps(state or {}), time.time(), state is not None),
        )

    async def sessions_behind(self, consumer: str, *, untracked: bool = False) -> list[str]:
        """Sessions with events past the consumer's cursor (to replay after a restart).

        ``untracked`` also counts sessions the consumer has no cursor for (from the start):
        for a consumer that must see every session, not only those it started following.
        """
        tracked = (
            "SELECT c.session_id FROM event_cursors c WHERE c.consumer=? AND c.seq <"
            " (SELECT COALESCE(MAX(e.seq), 0) FROM events e WHERE e.session_id = c.session_id)"
        )
        if not untracked:
            rows = await self.fetchall(tracked + " ORDER BY c.session_id", (consumer,))
        else:
            rows = await self.fetchall(
                f"{tracked} UNION SELECT DISTINCT e.session_id FROM events e WHERE NOT EXISTS"
                " (SELECT 1 FROM event_cursors c WHERE c.consumer=? AND c.session_id=e.session_id)"
                " ORDER BY 1",
                (consumer, consumer),
            )
        return [r[0] for r in rows]

    async def register_consumer(self, consumer: str) -> bool:
        """Start following every session. The first time (returns True), each existing
        session's cursor starts at its current end, so history from before is never replayed."""
        async with self.atomic() as db:
            async with db.execute(
                "INSERT INTO event_consumers (consumer, started_at) VALUES (?,?)"
                " ON CONFLICT (consumer) DO NOTHING",
                (consumer, time.time()),
            ) as cur:
                if cur.rowcount == 0:
                    return False
            await db.execute(
                "INSERT INTO event_cursors (consumer, session_id, seq, state, updated_at)"
                " SELECT ?, session_id, MAX(seq), '{}', CAST(? AS DOUBLE PRECISION) FROM events"
                " WHERE true GROUP BY session_id"
                " ON CONFLICT (consumer, session_id) DO NOTHING",
                (consumer, time.time()),
            )
        return True
