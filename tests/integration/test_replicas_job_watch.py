"""Job watching across replicas: each running job is watched by one replica, a dead replica's
jobs are adopted by another after its lease expires, and a job's end is reported once even
when two replicas see it end around a takeover.

Two watchers on two :class:`Store` instances of one database (``store_url``: SQLite and a real
Postgres), one fake Hub. Leases are short (1 s) so takeovers happen within a test; every wait
is on a condition (an event in the store, the fake Hub's state) with a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from agent_core.jobs import JobWatcher
from agent_core.jobs.ownership import JobOwnership, job_key
from agent_core.store import SessionLeases, Store
from tests.fakes.fake_hub import FakeHub
from tests.hub_harness import SESSION, JobsEnv, Recorder, Submitted, make_config, make_hub_client
from tests.integration.test_jobs_watcher import GPU_RUN, submit

TTL_S, RENEW_S = 1.0, 0.2
WAIT_S = 30.0  # generous: on a loaded 2-core CI machine polls and patrols run late


@dataclass
class Replica:
    name: str
    store: Store
    watcher: JobWatcher
    recorder: Recorder
    env: JobsEnv


@asynccontextmanager
async def two_replicas(store_url: str, tmp_path: Path) -> AsyncIterator[tuple[Replica, Replica]]:
    async with FakeHub() as fake:
        hub = make_hub_client(fake)
        config = make_config()
        made: list[Replica] = []
        try:
            for name in ("replica-a", "replica-b"):
                store = await Store.open(store_url)
                recorder = Recorder(store)
                ownership = JobOwnership(store, name, ttl_s=TTL_S, renew_every_s=RENEW_S)
                watcher = JobWatcher(
                    store, config, hub, recorder.emit, Submitted(), ownership=ownership
                )
                env = JobsEnv(fake, hub, store, config, recorder, Submitted(), watcher, tmp_path)
                made.append(Replica(name, store, watcher, recorder, env))
            yield made[0], made[1]
        finally:
            for replica in made:
                await replica.watcher.close()
                await replica.store.close()
            await hub.aclose()


async def _running_job(replica: Replica) -> str:
    """A GPU job submitted through ``replica`` and seen running by its watcher."""
    replica.env.fake.jobs.script(manual=True, logs=["step=1 loss=0.9"])
    job_id = await submit(replica.env, GPU_RUN)
    replica.env.fake.jobs.set_stage(job_id, "RUNNING")
    await replica.recorder.wait_for(
        "job_progress",
        job_id=job_id,
        predicate=lambda e: e.data["stage"] == "RUNNING",
        timeout=WAIT_S,
    )
    return job_id


async def _finished_reports(store: Store, job_id: str) -> int:
    rows = await store.fetchall("SELECT data FROM events WHERE type='job_finished'")
    return sum(1 for r in rows if job_id in r["data"])


async def _until(condition, timeout: float = WAIT_S) -> None:
    async def check() -> None:
        while not await condition():
            await asyncio.sleep(0.05)  # re-check a store condition (no event to wait on)

    await asyncio.wait_for(check(), timeout)


async def test_a_dead_replicas_job_is_adopted_and_its_end_reported_once(
    store_url: str, tmp_path: Path
) -> None:
    async with two_replicas(store_url, tmp_path) as (a, b):
        await a.watcher.start()
        await b.watcher.start()
        job_id = await _running_job(a)
        # replica-a watches it: replica-b's patrol leaves it alone
        await b.watcher.patrol()
        assert [s["job_id"] for s in b.watcher.status()] == []
        # yet a `status` asked on replica-b lists it, from the stored row
        (elsewhere,) = await b.watcher.all_status(SESSION)
        assert (elsewhere["job_id"], elsewhere["stage"], elsewhere["watching"]) == (
            job_id,
            "RUNNING",
            False,
        )
        holder = await SessionLeases(b.store).holder(job_key(job_id))
        assert holder is not None and holder.owner == "replica-a"
        # replica-a dies (no release: its lease must expire), the job ends meanwhile
        await a.watcher.close(release_leases=False)
        a.env.fake.jobs.set_stage(job_id, "COMPLETED")
        report = await b.recorder.wait_for("job_finished", job_id=job_id, timeout=WAIT_S)
        assert report.data["stage"] == "COMPLETED" and report.data["reported_after_restart"]
        await _until(lambda: _reported(b.store, job_id))
        await b.watcher.patrol()  # nothing left to adopt, nothing reported twice
        assert await _finished_reports(a.store, job_id) == 1
        holder = await SessionLeases(a.store).holder(job_key(job_id))
        assert holder is None  # released once reported


async def _reported(store: Store, job_id: str) -> bool:
    row = await store.fetchone("SELECT finished_emitted FROM jobs WHERE job_id=?", (job_id,))
    return row is not None and row[0] == 1


async def test_two_replicas_seeing_a_job_end_around_a_takeover_report_it_once(
    store_url: str, tmp_path: Path
) -> None:
    """replica-a pauses past its lease (its renewals stop, its polling does not); replica-b
    adopts the job. The job ends and both replicas' polls see it: one report."""
    async with two_replicas(store_url, tmp_path) as (a, b):
        await a.watcher.start()
        job_id = await _running_job(a)
        assert a.watcher._patrol_task is not None
        a.watcher._patrol_task.cancel()  # the pause: no more renewals from replica-a
        await b.watcher.start()

        async def adopted_by_b() -> bool:
            await b.watcher.patrol()
            return job_id in {s["job_id"] for s in b.watcher.status()}

        await _until(adopted_by_b)
        assert job_id in {s["job_id"] for s in a.watcher.status()}  # a still polls it too
        a.env.fake.jobs.set_stage(job_id, "COMPLETED")
        await _until(lambda: _reported(b.store, job_id))
        await a.env.fake.wait_for(
            lambda: not a.watcher.status() and not b.watcher.status(), timeout=WAIT_S
        )
        assert await _finished_reports(b.store, job_id) == 1
        assert len(b.recorder.of("job_finished")) == 1 and not a.recorder.of("job_finished")
