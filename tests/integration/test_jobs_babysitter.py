"""The training babysitter inside the JobWatcher, against the fake Hub's time-scaled training
jobs (logs and the Jobs metrics stream follow ``tests/fakes/training_curves.py``): series
built from the log stream and the metrics stream, persisted across a restart; ``job_health``
once per episode with the numbers; the team's rules deciding the action; the relaunch change
applied to the job's own command line; the agent woken only for a relaunch proposal."""

from __future__ import annotations

from agent_core.events import SystemNote
from agent_core.jobs.preference_book import thread_scope
from agent_core.jobs.series import GPU_UTIL
from tests.hub_harness import SESSION, jobs_env
from tests.integration.test_jobs_watcher import settle, submit

POLICY = """
# Babysitting rules for the imdb runs
A diverging run is usually a learning rate that is too high: halve it and try again.
An idle GPU burns money: stop it.

```yaml
thresholds:
  gpu_idle_minutes: 0.01
  gpu_idle_pct: 10
rules:
  - when: loss_diverging
    do: propose_relaunch
    change: {learning_rate: "x0.5"}
  - when: gpu_idle
    do: stop
notify: ["#ml-alerts"]
```
"""

TRAIN = {
    "operation": "run",
    "command": ["python", "train.py", "--learning_rate", "5e-05", "--num_train_epochs", "3"],
    "image": "pytorch/pytorch:latest",
    "hardware_flavor": "a10g-small",
    "timeout": "2h",
}


async def test_diverging_run_warns_with_numbers_and_wakes_agent_with_the_change(tmp_path):
    async with jobs_env(tmp_path) as env:
        await env.watcher.preferences.set(thread_scope(SESSION), POLICY, set_by="U_REQ")
        env.fake.jobs.script_training("diverging", steps=160, run_secs=3.0)
        job_id = await submit(env, TRAIN)
        ev = await env.recorder.wait_for("job_health", job_id=job_id)
        data = ev.data
        assert data["condition"] == "loss_diverging" and data["action"] == "propose_relaunch"
        assert data["numbers"]["recent_mean"] >= 1.5 * data["numbers"]["best"]
        assert "rose from" in data["summary"]
        change = data["change"]
        assert change["before"] == {"learning_rate": 5e-05}
        assert change["after"] == {"learning_rate": 2.5e-05}
        assert change["lines"] == ["learning_rate 5e-05 → 2.5e-05"]
        assert change["command"] == [
            "python",
            "train.py",
            "--learning_rate",
            "2.5e-05",
            "--num_train_epochs",
            "3",
        ]
        assert data["notify"] == ["#ml-alerts"] and data["quiet"] is False
        # Within one polling period: the warning comes from the very tick that read the rising
        # loss (the event right before it is that tick's progress report), while it runs.
        progress = [e for e in env.recorder.of("job_progress", job_id) if e.seq < ev.seq]
        assert progress[-1].seq == ev.seq - 1 and data["stage"] == "RUNNING"
        await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        # One episode → one warning, one wake-up carrying the evidence and the exact command.
        assert len(env.recorder.of("job_health", job_id)) == 1
        notes = [op for _, op in env.submitted.ops if isinstance(op, SystemNote)]
        assert len(notes) == 1 and "2.5e-05" in notes[0].text and "rose from" in notes[0].text
        # The curves survive in the job's row (a restart draws the same chart).
        babysit = await env.watcher.series(job_id)
        assert babysit is not None and len(babysit.series.metrics["loss"]) >= 20
        assert len(babysit.series.metrics["eval_loss"]) >= 8
        assert babysit.series.hardware[GPU_UTIL].last() == 87


async def test_idle_gpu_gets_a_stop_proposal_and_no_agent_wakeup(tmp_path):
    async with jobs_env(tmp_path) as env:
        await env.watcher.preferences.set(thread_scope(SESSION), POLICY)
        env.fake.jobs.script_training("idle_gpu", steps=40, run_secs=2.0)
        job_id = await submit(env, TRAIN)
        ev = await env.recorder.wait_for("job_health", job_id=job_id)
        assert ev.data["condition"] == "gpu_idle" and ev.data["action"] == "stop"
        assert ev.data["numbers"]["mean_pct"] == 2
        assert "GPU utilisation averaged 2%" in ev.data["summary"]
        await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        assert env.submitted.ops == []  # stopping is offered to people, never done by the agent
        assert len(env.recorder.of("job_health", job_id)) == 1


async def test_without_preferences_a_finding_is_a_plain_warning(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script_training("nan", steps=80, run_secs=1.0)
        job_id = await submit(env, TRAIN)
        ev = await env.recorder.wait_for("job_health", job_id=job_id)
        assert ev.data["condition"] == "nan_loss" and ev.data["action"] == "warn"
        assert ev.data["rule"] is None and ev.data["preferences_source"] == "built-in defaults"
        await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        assert env.submitted.ops == []


async def test_healthy_run_is_quiet_and_its_series_survive_a_restart(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script_training("healthy", steps=100, run_secs=3.0)
        job_id = await submit(env, TRAIN)
        await env.recorder.wait_for(
            "job_progress",
            job_id=job_id,
            predicate=lambda e: "loss" in (e.data.get("metrics") or {}),
        )
        await env.watcher.close()  # the bot goes down mid-run
        rec = await env.watcher.records.get(job_id)
        before = len(rec.info["series"]["m"]["loss"])
        assert before >= 1
        watcher = await env.new_watcher()
        await watcher.start()
        await env.recorder.wait_for("job_finished", job_id=job_id)
        babysit = await watcher.series(job_id)
        assert len(babysit.series.metrics["loss"]) >= before
        assert babysit.series.metrics["loss"].xs == sorted(babysit.series.metrics["loss"].xs)
        assert env.recorder.of("job_health", job_id) == []


async def test_rule_fires_only_when_its_conditions_hold(tmp_path):
    """``only_if`` gates the action: overfitting with eval loss under the team's threshold is
    a warning with what was checked, not a relaunch."""
    policy = """```yaml
thresholds:
  val_loss_threshold: 5.0
rules:
  - when: overfitting
    only_if: ["eval_loss > val_loss_threshold"]
    do: propose_relaunch
    change: {num_train_epochs: 1}
```"""
    async with jobs_env(tmp_path) as env:
        await env.watcher.preferences.set(thread_scope(SESSION), policy)
        env.fake.jobs.script_training("overfitting", steps=120, run_secs=2.0)
        job_id = await submit(env, TRAIN)
        ev = await env.recorder.wait_for("job_health", job_id=job_id)
        assert ev.data["condition"] == "overfitting" and ev.data["action"] == "warn"
        (checked,) = ev.data["checks"]
        assert checked.startswith("eval_loss = ") and checked.endswith("> 5: no")
        assert "change" not in ev.data
        await env.recorder.wait_for("job_finished", job_id=job_id)
        await settle(env, job_id)
        assert env.submitted.ops == []
