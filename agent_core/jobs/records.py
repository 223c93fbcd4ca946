"""Watched jobs in the store: what was submitted, where it stands, whether its end was reported.

The ``jobs`` table (declared and migrated here, :data:`JOBS_SCHEMA`) has a few indexed columns and an
``info`` JSON column for everything else (timeout, estimate, YOLO reservation, requester,
latest metrics and log tail, the finished payload, bookkeeping flags). Keeping the extras in
JSON means the watcher can grow without a schema migration.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..store import Schema, Store
from ..store import dumps as _dumps

JOBS_SCHEMA = Schema(
    "jobs",
    (
        # v1 — adopts the table older builds created with the engine's own v1.
        """
        CREATE TABLE IF NOT EXISTS jobs (
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
        CREATE INDEX IF NOT EXISTS jobs_open ON jobs (finished_emitted, session_id);
        """,
        # v2 — who may report a job's end when several replicas share the store
        # (agent_core.jobs.ownership): the claim of the newest lease generation.
        """
        CREATE TABLE IF NOT EXISTS job_reports (
            job_id        TEXT PRIMARY KEY,
            owner         TEXT NOT NULL,
            generation    INTEGER NOT NULL,
            claimed_at    REAL NOT NULL
        );
        """,
    ),
)


@dataclass
class JobRecord:
    """One submitted job as the watcher knows it."""

    job_id: str
    session_id: str
    namespace: str
    tool_call_id: str | None = None
    flavor: str = "cpu-basic"
    url: str = ""
    origin: dict[str, Any] = field(default_factory=dict)
    stage: str = "SCHEDULING"
    submitted_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    finished_emitted: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    # Convenience views over ``info`` (the fields hf_jobs fills at submission).
    @property
    def timeout_s(self) -> int | None:
        value = self.info.get("timeout_s")
        return int(value) if isinstance(value, int | float) else None

    @property
    def estimated_cost_usd(self) -> float | None:
        value = self.info.get("estimated_cost_usd")
        return float(value) if isinstance(value, int | float) else None

    @property
    def reserved_usd(self) -> float | None:
        value = self.info.get("reserved_usd")
        return float(value) if isinstance(value, int | float) else None

    @property
    def requester(self) -> str | None:
        value = (
            self.info.get("requester") or self.origin.get("requester") or self.origin.get("user")
        )
        return str(value) if value else None

    def identity(self) -> dict[str, Any]:
        """The fields that identify a job and who it belongs to (snapshots, lookups)."""
        return {
            "job_id": self.job_id,
            "session_id": self.session_id,
            "namespace": self.namespace,
            "flavor": self.flavor,
            "url": self.url,
            "requester": self.requester,
            "tool_call_id": self.tool_call_id,
            "submitted_at": self.submitted_at,
        }


def _row_to_record(row: Any) -> JobRecord:
    return JobRecord(
        job_id=row["job_id"],
        session_id=row["session_id"],
        namespace=row["namespace"],
        tool_call_id=row["tool_call_id"],
        flavor=row["flavor"] or "",
        url=row["url"] or "",
        origin=json.loads(row["origin"] or "{}"),
        stage=row["stage"],
        submitted_at=float(row["submitted_at"]),
        finished_at=row["finished_at"],
        finished_emitted=bool(row["finished_emitted"]),
        info=json.loads(row["info"] or "{}"),
    )


class JobStore:
    """Queries on the ``jobs`` table. All writes are single statements (atomic by themselves)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.require(JOBS_SCHEMA)

    async def insert(self, rec: JobRecord) -> None:
        """Record a submitted job. Idempotent: a second insert of the same id is ignored."""
        now = time.time()
        await self.store.execute(
            "INSERT INTO jobs (job_id, session_id, namespace, tool_call_id, flavor, url,"
            " origin, stage, info, submitted_at, finished_at, finished_emitted, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,NULL,0,?) ON CONFLICT (job_id) DO NOTHING",
            (
                rec.job_id,
                rec.session_id,
                rec.namespace,
                rec.tool_call_id,
                rec.flavor,
                rec.url,
                _dumps(rec.origin),
                rec.stage,
                _dumps(rec.info),
                rec.submitted_at,
                now,
            ),
        )

    async def get(self, job_id: str) -> JobRecord | None:
        row = await self.store.fetchone("SELECT * FROM jobs WHERE job_id=?", (job_id,))
        return _row_to_record(row) if row else None

    async def open_jobs(self) -> list[JobRecord]:
        """Jobs whose end has not been reported yet (to resume after a restart)."""
        rows = await self.store.fetchall(
            "SELECT * FROM jobs WHERE finished_emitted=0 ORDER BY submitted_at"
        )
        return [_row_to_record(r) for r in rows]

    async def for_session(
        self, session_id: str, *, include_reported: bool = True
    ) -> list[JobRecord]:
        sql = "SELECT * FROM jobs WHERE session_id=?"
        if not include_reported:
            sql += " AND finished_emitted=0"
        rows = await self.store.fetchall(sql + " ORDER BY submitted_at", (session_id,))
        return [_row_to_record(r) for r in rows]

    async def update(
        self,
        job_id: str,
        *,
        stage: str | None = None,
        info: dict[str, Any] | None = None,
        finished_at: float | None = None,
    ) -> None:
        sets, params = ["updated_at=?"], [time.time()]
        if stage is not None:
            sets.append("stage=?")
            params.append(stage)
        if info is not None:
            sets.append("info=?")
            params.append(_dumps(info))
        if finished_at is not None:
            sets.append("finished_at=?")
            params.append(finished_at)
        params.append(job_id)
        await self.store.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE job_id=?", params)

    async def mark_reported(self, job_id: str, info: dict[str, Any]) -> bool:
        """Set ``finished_emitted=1``. Returns False if it was already set (someone else did)."""
        count = await self.store.execute(
            "UPDATE jobs SET finished_emitted=1, info=?, updated_at=? "
            "WHERE job_id=? AND finished_emitted=0",
            (_dumps(info), time.time(), job_id),
        )
        return count > 0

    async def finished_event_exists(self, session_id: str, job_id: str) -> bool:
        """Whether a ``job_finished`` event for this job is already in the session's event log.

        Events are persisted before they are delivered, and gateways replay the event log after
        a restart, so a persisted ``job_finished`` *is* the report — this check is what makes
        the report exactly-once across a crash between emitting and marking.
        """
        event = await self.store.find_event(session_id, "job_finished", job_id=job_id)
        return event is not None
