"""A replica's hold on one session (or one thread's rendering) while it works on it.

A :class:`Claim` is what a worker gets from :mod:`.ownership` before it acts for a key, and
gives back when it is done. Two kinds:

- :data:`LOCAL_CLAIM` — one process on SQLite: nobody else can act, so holding costs nothing
  (no store round trip, no task, no fence).
- :class:`LeasedClaim` — several replicas on Postgres: a lease in ``session_leases``
  (:class:`~agent_core.store.leases.SessionLeases`), renewed in the background every
  ``renew_every_s`` together with the replica's other leases (one statement per round, so a
  busy replica's renewals do not crowd its own turns) and given up on
  :meth:`~LeasedClaim.release`.

Fencing (a replica that stalled past its lease must not act twice): the lease's expiry is
kept locally, in this process's clock, as the renewals report it. :meth:`LeasedClaim.fence` is
called before every step that acts — an LLM call or a compaction, a batch of tool calls (an
approval batch's too), every event the session emits and every history commit, marking an
operation done (see :attr:`agent_core.session.interruption.Interruption.fence`); while the expiry is comfortably ahead (more than half the slack
between renewals and expiry) it returns without touching the store. Near or past the expiry —
the renewals stopped: the process was paused, or the store was unreachable — it renews
synchronously. A lease that expired but that no other replica took meanwhile (its fencing
``generation`` unchanged: nobody acted for the key) is simply taken again; if another replica
took it, or the store did not answer before the expiry, it raises :class:`LeaseLost`. The
background renewal, on finding the lease gone, calls ``on_lost`` at once (the manager cancels
the session's worker) instead of waiting for the next fence. Steps already under way when the
lease expires (a tool call in flight) finish: the successor reports that operation as
interrupted and never re-runs it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from ..store.leases import Lease, SessionLeases

log = logging.getLogger(__name__)


class LeaseLost(BaseException):
    """This replica no longer holds the key: stop acting for it (someone else does now).

    A ``BaseException``, like :class:`asyncio.CancelledError`, so that no ``except Exception``
    on its way up (a tool's error handling, the LLM retry loop, a listener guard) turns it into
    a result and carries on acting."""


class Claim(Protocol):
    """What a worker holds while it acts for ``key``."""

    @property
    def fenced(self) -> bool:
        """Whether :meth:`fence` can ever fail (False: no need to call it)."""
        ...

    @property
    def lost(self) -> bool:
        """Whether the hold was lost while working (stop; write nothing more)."""
        ...

    @property
    def fresh(self) -> bool:
        """True when another replica may have acted for the key since this replica last held
        it: in-memory copies of its state are stale, and work it left running was cut off."""
        ...

    async def fence(self) -> None:
        """Raise :class:`LeaseLost` unless the key is still held (cheap, see the module)."""
        ...

    async def release(self) -> None:
        """Give the key up (idempotent)."""
        ...


class _LocalClaim:
    """The claim of the only process on the store: always held, never stale."""

    fenced = False
    fresh = False
    lost = False

    async def fence(self) -> None:
        return None

    async def release(self) -> None:
        return None


LOCAL_CLAIM: Claim = _LocalClaim()


class LeasedClaim:
    """A live lease on ``key``; its owner (:class:`~.ownership.LeasedOwnership`) renews it with
    the replica's other leases until it is released or lost."""

    fenced = True

    def __init__(
        self,
        leases: SessionLeases,
        lease: Lease,
        *,
        ttl_s: float,
        renew_every_s: float,
        fresh: bool,
        on_lost: Callable[[], None] | None = None,
        on_release: Callable[[LeasedClaim], None] | None = None,
    ) -> None:
        self.leases = leases
        self.lease = lease
        self.ttl_s = ttl_s
        self.renew_every_s = renew_every_s
        self.fresh = fresh
        # The fence renews synchronously once the expiry is this close.
        self.margin_s = (ttl_s - renew_every_s) / 2
        self.lost = False
        self._on_lost = on_lost
        self._on_release = on_release
        self._released = False

    @property
    def key(self) -> str:
        return self.lease.session_id

    @property
    def generation(self) -> int:
        return self.lease.generation

    async def fence(self) -> None:
        if self.lost or self._released:
            raise LeaseLost(self.key)
        if time.time() < self.lease.expires_at - self.margin_s:
            return
        if not await self.renew():
            raise LeaseLost(self.key)

    async def renew(self) -> bool:
        """Extend the lease now; False (and ``lost``) when another replica took it, or when
        its expiry passed without the store confirming it is still ours."""
        try:
            renewed = await self.leases.renew(self.lease, self.ttl_s)
            if renewed is None:
                renewed = await self._retake()
        except Exception:
            log.warning("could not renew the lease on %s", self.key, exc_info=True)
            if time.time() < self.lease.expires_at - self.margin_s:
                return True  # the store hiccuped; still well within the lease
            renewed = None
        if renewed is None:
            self._mark_lost()
            return False
        self.lease = renewed
        return True

    def renewed(self, lease: Lease) -> None:
        """The replica's renewal round extended this lease."""
        self.lease = lease

    async def missed(self) -> None:
        """The renewal round could not extend this lease: take it back if nobody else had it
        meanwhile, else stop the work (``on_lost``)."""
        if not await self.renew() and self._on_lost is not None:
            self._on_lost()  # from the renewal task, never the worker's own (it may cancel it)

    async def _retake(self) -> Lease | None:
        """After expiry: the same lease again if no other replica took it meanwhile (its
        fencing generation is unchanged, so nobody acted for the key in between)."""
        again = await self.leases.acquire(self.key, self.lease.owner, self.ttl_s)
        if again is None:
            return None
        if again.generation == self.lease.generation:
            return again
        await self.leases.release(again)  # someone held it in between: a new worker reclaims
        return None

    def _mark_lost(self) -> None:
        if self.lost:
            return
        self.lost = True
        log.warning(
            "lost the lease on %s (generation %d): another replica took it over",
            self.key,
            self.generation,
        )

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._on_release is not None:
            self._on_release(self)
        if not self.lost:
            try:
                await self.leases.release(self.lease)
            except Exception:  # it expires on its own; a successor waits at most the TTL
                log.warning("could not release the lease on %s", self.key, exc_info=True)
