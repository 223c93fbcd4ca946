"""Which replica acts for a session: claims, wake-ups between replicas, and the patrol.

The manager (and the Slack renderer) ask an :class:`Ownership` for a :class:`~.claims.Claim`
before acting for a key, and give it back when their queue is empty. Two implementations, one
interface, chosen by the store (:func:`ownership_for`):

- :class:`LocalOwnership` (SQLite: one process) always grants, for free — no store round trip,
  no task. Wake-ups are in-process kicks the caller already made, so they are no-ops here.
- :class:`LeasedOwnership` (Postgres: any number of replicas) grants through a lease in
  ``session_leases``. A replica that cannot get one wakes the holder with a NOTIFY on a channel
  (:data:`OPS_CHANNEL` for operations, :data:`RENDER_CHANNEL` for rendering, :data:`STOP_CHANNEL`
  for a Stop clicked on another replica), and every replica listens. A wake-up is only a hint:
  the patrol runs every ``lease_ttl_s / 2`` and hands the callbacks registered with
  :meth:`LeasedOwnership.patrol` the chance to pick up work nobody holds (a lost notification,
  or a dead replica whose leases expired).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..config import ReplicasConfig
from ..store import SessionLeases, Store
from .claims import LOCAL_CLAIM, Claim, LeasedClaim

log = logging.getLogger(__name__)

OPS_CHANNEL = "ml_intern_ops"  # payload: a session id with operations queued
STOP_CHANNEL = "ml_intern_stop"  # payload: {"session": id, "by": user id or null}
RENDER_CHANNEL = "ml_intern_render"  # payload: {"session": id, "card": batch id or null}

# How many sessions' last generation a replica remembers (to know whether its cached copy of
# a session is still current when it takes the lease again); older ones are simply reloaded.
REMEMBERED_GENERATIONS = 4096

Wake = Callable[[str], None]
Patrol = Callable[[], Awaitable[object]]


class Ownership(Protocol):
    """The interface the manager and the renderer use (see the module docstring)."""

    replica_id: str
    shared: bool  # several replicas may act on this store

    async def claim(self, key: str, *, on_lost: Callable[[], None] | None = None) -> Claim | None:
        """Hold ``key`` (None: another replica does). ``on_lost`` is called if the hold is
        lost while working (the caller stops acting)."""
        ...

    async def held_elsewhere(self, key: str) -> bool:
        """Whether another replica holds ``key`` right now."""
        ...

    async def unowned_with_work(self) -> list[str]:
        """Sessions with operations queued or left running that no other replica holds."""
        ...

    async def listen(self, channel: str, wake: Wake) -> None: ...
    async def notify(self, channel: str, payload: str) -> None: ...
    def patrol(self, callback: Patrol) -> None: ...
    async def close(self) -> None: ...


class LocalOwnership:
    """One process on the store: it holds everything; nothing to wake, nothing to patrol."""

    shared = False

    def __init__(self, replica_id: str) -> None:
        self.replica_id = replica_id

    async def claim(self, key: str, *, on_lost: Callable[[], None] | None = None) -> Claim | None:
        return LOCAL_CLAIM

    async def held_elsewhere(self, key: str) -> bool:
        return False

    async def unowned_with_work(self) -> list[str]:
        return []

    async def listen(self, channel: str, wake: Wake) -> None:
        return None

    async def notify(self, channel: str, payload: str) -> None:
        return None

    def patrol(self, callback: Patrol) -> None:
        return None

    async def close(self) -> None:
        return None


class LeasedOwnership:
    """Leases in the shared store, wake-ups by LISTEN/NOTIFY, and the patrol loop."""

    shared = True

    def __init__(self, store: Store, settings: ReplicasConfig) -> None:
        self.store = store
        self.leases = SessionLeases(store)
        self.replica_id = settings.replica_id
        self.ttl_s = settings.lease_ttl_s
        self.renew_every_s = settings.renew_every_s
        self.patrol_every_s = settings.lease_ttl_s / 2
        self._generations: OrderedDict[str, int] = OrderedDict()
        self._held: dict[str, LeasedClaim] = {}
        self._renewals: asyncio.Task[None] | None = None
        self._closed = False
        self._patrols: list[Patrol] = []
        self._patrol_task: asyncio.Task[None] | None = None
        self._listening: list[tuple[str, Wake]] = []

    async def claim(self, key: str, *, on_lost: Callable[[], None] | None = None) -> Claim | None:
        lease = await self.leases.acquire(key, self.replica_id, self.ttl_s)
        if lease is None:
            return None
        fresh = self._generations.pop(key, None) != lease.generation
        self._generations[key] = lease.generation
        while len(self._generations) > REMEMBERED_GENERATIONS:
            self._generations.popitem(last=False)
        claim = LeasedClaim(
            self.leases,
            lease,
            ttl_s=self.ttl_s,
            renew_every_s=self.renew_every_s,
            fresh=fresh,
            on_lost=on_lost,
            on_release=self._forget,
        )
        self._held[key] = claim
        if self._renewals is None or self._renewals.done():
            self._renewals = asyncio.create_task(self._renew_loop(), name="lease-renewals")
        return claim

    def _forget(self, claim: LeasedClaim) -> None:
        if self._held.get(claim.key) is claim:
            del self._held[claim.key]
        if self._closed and not self._held and self._renewals is not None:
            self._renewals.cancel()  # the last lease of a closing replica was given back

    async def _renew_loop(self) -> None:
        """Every ``renew_every_s``: extend every lease this replica holds in one statement;
        the ones it could not extend are taken back or given up, one by one."""
        while True:
            await asyncio.sleep(self.renew_every_s)
            claims = [c for c in self._held.values() if not c.lost]
            if not claims:
                continue
            try:
                renewed = {
                    lease.session_id: lease
                    for lease in await self.leases.renew_many([c.lease for c in claims], self.ttl_s)
                }
            except Exception:
                log.warning("could not renew this replica's leases", exc_info=True)
                renewed = None
            for claim in claims:
                if claim.lost or self._held.get(claim.key) is not claim:
                    continue  # released meanwhile
                lease = renewed.get(claim.key) if renewed is not None else None
                if lease is not None and lease.generation == claim.generation:
                    claim.renewed(lease)
                elif renewed is not None or time.time() >= claim.lease.expires_at - claim.margin_s:
                    await claim.missed()

    async def held_elsewhere(self, key: str) -> bool:
        holder = await self.leases.holder(key)
        return holder is not None and holder.owner != self.replica_id

    async def unowned_with_work(self) -> list[str]:
        return await self.leases.unowned_with_work(mine=self.replica_id)

    # ------------------------------------------------------------------ wake-ups
    async def listen(self, channel: str, wake: Wake) -> None:
        await self.store.listen(channel, wake)
        self._listening.append((channel, wake))

    async def notify(self, channel: str, payload: str) -> None:
        await self.store.notify(channel, payload)

    # ------------------------------------------------------------------ the patrol
    def patrol(self, callback: Patrol) -> None:
        """Run ``callback`` every ``lease_ttl_s / 2`` (from now on, until :meth:`close`)."""
        self._patrols.append(callback)
        if self._patrol_task is None:
            self._patrol_task = asyncio.create_task(self._patrol_loop(), name="replica-patrol")

    async def _patrol_loop(self) -> None:
        while True:
            await asyncio.sleep(self.patrol_every_s)
            for callback in list(self._patrols):
                try:
                    await callback()
                except Exception:
                    log.warning("replica patrol step failed; retrying next round", exc_info=True)

    async def close(self) -> None:
        """Stop the patrol and the wake-ups. Leases still held keep being renewed until their
        workers give them back (a closing manager's workers finish first)."""
        self._closed = True
        if not self._held and self._renewals is not None:
            self._renewals.cancel()
        if self._patrol_task is not None:
            self._patrol_task.cancel()
            await asyncio.gather(self._patrol_task, return_exceptions=True)
            self._patrol_task = None
        self._patrols.clear()
        for channel, wake in self._listening:
            try:
                await self.store.unlisten(channel, wake)
            except Exception:
                log.debug("could not stop listening on %s", channel, exc_info=True)
        self._listening.clear()


def ownership_for(store: Store, settings: ReplicasConfig) -> Ownership:
    """Leases on a store several replicas can share (Postgres); the free local kind on
    SQLite, which one process uses at a time."""
    if store.dialect.is_postgres:
        return LeasedOwnership(store, settings)
    return LocalOwnership(settings.replica_id)
