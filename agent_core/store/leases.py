"""Per-session leases: which replica drives a session, for how long, and since which takeover.

How several bot processes share one Postgres store (issue 19): :mod:`agent_core.replicas` takes
these leases around a session's worker (and around rendering a thread, keyed ``render:<id>``);
the job watcher keys its own ``job:<id>``.

The rules, all enforced by single statements so they hold across replicas and connections:

- :meth:`SessionLeases.acquire` gets a free or expired lease (or re-takes one's own); a live
  lease held by another replica is refused. Two replicas racing for one session: one wins.
- Every change of holder bumps ``generation`` — a fencing token: work started under generation
  *g* can check :meth:`SessionLeases.holds` before acting, and a replica that paused past its
  expiry (GC, network) finds it lost the lease instead of acting twice.
- :meth:`SessionLeases.renew` extends only a live lease of one's own; an expired one must be
  acquired again (another replica may have taken it meanwhile).
- :meth:`SessionLeases.release` gives a lease up at once (graceful shutdown), so a successor
  need not wait for the expiry.

Times are epoch seconds from the caller's clock (``now`` is injectable, so tests need no
sleeps); replicas are expected to run NTP-synced clocks, with ``ttl_s`` far above their skew.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .schema import Schema

if TYPE_CHECKING:
    from . import Store

LEASES_SCHEMA = Schema(
    "leases",
    (
        # v1 — one row per session ever leased; the row stays when the lease expires.
        """
        CREATE TABLE IF NOT EXISTS session_leases (
            session_id    TEXT PRIMARY KEY,
            owner         TEXT NOT NULL,
            generation    INTEGER NOT NULL,
            acquired_at   REAL NOT NULL,
            renewed_at    REAL NOT NULL,
            expires_at    REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS session_leases_expiry ON session_leases (expires_at);
        """,
    ),
)


@dataclass(frozen=True)
class Lease:
    """A live lease: ``owner`` drives ``session_id`` until ``expires_at`` (unless renewed)."""

    session_id: str
    owner: str
    generation: int
    expires_at: float


def _lease(row: Any) -> Lease:
    return Lease(row["session_id"], row["owner"], int(row["generation"]), float(row["expires_at"]))


_COLUMNS = "session_id, owner, generation, expires_at"


class SessionLeases:
    """Queries on ``session_leases`` (declared here, :data:`LEASES_SCHEMA`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.require(LEASES_SCHEMA)

    async def acquire(
        self, session_id: str, owner: str, ttl_s: float, *, now: float | None = None
    ) -> Lease | None:
        """The lease for ``owner`` (new, taken over after expiry, or its own extended), or
        None if another replica holds it."""
        if ttl_s <= 0:
            raise ValueError("a lease needs a positive ttl_s")
        now = time.time() if now is None else now
        row = await self.store.fetchone(
            "INSERT INTO session_leases (session_id, owner, generation, acquired_at, renewed_at,"
            " expires_at) VALUES (?, ?, 1, ?, ?, ?)"
            " ON CONFLICT (session_id) DO UPDATE SET"
            " generation = CASE WHEN session_leases.owner = excluded.owner"
            "   THEN session_leases.generation ELSE session_leases.generation + 1 END,"
            " acquired_at = CASE WHEN session_leases.owner = excluded.owner"
            "   THEN session_leases.acquired_at ELSE excluded.acquired_at END,"
            " owner = excluded.owner, renewed_at = excluded.renewed_at,"
            " expires_at = excluded.expires_at"
            " WHERE session_leases.owner = excluded.owner OR session_leases.expires_at <= ?"
            f" RETURNING {_COLUMNS}",
            (session_id, owner, now, now, now + ttl_s, now),
        )
        return _lease(row) if row is not None else None

    async def renew(self, lease: Lease, ttl_s: float, *, now: float | None = None) -> Lease | None:
        """Extend a live lease of one's own (same generation); None if it expired or changed
        hands — then stop acting for the session and :meth:`acquire` again."""
        now = time.time() if now is None else now
        row = await self.store.fetchone(
            "UPDATE session_leases SET expires_at=?, renewed_at=? WHERE session_id=? AND owner=?"
            f" AND generation=? AND expires_at > ? RETURNING {_COLUMNS}",
            (now + ttl_s, now, lease.session_id, lease.owner, lease.generation, now),
        )
        return _lease(row) if row is not None else None

    async def renew_many(
        self, leases: list[Lease], ttl_s: float, *, now: float | None = None
    ) -> list[Lease]:
        """:meth:`renew` for many leases of one owner in one statement per 500 (a replica's
        renewal round): the leases still live and unchanged, extended."""
        now = time.time() if now is None else now
        wanted = {(lease.session_id, lease.generation) for lease in leases}
        owners = {lease.owner for lease in leases}
        renewed: list[Lease] = []
        for owner in owners:
            keys = [lease.session_id for lease in leases if lease.owner == owner]
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = await self.store.fetchall(
                    "UPDATE session_leases SET expires_at=?, renewed_at=?"
                    f" WHERE owner=? AND expires_at > ? AND session_id IN ({marks})"
                    f" RETURNING {_COLUMNS}",
                    (now + ttl_s, now, owner, now, *chunk),
                )
                renewed += [
                    _lease(r) for r in rows if (r["session_id"], int(r["generation"])) in wanted
                ]
        return renewed

    async def holds(self, lease: Lease, *, now: float | None = None) -> bool:
        """Whether ``lease`` is still live and unchanged (the fencing check before acting)."""
        current = await self.holder(lease.session_id, now=now)
        return current is not None and (current.owner, current.generation) == (
            lease.owner,
            lease.generation,
        )

    async def release(self, lease: Lease) -> bool:
        """Give the lease up now; False if it had already expired or changed hands."""
        return (
            await self.store.execute(
                "UPDATE session_leases SET expires_at=renewed_at WHERE session_id=? AND owner=?"
                " AND generation=? AND expires_at > renewed_at",
                (lease.session_id, lease.owner, lease.generation),
            )
            == 1
        )

    async def holder(self, session_id: str, *, now: float | None = None) -> Lease | None:
        """The live lease on a session, if any."""
        now = time.time() if now is None else now
        row = await self.store.fetchone(
            f"SELECT {_COLUMNS} FROM session_leases WHERE session_id=? AND expires_at > ?",
            (session_id, now),
        )
        return _lease(row) if row is not None else None

    async def expired(self, *, now: float | None = None) -> list[str]:
        """Sessions whose lease ran out (a replica died or released): candidates to resume."""
        now = time.time() if now is None else now
        rows = await self.store.fetchall(
            "SELECT session_id FROM session_leases WHERE expires_at <= ? ORDER BY expires_at",
            (now,),
        )
        return [r["session_id"] for r in rows]

    async def unowned_with_work(
        self, *, mine: str | None = None, now: float | None = None
    ) -> list[str]:
        """Sessions with operations queued or left running whose lease is free or expired —
        or held in ``mine``'s name (a previous run of this replica, restarted under the same
        id): work nobody is doing (a lost wake-up, a dead owner). Oldest operation first."""
        now = time.time() if now is None else now
        rows = await self.store.fetchall(
            "SELECT o.session_id, MIN(o.id) AS first_op FROM ops o"
            " LEFT JOIN session_leases l ON l.session_id = o.session_id"
            " WHERE o.status IN ('queued', 'running')"
            " AND (l.expires_at IS NULL OR l.expires_at <= ? OR l.owner = ?)"
            " GROUP BY o.session_id ORDER BY first_op",
            (now, mine or ""),
        )
        return [r["session_id"] for r in rows]
