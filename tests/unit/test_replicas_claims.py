"""Claims and their fence, without a database: when the fence touches the store, when it
stops a replica, and that the local (SQLite) claim and ownership cost nothing.

The lease queries themselves run against both real backends in
tests/integration/test_store_leases.py; here a recording stand-in for
:class:`~agent_core.store.leases.SessionLeases` counts what the claim asks of it.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from agent_core.config import ConfigError, load_config
from agent_core.replicas import LOCAL_CLAIM, LeasedClaim, LeaseLost, LocalOwnership
from agent_core.store.leases import Lease

TTL, RENEW = 15.0, 5.0  # the fence's margin is (TTL - RENEW) / 2 = 5 s


class RecordingLeases:
    """What a claim calls on SessionLeases, with scripted answers to ``renew`` and to
    ``acquire`` (taking an expired lease back: ``"same"`` generation, ``"bumped"`` — another
    replica held it meanwhile — or None: another replica holds it now)."""

    def __init__(self, renew: Any = "extend", acquire: str | None = None) -> None:
        self.renew_answer = renew
        self.acquire_answer = acquire
        self.calls: list[str] = []

    async def acquire(self, key: str, owner: str, ttl_s: float) -> Lease | None:
        self.calls.append("acquire")
        if self.acquire_answer is None:
            return None
        generation = 3 if self.acquire_answer == "same" else 5
        return Lease(key, owner, generation, time.time() + ttl_s)

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        self.calls.append("renew")
        if isinstance(self.renew_answer, BaseException):
            raise self.renew_answer
        if self.renew_answer == "extend":
            return Lease(lease.session_id, lease.owner, lease.generation, time.time() + ttl_s)
        return None  # another replica has it

    async def release(self, lease: Lease) -> bool:
        self.calls.append("release")
        return True


def claim(leases: RecordingLeases, expires_in: float) -> LeasedClaim:
    lease = Lease("s", "A", 3, time.time() + expires_in)
    return LeasedClaim(leases, lease, ttl_s=TTL, renew_every_s=RENEW, fresh=True)  # type: ignore[arg-type]


async def test_the_fence_is_free_while_the_lease_is_well_ahead() -> None:
    leases = RecordingLeases()
    held = claim(leases, expires_in=TTL)
    for _ in range(100):
        await held.fence()
    assert leases.calls == []
    await held.release()
    assert leases.calls == ["release"]


async def test_near_expiry_the_fence_renews_before_letting_the_step_act() -> None:
    leases = RecordingLeases()
    held = claim(leases, expires_in=1.0)  # renewals stalled: inside the margin
    await held.fence()
    assert leases.calls == ["renew"]
    assert held.lease.expires_at > time.time() + TTL - 1
    await held.fence()  # extended: free again
    assert leases.calls == ["renew"]
    await held.release()


async def test_a_lease_taken_over_stops_the_stalled_replica() -> None:
    leases = RecordingLeases(renew=None, acquire=None)
    held = claim(leases, expires_in=-1.0)  # paused past its expiry; another replica has it
    with pytest.raises(LeaseLost):
        await held.fence()
    assert held.lost
    with pytest.raises(LeaseLost):  # and stays stopped, without asking again
        await held.fence()
    assert leases.calls == ["renew", "acquire"]
    await held.release()
    assert "release" not in leases.calls  # never release what another replica holds now


async def test_an_expired_lease_nobody_took_is_taken_back_and_the_work_goes_on() -> None:
    leases = RecordingLeases(renew=None, acquire="same")
    held = claim(leases, expires_in=-1.0)  # paused past its expiry; nobody came
    await held.fence()
    assert not held.lost and held.lease.expires_at > time.time() + TTL - 1
    assert leases.calls == ["renew", "acquire"]
    await held.release()


async def test_a_lease_another_replica_held_meanwhile_is_given_back_and_the_work_stops() -> None:
    leases = RecordingLeases(renew=None, acquire="bumped")  # taken and released meanwhile
    held = claim(leases, expires_in=-1.0)
    with pytest.raises(LeaseLost):
        await held.fence()
    assert leases.calls == ["renew", "acquire", "release"]  # the fresh lease is not kept


async def test_an_unreachable_store_stops_acting_only_once_the_lease_may_have_expired() -> None:
    hiccup = RecordingLeases(renew=ConnectionResetError("store gone"))
    early = claim(hiccup, expires_in=TTL)
    assert await early.renew()  # a failed background renewal well within the lease
    assert not early.lost
    late = claim(hiccup, expires_in=1.0)
    with pytest.raises(LeaseLost):
        await late.fence()
    await early.release()
    await late.release()


async def test_leaselost_is_not_swallowed_by_except_exception() -> None:
    """Like CancelledError: a tool's or the LLM layer's catch-all must not turn it into a
    result and carry on acting."""
    with pytest.raises(LeaseLost):
        try:
            raise LeaseLost("s")
        except Exception:  # pragma: no cover - the point is that this does not run
            pytest.fail("LeaseLost was caught by `except Exception`")


async def test_the_local_ownership_always_grants_the_same_free_claim() -> None:
    local = LocalOwnership("solo")
    assert not local.shared
    first = await local.claim("s")
    assert first is LOCAL_CLAIM and await local.claim("other") is LOCAL_CLAIM
    assert not (first.fenced or first.fresh or first.lost)
    assert not await local.held_elsewhere("s") and await local.unowned_with_work() == []


def test_replicas_config_reads_the_replica_id_and_refuses_renewing_after_expiry(
    tmp_path: Any,
) -> None:
    cfg = load_config(env={"ML_INTERN_REPLICA_ID": " bot-0 "}, load_env_file=False)
    assert cfg.replicas.replica_id == "bot-0"
    assert (cfg.replicas.lease_ttl_s, cfg.replicas.renew_every_s) == (15.0, 5.0)
    default = load_config(env={}, load_env_file=False).replicas.replica_id
    assert default.endswith(f"-{os.getpid()}")
    bad = tmp_path / "bad.json"
    bad.write_text('{"replicas": {"lease_ttl_s": 2, "renew_every_s": 2}}')
    with pytest.raises(ConfigError, match="renew_every_s"):
        load_config(bad, env={}, load_env_file=False)
