"""The JobWatcher against the fake Hub, through the real huggingface_hub client and hf_jobs:
submission never blocks, every terminal stage is reported exactly once (also across restarts
and crash windows), NaN and stall warnings, cancel, resume notes, budget reconciliation,
bounded polling for 50 concurrent jobs, and the HF token only where it belongs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from agent_core.events import SystemNote
from agent_core.jobs import JobRecord, JobWatcher
from agent_core.jobs.schedule import polls_within
from agent_core.tools.hf_jobs import hf_jobs_handler
from tests.fakes.fake_hub import ALICE_TOKEN
from tests.fakes.fake_hub_jobs import training_log_lines
from tests.hub_harness import SESSION, jobs_env, make_config

GPU_RUN = {
    "operation": "run",
    "script": "from trl import SFTTrainer\nprint('training')\n",
    "dependencies": ["trl"],
    "hardware_flavor": "a10g-small",
    "timeout": "2h",
}


async def submit(env, args=None, tool_call_id="call-1", session_state=None) -> str:
    text, ok = await hf_jobs_handler(
        dict(args or GPU_RUN), env.ctx(tool_call_id, session_state=session_state)
    )
    assert ok, text
    return text.split("Job ID: ")[1].split()[0]


async def settle(env, job_id: str) -> None:
    """Wait until the watcher has dropped the job (so any duplicate would have been emitted)."""
    await env.fake.wait_for(
        lambda: job_id not in {s["job_id"] for s in env.watcher.status()}, timeout=10
    )
    row = await env.store.fetchone("SELECT finished_emitted FROM jobs WHERE job_id=?", (job_id,))
    assert row is not None and row[0] == 1


async def test_run_returns_immediately_and_job_is_recorded(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True)  # frozen in SCHEDULING until the test moves it
        t0 = time.monotonic()
        job_id = await submit(env)
        assert time.monotonic() - t0 < 2.0
        assert env.fake.jobs.stage(job_id) == "SCHEDULING"
        started = env.recorder.of("job_started")[0].data
        assert started["job_id"] == job_id and started["flavor"] == "a10g-small"
        assert started["timeout_s"] == 7200 and started["estimated_cost_usd"] == pytest.approx(2.0)
        assert started["url"] == f"{env.fake.url}/jobs/alice/{job_id}"
        assert started["tool_call_id"] == "call-1" and started["requester"] == "U_REQ"
        row = await env.store.fetchone("SELECT * FROM jobs WHERE job_id=?", (job_id,))
        assert row["session_id"] == SESSION and row["namespace"] == "alice"
        assert json.loads(row["origin"])["requester"] == "U_REQ"
        assert [s["job_id"] for s in env.watcher.status(SESSION)] == [job_id]
        # the job card's data: stage changes arrive as progress
        env.fake.jobs.set_stage(job_id, "RUNNING")
        ev = await env.recorder.wait_for(
            "job_progress", job_id=job_id, predicate=lambda e: e.data["stage"] == "RUNNING"
        )
        assert ev.data["previous_stage"] == "SCHEDULING"


@pytest.mark.parametrize("final", ["COMPLETED", "ERROR"])
async def test_terminal_stage_reported_exactly_once(tmp_path, final):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(
            logs=training_log_lines(steps=3),
            final=final,
            error_message="CUDA out of memory" if final == "ERROR" else None,
        )
        job_id = await submit(env)
        ev = await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        assert len(env.recorder.of("job_finished", job_id)) == 1
        data = ev.data
        assert data["stage"] == final
        assert data["flavor"] == "a10g-small" and data["requester"] == "U_REQ"
        assert data["url"].endswith(job_id)
        assert data["wall_time_s"] == pytest.approx(0.3, abs=0.2)
        assert data["cost_usd"] is not None and data["cost_usd"] < 0.01
        assert data["log_tail"][0] == "[installs truncated]"
        assert data["metrics"]["step"] == 300
        if final == "ERROR":
            assert data["error"] == "CUDA out of memory"
        else:
            assert "error" not in data
        progress = env.recorder.of("job_progress", job_id)
        assert progress and all(p.data["job_id"] == job_id for p in progress)


async def test_cancel_via_watcher_reports_canceled_once(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True)
        job_id = await submit(env)
        env.fake.jobs.set_stage(job_id, "RUNNING")
        await env.recorder.wait_for(
            "job_progress", job_id=job_id, predicate=lambda e: e.data["stage"] == "RUNNING"
        )
        info = await env.watcher.job(job_id)
        assert (
            info["requester"] == "U_REQ" and info["origin"]["channel"] == "C1"
        )  # for authorization
        results = await env.watcher.cancel(job_id, requested_by="U_REQ")
        assert results == [{"job_id": job_id, "ok": True}]
        ev = await env.recorder.wait_for("job_finished", job_id=job_id)
        assert ev.data["stage"] == "CANCELED" and ev.data["canceled_by"] == "U_REQ"
        await settle(env, job_id)
        assert len(env.recorder.of("job_finished")) == 1
        assert env.fake.count(f"/api/jobs/alice/{job_id}/cancel") == 1
        again = await env.watcher.cancel(job_id, requested_by="U_REQ")
        assert again[0]["ok"] is False


async def test_cancel_all_jobs_of_a_session(tmp_path):
    async with jobs_env(tmp_path) as env:
        ids = []
        for i in range(3):
            env.fake.jobs.script(manual=True)
            ids.append(await submit(env, tool_call_id=f"call-{i}"))
        results = await env.watcher.cancel(SESSION, requested_by="U_REQ")
        assert sorted(r["job_id"] for r in results) == sorted(ids) and all(r["ok"] for r in results)
        for job_id in ids:
            await env.recorder.wait_for("job_finished", job_id=job_id)
        assert {e.data["stage"] for e in env.recorder.of("job_finished")} == {"CANCELED"}


async def test_job_finished_while_stopped_is_reported_once_after_restart(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True, logs=["step=1 loss=0.9"])
        job_id = await submit(env)
        env.fake.jobs.set_stage(job_id, "RUNNING")
        await env.recorder.wait_for(
            "job_progress", job_id=job_id, predicate=lambda e: e.data["stage"] == "RUNNING"
        )
        await env.watcher.close()  # the bot goes down
        env.fake.jobs.set_stage(job_id, "COMPLETED")  # the job ends meanwhile
        assert not env.recorder.of("job_finished")
        watcher = await env.new_watcher()  # the bot comes back on the same DB
        await watcher.start()
        ev = await env.recorder.wait_for("job_finished", job_id=job_id)
        assert ev.data["stage"] == "COMPLETED" and ev.data["reported_after_restart"] is True
        await settle(env, job_id)
        await watcher.close()
        watcher = await env.new_watcher()  # and restarts once more: nothing to report again
        await watcher.start()
        assert watcher.status() == []
        assert len(env.recorder.of("job_finished")) == 1


async def test_crash_between_emit_and_mark_does_not_duplicate(tmp_path):
    """The event was persisted but finished_emitted not set: start() completes bookkeeping only."""
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True)
        job_id = await submit(env)
        await env.watcher.close()
        env.fake.jobs.set_stage(job_id, "COMPLETED")
        payload = {"job_id": job_id, "stage": "COMPLETED", "wall_time_s": 1.0, "cost_usd": 0.0}
        await env.recorder.emit(SESSION, "job_finished", payload)
        rec = await env.watcher.records.get(job_id)
        rec.info["finished"] = payload
        await env.watcher.records.update(job_id, stage="COMPLETED", info=rec.info)
        watcher = await env.new_watcher()
        await watcher.start()
        assert watcher.status() == []
        assert len(env.recorder.of("job_finished")) == 1
        row = await env.store.fetchone(
            "SELECT finished_emitted FROM jobs WHERE job_id=?", (job_id,)
        )
        assert row[0] == 1


async def test_nan_loss_warns_once(tmp_path):
    async with jobs_env(tmp_path) as env:
        logs = training_log_lines(steps=6, nan_at=3)
        env.fake.jobs.script(logs=logs, stages=["SCHEDULING", ("RUNNING", 1.0)])
        job_id = await submit(env)
        warn = await env.recorder.wait_for(
            "job_progress", job_id=job_id, predicate=lambda e: e.data.get("warning") == "nan"
        )
        assert "NaN" in warn.data["warning_message"]
        assert warn.data["url"].endswith(job_id)
        await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        assert (
            len(
                [
                    e
                    for e in env.recorder.of("job_progress", job_id)
                    if e.data.get("warning") == "nan"
                ]
            )
            == 1
        )


async def test_stall_warning_when_no_new_logs(tmp_path):
    cfg = make_config(jobs={"stall_warning_s": 0.3})
    async with jobs_env(tmp_path, config=cfg) as env:
        env.fake.jobs.script(manual=True, logs=["starting"])
        job_id = await submit(env)
        env.fake.jobs.set_stage(job_id, "RUNNING")
        warn = await env.recorder.wait_for(
            "job_progress",
            job_id=job_id,
            predicate=lambda e: e.data.get("warning") == "stall",
            timeout=5,
        )
        assert "No new log output" in warn.data["warning_message"]
        assert warn.data["stage"] == "RUNNING"
        # new output clears the stall; a later silence would warn again
        env.fake.jobs.emit_log(job_id, "step=5 loss=0.7")
        await env.recorder.wait_for(
            "job_progress",
            job_id=job_id,
            predicate=lambda e: e.data.get("metrics", {}).get("step") == 5,
        )
        env.fake.jobs.set_stage(job_id, "COMPLETED")
        await env.recorder.wait_for("job_finished", job_id=job_id)


async def test_unknown_intermediate_stage_is_not_terminal(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(stages=["SCHEDULING", ("STARTING", 0.2), "RUNNING"])
        job_id = await submit(env)
        ev = await env.recorder.wait_for("job_finished", job_id=job_id)
        assert ev.data["stage"] == "COMPLETED"
        stages = [
            e.data["stage"]
            for e in env.recorder.of("job_progress", job_id)
            if e.data["previous_stage"] != e.data["stage"]
        ]
        assert "STARTING" in stages and "RUNNING" in stages


async def test_vanished_job_is_reported_deleted(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True)
        job_id = await submit(env)
        env.fake.inject_error(f"/api/jobs/alice/{job_id}", 404, message="Job not found")
        ev = await env.recorder.wait_for("job_finished", job_id=job_id)
        assert ev.data["stage"] == "DELETED" and "404" in ev.data["error"]


async def test_resume_mode_submits_one_system_note(tmp_path):
    cfg = make_config(jobs={"on_job_finished": "resume"})
    async with jobs_env(tmp_path, config=cfg) as env:
        env.fake.jobs.script(logs=training_log_lines(steps=2))
        job_id = await submit(env)
        await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        assert len(env.submitted.ops) == 1
        session_id, op = env.submitted.ops[0]
        assert session_id == SESSION and isinstance(op, SystemNote) and op.resume
        assert job_id in op.text and "COMPLETED" in op.text and ALICE_TOKEN not in op.text


async def test_notify_mode_submits_nothing(tmp_path):
    async with jobs_env(tmp_path) as env:
        job_id = await submit(env)
        await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        assert env.submitted.ops == []


async def test_auto_approved_reservation_is_reconciled_with_actual_cost(tmp_path):
    async with jobs_env(tmp_path) as env:
        deltas: list[tuple[str, float]] = []

        async def adjust(session_id: str, delta: float) -> None:
            deltas.append((session_id, delta))

        await env.watcher.close()
        watcher = await env.new_watcher(adjust_spend=adjust)
        await watcher.start()
        state = {
            "yolo": {"enabled": True, "cap_usd": 5.0, "spent_usd": 0.0, "reserved": {"call-y": 2.0}}
        }
        job_id = await submit(env, tool_call_id="call-y", session_state=state)
        ev = await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        assert deltas == [(SESSION, pytest.approx(ev.data["cost_usd"] - 2.0))]
        # a manually approved run (no reservation) is not reconciled
        job2 = await submit(env, tool_call_id="call-m")
        await env.recorder.wait_for("job_finished", job_id=job2)
        await settle(env, job2)
        assert len(deltas) == 1


async def test_token_only_in_auth_header_and_secrets(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(logs=training_log_lines(steps=2))
        args = dict(GPU_RUN, env={"HF_TOKEN": ALICE_TOKEN, "OTHER": f"x{ALICE_TOKEN}"})
        job_id = await submit(env, args)
        await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        for name in ("logs", "inspect", "ps"):
            await hf_jobs_handler({"operation": name, "job_id": job_id}, env.ctx())
        assert env.fake.token_locations(ALICE_TOKEN) <= {
            "header:authorization",
            "json:secrets.HF_TOKEN",
        }
        job = env.fake.jobs.get(job_id)
        assert job.secrets == {"HF_TOKEN": ALICE_TOKEN}
        assert ALICE_TOKEN not in json.dumps(job.environment) and ALICE_TOKEN not in " ".join(
            job.command
        )
        assert ALICE_TOKEN not in json.dumps(job.labels)
        rows = await env.store.fetchall("SELECT data FROM events")
        assert rows and all(ALICE_TOKEN not in r["data"] for r in rows)
        jobs_rows = await env.store.fetchall("SELECT info, origin FROM jobs")
        assert all(ALICE_TOKEN not in r["info"] + r["origin"] for r in jobs_rows)


async def test_fifty_concurrent_jobs_bounded_polling(tmp_path):
    cfg = make_config(jobs={"max_concurrent_polls": 8, "log_tail_every_s": 0.25})
    run_s = 1.5
    async with jobs_env(tmp_path, config=cfg, fake_kwargs={"run_secs": run_s}) as env:
        in_flight = 0
        peak = 0
        original = env.hub.inspect_job

        async def counting(namespace: str, job_id: str):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await original(namespace, job_id)
            finally:
                in_flight -= 1

        env.hub.inspect_job = counting  # type: ignore[method-assign]
        ids = []
        for i in range(50):
            env.fake.jobs.script(logs=[f"step={k} loss={1 / (k + 1):.3f}" for k in range(5)])
            ids.append(await submit(env, tool_call_id=f"call-{i}"))
        await asyncio.gather(
            *(env.recorder.wait_for("job_finished", job_id=j, timeout=30) for j in ids)
        )
        for j in ids:
            await settle(env, j)
        assert len(env.recorder.of("job_finished")) == 50
        assert peak <= cfg.jobs.max_concurrent_polls
        # per job: no more inspects than the backoff schedule allows over the job's life
        # (+1 per stage change reset, +1 right after the log stream closes)
        lifetime = 0.05 + run_s + 1.0
        bound = (
            polls_within(
                lifetime, cfg.jobs.poll_initial_s, cfg.jobs.poll_backoff, cfg.jobs.poll_max_s
            )
            + 4
        )
        per_job = [
            env.fake.count(f"/api/jobs/alice/{j}", method="GET")
            - env.fake.count(f"/api/jobs/alice/{j}/logs")
            for j in ids
        ]
        assert max(per_job) <= bound, (max(per_job), bound)
        logs_per_job = [env.fake.count(f"/api/jobs/alice/{j}/logs") for j in ids]
        assert max(logs_per_job) <= run_s / cfg.jobs.log_tail_every_s + 4


async def test_watch_is_idempotent_and_start_resumes_open_jobs(tmp_path):
    async with jobs_env(tmp_path, start=False) as env:
        rec = JobRecord(job_id="nope", session_id=SESSION, namespace="alice", flavor="cpu-basic")
        env.fake.jobs.script(manual=True)
        job_id = await submit(env)  # watch() starts the loop even before start()
        again = JobRecord(job_id=job_id, session_id=SESSION, namespace="alice")
        await env.watcher.watch(again)
        rows = await env.store.fetchall("SELECT job_id FROM jobs")
        assert [r[0] for r in rows] == [job_id]
        assert rec.requester is None
        assert isinstance(env.watcher, JobWatcher)
