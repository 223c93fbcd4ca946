"""Which replica watches which job, when several bot processes share one Postgres store.

Each running job is watched by exactly one replica: the one holding the job's lease. Leases
are the store's per-session leases (:class:`~agent_core.store.leases.SessionLeases`), keyed
``job:<job_id>`` so a job never collides with a session: acquired when a replica starts
watching, renewed every ``renew_every_s``, released when the job's end is reported or the
replica stops. A replica that dies stops renewing; after ``lease_ttl_s`` another replica's
patrol (:meth:`~agent_core.jobs.watcher.JobWatcher.patrol`) acquires the lease — with a new
fencing ``generation`` — and resumes the job as a restart would.

The end of a job is reported once across replicas: before reporting, the holder *claims the
report* (:meth:`JobOwnership.claim_report`), one upsert on ``job_reports`` that succeeds only
for a lease generation newer than any earlier claim, and then checks that its lease is still
live. A replica that lost the job meanwhile (it paused past its lease) finds either a newer
claim or a lost lease and stays silent; the new holder, if it claims after an earlier holder
had already emitted, finds the persisted ``job_finished`` event and only completes the
bookkeeping (see :mod:`.reporting`). On SQLite (one process per file) there is no ownership:
the watcher behaves exactly as before.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from ..store import Lease, SessionLeases
from .records import JOBS_SCHEMA

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Store

log = logging.getLogger(__name__)

KEY_PREFIX = "job:"
DEFAULT_TTL_S = 15.0
DEFAULT_RENEW_S = 5.0


def job_key(job_id: str) -> str:
    return f"{KEY_PREFIX}{job_id}"


class JobOwnership:
    """Job leases and report claims for one replica (``owner``)."""

    def __init__(
        self,
        store: Store,
        owner: str,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        renew_every_s: float = DEFAULT_RENEW_S,
    ) -> None:
        if not 0 < renew_every_s < ttl_s:
            raise ValueError("job leases must be renewed more often than they expire")
        self.store = store
        self.owner = owner
        self.ttl_s = ttl_s
        self.renew_every_s = renew_every_s
        self.leases = SessionLeases(store)
        self._held: dict[str, Lease] = {}
        store.require(JOBS_SCHEMA)

    @classmethod
    def for_config(cls, store: Store, config: Config) -> JobOwnership | None:
        """Ownership on a shared (Postgres) store, named and timed by ``config.replicas``;
        None on SQLite."""
        if not store.dialect.is_postgres:
            return None
        replicas: Any = getattr(config, "replicas", None)
        owner = getattr(replicas, "replica_id", None) or (
            os.environ.get("ML_INTERN_REPLICA_ID") or f"{socket.gethostname()}-{os.getpid()}"
        )
        return cls(
            store,
            owner,
            ttl_s=getattr(replicas, "lease_ttl_s", DEFAULT_TTL_S),
            renew_every_s=getattr(replicas, "renew_every_s", DEFAULT_RENEW_S),
        )

    def holds(self, job_id: str) -> bool:
        """Whether this replica holds the job's lease (as of its last renewal)."""
        lease = self._held.get(job_id)
        return lease is not None and lease.expires_at > time.time()

    async def acquire(self, job_id: str) -> bool:
        """Take the job's lease (new, expired, or already ours); False if another replica
        holds it."""
        lease = await self.leases.acquire(job_key(job_id), self.owner, self.ttl_s)
        if lease is None:
            return False
        self._held[job_id] = lease
        return True

    async def renew_all(self) -> list[str]:
        """Renew every held lease; returns the jobs whose lease was lost (stop watching them)."""
        lost = []
        for job_id, lease in list(self._held.items()):
            renewed = await self.leases.renew(lease, self.ttl_s)
            if renewed is None:
                lost.append(job_id)
                self._held.pop(job_id, None)
            else:
                self._held[job_id] = renewed
        return lost

    async def release(self, job_id: str) -> None:
        """Give the job's lease up now (best effort: if the store is unreachable, it expires)."""
        lease = self._held.pop(job_id, None)
        if lease is None:
            return
        try:
            await self.leases.release(lease)
        except Exception:
            log.warning("could not release the lease on job %s", job_id, exc_info=True)

    async def release_all(self) -> None:
        for job_id in list(self._held):
            await self.release(job_id)

    async def claim_report(self, job_id: str) -> bool:
        """May this replica report the job's end? One statement decides between replicas:
        the claim goes to the newest lease generation, and only a live lease may use it."""
        lease = self._held.get(job_id)
        if lease is None:
            return False
        row = await self.store.fetchone(
            "INSERT INTO job_reports (job_id, owner, generation, claimed_at) VALUES (?,?,?,?)"
            " ON CONFLICT (job_id) DO UPDATE SET owner=excluded.owner,"
            " generation=excluded.generation, claimed_at=excluded.claimed_at"
            " WHERE job_reports.generation < excluded.generation"
            " OR (job_reports.generation = excluded.generation"
            " AND job_reports.owner = excluded.owner) RETURNING job_id",
            (job_id, lease.owner, lease.generation, time.time()),
        )
        return row is not None and await self.leases.holds(lease)
