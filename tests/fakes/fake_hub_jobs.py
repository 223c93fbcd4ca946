"""Hugging Face Jobs on the fake Hub: run/inspect/list/cancel, SSE logs and metrics, hardware,
scheduled jobs — with a controllable stage clock and per-job scripts.

Why it looks like this:

* A job's stage is derived from the hub clock (``time.monotonic`` by default, or a
  ``ManualClock``): SCHEDULING for ``schedule_secs``, RUNNING for ``run_secs``, then the final
  stage. ``FakeJobs.refresh`` applies transitions lazily on every access and the hub's ticker
  calls it in the background, so inspect/list/log streams and ``hub.wait_for`` all see the same
  state without the tests sleeping.
* Tests script jobs before or after they exist (``hub.jobs.script(...)``) or drive them by hand
  (``manual=True`` + ``hub.jobs.set_stage``/``emit_log``).
* The logs endpoint behaves like the real one: it replays the lines so far (``?tail=N`` honoured),
  keeps the stream open while the job is not finished and pushes new lines live, and closes the
  stream once the job is terminal. ``huggingface_hub`` sends no "follow" flag, so a
  ``fetch_job_logs(follow=False)`` on a *running* job returns only after its 5 s read timeout —
  exactly as against the real Hub.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .fake_hub_common import Auth, HubError, iso, object_id, read_json, utcnow

if TYPE_CHECKING:
    from .fake_hub import FakeHub

TERMINAL_STAGES = frozenset({"COMPLETED", "CANCELED", "ERROR", "DELETED"})
JOB_STARTED_PREFIX = "===== Job started"
LABEL_RE = re.compile(r"^[A-Za-z0-9._-]{0,100}$")
SCHEDULE_ALIASES = {
    "@yearly": timedelta(days=365),
    "@annually": timedelta(days=365),
    "@monthly": timedelta(days=30),
    "@weekly": timedelta(days=7),
    "@daily": timedelta(days=1),
    "@hourly": timedelta(hours=1),
}


def _hw(
    name: str,
    pretty: str,
    cpu: str,
    ram: str,
    storage: str,
    usd_per_hour: float,
    gpu: tuple[str, int, str] | None = None,
) -> dict[str, Any]:
    micro_per_minute = round(usd_per_hour * 1_000_000 / 60)
    accel = None
    if gpu is not None:
        model, qty, vram = gpu
        accel = {
            "type": "gpu",
            "model": model,
            "quantity": str(qty),
            "vram": vram,
            "manufacturer": "Nvidia",
        }
    return {
        "name": name,
        "prettyName": pretty,
        "cpu": cpu,
        "ram": ram,
        "ephemeralStorage": storage,
        "accelerator": accel,
        "unitCostMicroUSD": micro_per_minute,
        "unitCostUSD": micro_per_minute / 1_000_000,
        "unitLabel": "minute",
    }


#: ``GET /api/jobs/hardware`` — names and prices mirror the public Jobs price list.
DEFAULT_HARDWARE: list[dict[str, Any]] = [
    _hw("cpu-basic", "CPU Basic", "2 vCPU", "16 GB", "50 GB", 0.01),
    _hw("cpu-upgrade", "CPU Upgrade", "8 vCPU", "32 GB", "50 GB", 0.03),
    _hw("cpu-performance", "CPU Performance", "32 vCPU", "256 GB", "500 GB", 0.24),
    _hw("cpu-xl", "CPU XL", "16 vCPU", "124 GB", "400 GB", 0.09),
    _hw("t4-small", "Nvidia T4 - small", "4 vCPU", "15 GB", "50 GB", 0.40, ("T4", 1, "16 GB")),
    _hw("t4-medium", "Nvidia T4 - medium", "8 vCPU", "30 GB", "100 GB", 0.60, ("T4", 1, "16 GB")),
    _hw("l4x1", "1x Nvidia L4", "8 vCPU", "30 GB", "400 GB", 0.80, ("L4", 1, "24 GB")),
    _hw("l4x4", "4x Nvidia L4", "48 vCPU", "186 GB", "3200 GB", 3.80, ("L4", 4, "96 GB")),
    _hw("l40sx1", "1x Nvidia L40S", "8 vCPU", "62 GB", "380 GB", 1.80, ("L40S", 1, "48 GB")),
    _hw("l40sx4", "4x Nvidia L40S", "48 vCPU", "382 GB", "3200 GB", 8.30, ("L40S", 4, "192 GB")),
    _hw("l40sx8", "8x Nvidia L40S", "192 vCPU", "1534 GB", "6500 GB", 23.50, ("L40S", 8, "384 GB")),
    _hw(
        "a10g-small", "Nvidia A10G - small", "4 vCPU", "15 GB", "110 GB", 1.00, ("A10G", 1, "24 GB")
    ),
    _hw(
        "a10g-large",
        "Nvidia A10G - large",
        "12 vCPU",
        "46 GB",
        "200 GB",
        1.50,
        ("A10G", 1, "24 GB"),
    ),
    _hw(
        "a10g-largex2",
        "2x Nvidia A10G - large",
        "24 vCPU",
        "92 GB",
        "1000 GB",
        3.00,
        ("A10G", 2, "48 GB"),
    ),
    _hw(
        "a10g-largex4",
        "4x Nvidia A10G - large",
        "48 vCPU",
        "184 GB",
        "2000 GB",
        5.00,
        ("A10G", 4, "96 GB"),
    ),
    _hw(
        "a100-large",
        "Nvidia A100 - large",
        "12 vCPU",
        "142 GB",
        "1000 GB",
        2.50,
        ("A100", 1, "80 GB"),
    ),
    _hw("a100x4", "4x Nvidia A100", "48 vCPU", "568 GB", "4000 GB", 10.00, ("A100", 4, "320 GB")),
    _hw("a100x8", "8x Nvidia A100", "96 vCPU", "1136 GB", "8000 GB", 20.00, ("A100", 8, "640 GB")),
    _hw("h200", "Nvidia H200", "23 vCPU", "256 GB", "3000 GB", 5.00, ("H200", 1, "141 GB")),
    _hw("h200x2", "2x Nvidia H200", "46 vCPU", "512 GB", "6000 GB", 10.00, ("H200", 2, "282 GB")),
    _hw("h200x4", "4x Nvidia H200", "92 vCPU", "1024 GB", "12000 GB", 20.00, ("H200", 4, "564 GB")),
    _hw(
        "h200x8", "8x Nvidia H200", "184 vCPU", "2048 GB", "24000 GB", 40.00, ("H200", 8, "1128 GB")
    ),
]


def training_log_lines(
    *,
    steps: int = 3,
    every: int = 100,
    loss_start: float = 2.0,
    loss_decay: float = 0.75,
    nan_at: int | None = None,
    epochs: float = 1.0,
    installs: bool = True,
    extra: Iterable[str] = (),
) -> list[str]:
    """Realistic lines of a ``uv run`` + transformers/TRL training job.

    Each step line is a Trainer dict such as ``{'loss': 0.53, 'grad_norm': 1.2,
    'learning_rate': 2e-05, 'epoch': 1.0, 'step': 100}``; with ``nan_at=k`` the k-th step line (1-based)
    reports ``'loss': nan`` so NaN-detection logic can be tested. The ``Installed N packages``
    line matters because the jobs tool truncates everything before it.
    """
    lines: list[str] = []
    if installs:
        lines += [
            "Downloading torch (846.4MiB)",
            "Downloading transformers (10.8MiB)",
            " Downloaded transformers",
            " Downloaded torch",
            "Installed 58 packages in 1.71s",
        ]
    lines.append("Loading dataset trl-lib/Capybara ...")
    loss = loss_start
    for i in range(1, steps + 1):
        step = i * every
        epoch = round(epochs * i / steps, 2)
        lr = 2e-05 * (1 - (i - 1) / steps)
        shown = "nan" if nan_at == i else repr(round(loss, 4))
        lines.append(
            f"{{'loss': {shown}, 'grad_norm': {round(1.5 / i, 4)}, "
            f"'learning_rate': {lr:.2e}, 'epoch': {epoch}, 'step': {step}}}"
        )
        loss *= loss_decay
    lines.append(
        f"{{'train_runtime': 42.1, 'train_samples_per_second': 12.3, 'train_loss': {round(loss_start * 0.6, 4)}, 'epoch': {epochs}}}"
    )
    lines.extend(extra)
    return lines


StageSpec = str | tuple[str, float | None]


@dataclass
class JobScript:
    """How one job behaves. Build with ``hub.jobs.script(...)``."""

    stages: list[tuple[str, float | None]] = field(
        default_factory=lambda: [("SCHEDULING", None), ("RUNNING", None)]
    )
    logs: list[str] | None = None
    final: str = "COMPLETED"
    error_message: str | None = None
    manual: bool = False
    log_interval: float | None = None
    metrics: list[dict[str, Any]] | None = None
    match: Callable[[dict[str, Any]], bool] | None = None


@dataclass
class FakeJob:
    """Server-side state of one job (``hub.jobs.get(job_id)``)."""

    id: str
    namespace: str
    owner: dict[str, Any]
    initiator: dict[str, Any]
    spec: dict[str, Any]
    script: JobScript
    created_at: datetime
    created_mono: float
    stage: str = "SCHEDULING"
    message: str | None = None
    started_mono: float | None = None
    finished_mono: float | None = None
    log_events: list[tuple[str, str]] = field(default_factory=list)  # (iso timestamp, line)
    pending_logs: list[tuple[float, str]] = field(default_factory=list)  # (offset in RUNNING, line)
    labels: dict[str, str] = field(default_factory=dict)
    scheduled_job_id: str | None = None
    stage_index: int = 0
    stage_entered: float = 0.0
    history: list[tuple[str, float]] = field(default_factory=list)

    @property
    def logs(self) -> list[str]:
        """Log lines released so far (without the ``===== Job started`` banner)."""
        return [line for _, line in self.log_events if not line.startswith(JOB_STARTED_PREFIX)]

    @property
    def terminal(self) -> bool:
        return self.stage in TERMINAL_STAGES

    @property
    def secrets(self) -> dict[str, Any]:
        """Secrets exactly as submitted (values included) — for assertions only; never echoed."""
        return dict(self.spec.get("secrets") or {})

    @property
    def environment(self) -> dict[str, Any]:
        return dict(self.spec.get("environment") or {})

    @property
    def command(self) -> list[str]:
        return list(self.spec.get("command") or [])

    @property
    def flavor(self) -> str:
        return str(self.spec.get("flavor") or "cpu-basic")


@dataclass
class FakeScheduledJob:
    """Server-side state of one scheduled job."""

    id: str
    namespace: str
    owner: dict[str, Any]
    spec: dict[str, Any]
    schedule: str
    suspend: bool
    concurrency: bool
    created_at: datetime
    last_job: tuple[str, datetime] | None = None
    job_ids: list[str] = field(default_factory=list)


class FakeJobs:
    """Jobs state + test controls. Reached as ``hub.jobs``.

    Controls: ``script``, ``set_stage``, ``emit_log``, ``require_billing``, ``fire_scheduled``;
    accessors: ``get``, ``all``, ``last``, ``stage``, ``scheduled``.
    """

    def __init__(
        self,
        hub: FakeHub,
        *,
        schedule_secs: float = 0.05,
        run_secs: float = 0.3,
        metrics_secs: float = 0.05,
        keepalive_secs: float = 30.0,
        default_logs: list[str] | None = None,
        billing_required: Iterable[str] = (),
        hardware: list[dict[str, Any]] | None = None,
        page_size: int = 50,
    ) -> None:
        self.hub = hub
        self.schedule_secs = schedule_secs
        self.run_secs = run_secs
        self.metrics_secs = metrics_secs
        self.keepalive_secs = keepalive_secs
        self.default_logs = default_logs
        self.billing_required: set[str] = set(billing_required)
        self.hardware = [dict(h) for h in (hardware or DEFAULT_HARDWARE)]
        self.page_size = page_size
        self.jobs: dict[str, FakeJob] = {}
        self.scheduled: dict[str, FakeScheduledJob] = {}
        self._pending_scripts: list[JobScript] = []

    # -- test controls ---------------------------------------------------------------

    def script(
        self,
        job_id: str | None = None,
        *,
        stages: Iterable[StageSpec] | None = None,
        logs: Iterable[str] | None = None,
        final: str = "COMPLETED",
        error_message: str | None = None,
        manual: bool = False,
        log_interval: float | None = None,
        metrics: list[dict[str, Any]] | None = None,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> JobScript:
        """Script a job: an existing one (``job_id``) or the next one created (optionally the next
        one whose submitted spec satisfies ``match``).

        ``stages`` lists the non-final stages in order, each a name (default durations:
        ``schedule_secs`` for SCHEDULING, ``run_secs`` for RUNNING) or ``(name, secs)``. Log lines
        are released while RUNNING (evenly, or every ``log_interval`` s); anything left is
        released when the job reaches ``final``. ``manual=True`` freezes the job in its first
        stage until ``set_stage``; its scripted logs appear when it enters RUNNING.
        """
        if final not in TERMINAL_STAGES:
            raise ValueError(f"final must be one of {sorted(TERMINAL_STAGES)}")
        parsed: list[tuple[str, float | None]] = []
        for st in stages if stages is not None else ("SCHEDULING", "RUNNING"):
            parsed.append((st, None) if isinstance(st, str) else (st[0], st[1]))
        js = JobScript(
            stages=parsed,
            logs=list(logs) if logs is not None else None,
            final=final,
            error_message=error_message,
            manual=manual,
            log_interval=log_interval,
            metrics=metrics,
            match=match,
        )

        def apply() -> JobScript:
            if job_id is None:
                self._pending_scripts.append(js)
            else:
                job = self.get(job_id)
                self._apply_script(job, js, now=self.hub.clock(), restart=job.stage == "SCHEDULING")
                self.hub.notify()
            return js

        return self.hub.call_in_loop(apply)

    def script_training(
        self,
        shape: str,
        *,
        steps: int = 100,
        every: int = 5,
        run_secs: float = 1.0,
        final: str = "COMPLETED",
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> JobScript:
        """Script the next job as a time-scaled training run whose log lines and metrics stream
        follow a curve of :mod:`tests.fakes.training_curves` (``healthy``, ``nan``,
        ``diverging``, ``idle_gpu``, ``overfitting``), released evenly over ``run_secs``."""
        from .training_curves import SHAPES, hardware_sample, run_log

        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}")
        return self.script(
            stages=["SCHEDULING", ("RUNNING", run_secs)],
            logs=run_log(shape, steps=steps, every=every),
            metrics=[hardware_sample(shape, i) for i in range(8)],
            final=final,
            match=match,
        )

    def set_stage(self, job_id: str, stage: str, message: str | None = None) -> FakeJob:
        """Move a job to ``stage`` now and switch it to manual control (thread-safe)."""

        def apply() -> FakeJob:
            job = self.get(job_id)
            job.script.manual = True
            self._enter(job, stage, self.hub.clock(), message=message)
            self.hub.notify()
            return job

        return self.hub.call_in_loop(apply)

    def emit_log(self, job_id: str, *lines: str) -> None:
        """Append log lines to a job right now (they stream to open ``/logs`` connections)."""

        def apply() -> None:
            job = self.get(job_id)
            stamp = iso(utcnow())
            job.log_events.extend((stamp, line) for line in lines)
            self.hub.notify()

        self.hub.call_in_loop(apply)

    def require_billing(self, namespace: str, required: bool = True) -> None:
        """Make job creation in ``namespace`` fail with 402 (no credits) — or stop doing so."""
        (self.billing_required.add if required else self.billing_required.discard)(namespace)

    def fire_scheduled(self, scheduled_job_id: str) -> FakeJob:
        """Simulate the scheduler firing a scheduled job now (creates a run)."""
        return self.hub.call_in_loop(lambda: self._trigger(self.scheduled[scheduled_job_id]))

    # -- accessors -----------------------------------------------------------------------

    def get(self, job_id: str) -> FakeJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise KeyError(f"no such job: {job_id}")
        return job

    def all(self) -> list[FakeJob]:
        return list(self.jobs.values())

    @property
    def last(self) -> FakeJob | None:
        return next(reversed(self.jobs.values()), None)

    def stage(self, job_id: str) -> str:
        return self.get(job_id).stage

    # -- state machine ---------------------------------------------------------------------

    def _duration(self, job: FakeJob, index: int) -> float:
        name, secs = job.script.stages[index]
        if secs is not None:
            return secs
        return self.run_secs if name == "RUNNING" else self.schedule_secs

    def _default_script(self, spec: dict[str, Any]) -> JobScript:
        joined = " ".join(str(c) for c in spec.get("command") or [])
        failing = "exit 1" in joined or "sys.exit(1)" in joined
        return JobScript(
            final="ERROR" if failing else "COMPLETED",
            logs=list(self.default_logs)
            if self.default_logs is not None
            else ["Starting job...", f"$ {joined[:200]}", "Job finished."],
        )

    def _take_script(self, spec: dict[str, Any]) -> JobScript:
        for i, js in enumerate(self._pending_scripts):
            if js.match is None or js.match(spec):
                return self._pending_scripts.pop(i)
        return self._default_script(spec)

    def _apply_script(self, job: FakeJob, js: JobScript, now: float, restart: bool) -> None:
        job.script = js
        logs = js.logs if js.logs is not None else self._default_script(job.spec).logs or []
        run_len = next(
            (self._duration(job, i) for i, (n, _) in enumerate(js.stages) if n == "RUNNING"),
            self.run_secs,
        )
        if js.log_interval is not None:
            offsets = [i * js.log_interval for i in range(len(logs))]
        else:
            offsets = [run_len * (i + 1) / (len(logs) + 1) for i in range(len(logs))]
        job.pending_logs = list(zip(offsets, logs, strict=True))
        if restart:
            job.stage_index = 0
            job.stage_entered = now
            self._enter(job, js.stages[0][0] if js.stages else js.final, now)
            return
        names = [n for n, _ in js.stages]
        # Re-scripting a job mid-flight: continue from its current stage in the new script
        # (or finish right away if the new script does not contain it).
        job.stage_index = names.index(job.stage) if job.stage in names else len(names)
        if job.stage == "RUNNING" and job.started_mono is not None:
            job.pending_logs = [
                (max(off, now - job.started_mono), line) for off, line in job.pending_logs
            ]
            self._release_logs(job, now)

    def _enter(self, job: FakeJob, stage: str, now: float, message: str | None = None) -> None:
        if job.stage == stage and job.history:
            return
        job.stage = stage
        job.stage_entered = now
        job.history.append((stage, now))
        if stage == "RUNNING" and job.started_mono is None:
            job.started_mono = now
            job.log_events.append(
                (self._wall(job, now), f"{JOB_STARTED_PREFIX} at {self._wall(job, now)} =====")
            )
            if job.script.manual:
                for _, line in job.pending_logs:
                    job.log_events.append((self._wall(job, now), line))
                job.pending_logs = []
        if stage in TERMINAL_STAGES:
            job.finished_mono = now
            if stage != "CANCELED" or job.started_mono is not None:
                for _, line in job.pending_logs:  # flush what the job "printed" before it ended
                    job.log_events.append((self._wall(job, now), line))
            job.pending_logs = []
            if stage == "ERROR":
                job.message = message or job.script.error_message or "Job failed with exit code: 1"
            elif message is not None:
                job.message = message
        elif message is not None:
            job.message = message

    def _wall(self, job: FakeJob, mono: float) -> str:
        return iso(job.created_at + timedelta(seconds=max(0.0, mono - job.created_mono)))

    def _release_logs(self, job: FakeJob, now: float) -> bool:
        if job.started_mono is None or not job.pending_logs:
            return False
        elapsed = now - job.started_mono
        changed = False
        while job.pending_logs and job.pending_logs[0][0] <= elapsed:
            offset, line = job.pending_logs.pop(0)
            job.log_events.append((self._wall(job, job.started_mono + offset), line))
            changed = True
        return changed

    def refresh(self, job: FakeJob, now: float | None = None) -> bool:
        """Apply every transition due by ``now``; returns whether anything changed."""
        now = self.hub.clock() if now is None else now
        if job.terminal:
            return False
        changed = False
        if not job.script.manual:
            while not job.terminal:
                stages = job.script.stages
                if job.stage_index < len(stages):
                    end = job.stage_entered + self._duration(job, job.stage_index)
                    if now < end:
                        break
                else:
                    end = job.stage_entered  # no stage left: reach the final stage now
                job.stage_index += 1
                nxt = (
                    stages[job.stage_index][0]
                    if job.stage_index < len(stages)
                    else job.script.final
                )
                if job.stage == "RUNNING":
                    self._release_logs(job, end)
                self._enter(job, nxt, end)
                changed = True
        if job.stage == "RUNNING":
            changed = self._release_logs(job, now) or changed
        return changed

    def refresh_all(self) -> bool:
        now = self.hub.clock()
        changed = False
        for job in list(self.jobs.values()):
            changed = self.refresh(job, now) or changed
        return changed

    # -- JSON ---------------------------------------------------------------------------------

    @staticmethod
    def _redacted(secrets: Any) -> dict[str, None]:
        """Secret *keys* only: the fake never echoes secret values back."""
        return {k: None for k in (secrets or {})}

    def job_json(self, job: FakeJob) -> dict[str, Any]:
        self.refresh(job)
        now = self.hub.clock()
        spec = job.spec
        data: dict[str, Any] = {
            "id": job.id,
            "createdAt": iso(job.created_at),
            "command": spec.get("command"),
            "arguments": spec.get("arguments", []),
            "environment": spec.get("environment", {}),
            "secrets": self._redacted(spec.get("secrets")),
            "flavor": spec.get("flavor", "cpu-basic"),
            "labels": dict(job.labels),
            "status": {"stage": job.stage, "message": job.message},
            "owner": job.owner,
            "initiator": job.initiator,
        }
        if "spaceId" in spec:
            data["spaceId"] = spec["spaceId"]
        else:
            data["dockerImage"] = spec.get("dockerImage")
        if spec.get("timeoutSeconds"):
            data["timeoutSeconds"] = spec["timeoutSeconds"]
        if spec.get("volumes"):
            data["volumes"] = spec["volumes"]
        if spec.get("network"):
            data["network"] = spec["network"]
        if spec.get("expose"):
            data["status"]["exposeUrls"] = [
                f"https://{job.id}--{port}.hf.jobs" for port in spec["expose"].get("ports", [])
            ]
        if (spec.get("ssh") or {}).get("enabled"):
            data["status"]["sshUrl"] = f"ssh://{job.id}@ssh.hf.jobs"
        if job.started_mono is not None:
            data["startedAt"] = self._wall(job, job.started_mono)
        if job.finished_mono is not None:
            data["finishedAt"] = self._wall(job, job.finished_mono)
        end = job.finished_mono if job.finished_mono is not None else now
        started = job.started_mono
        data["durations"] = {
            "schedulingSecs": int(started - job.created_mono) if started is not None else None,
            "runningSecs": int(end - started) if started is not None else None,
            "totalSecs": int(end - job.created_mono),
        }
        return data

    def _spec_json(self, spec: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in spec.items() if k != "secrets"}
        out["secrets"] = self._redacted(spec.get("secrets"))
        if "timeoutSeconds" in spec:
            out["timeout"] = spec["timeoutSeconds"]
        return out

    def scheduled_json(self, sj: FakeScheduledJob) -> dict[str, Any]:
        return {
            "id": sj.id,
            "createdAt": iso(sj.created_at),
            "jobSpec": self._spec_json(sj.spec),
            "schedule": sj.schedule,
            "suspend": sj.suspend,
            "concurrency": sj.concurrency,
            "status": {
                "lastJob": {"id": sj.last_job[0], "at": iso(sj.last_job[1])}
                if sj.last_job
                else None,
                "nextJobRunAt": None if sj.suspend else iso(_next_run(sj.schedule)),
            },
            "owner": sj.owner,
        }

    # -- creation --------------------------------------------------------------------------

    def _owner(self, namespace: str) -> dict[str, Any]:
        user = self.hub.users.get(namespace)
        if user is not None:
            return {"id": user.id, "name": user.name, "type": "user"}
        return {"id": self.hub.org_id(namespace), "name": namespace, "type": "org"}

    def _check_namespace(self, request: web.Request, namespace: str) -> Auth:
        auth = self.hub.require_auth(request)
        if namespace not in auth.user.namespaces:
            raise HubError(
                403,
                f"You don't have access to namespace '{namespace}'. You can only use Jobs under "
                f"your own account or an organization you belong to "
                f"({', '.join(sorted(auth.user.namespaces))}).",
            )
        return auth

    def _validate_spec(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise HubError(400, "Invalid job spec: expected a JSON object")
        if not spec.get("dockerImage") and not spec.get("spaceId"):
            raise HubError(400, "Invalid job spec: one of dockerImage or spaceId is required")
        cmd = spec.get("command")
        if cmd is not None and (
            not isinstance(cmd, list) or not all(isinstance(c, str) for c in cmd)
        ):
            raise HubError(400, "Invalid job spec: command must be a list of strings")
        flavor = spec.get("flavor") or "cpu-basic"
        if flavor not in {h["name"] for h in self.hardware}:
            raise HubError(400, f"Invalid flavor: '{flavor}'")
        timeout = spec.get("timeoutSeconds")
        if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
            raise HubError(400, "Invalid job spec: timeoutSeconds must be a positive integer")
        for key in ("environment", "secrets"):
            if not isinstance(spec.get(key) or {}, dict):
                raise HubError(400, f"Invalid job spec: {key} must be an object")
        for k, v in (spec.get("labels") or {}).items():
            if not k or not LABEL_RE.fullmatch(str(k)) or not LABEL_RE.fullmatch(str(v)):
                raise HubError(
                    400,
                    f"Invalid label {k}={v}: keys and values must be at most 100 characters of "
                    "letters, digits, '-', '_' or '.'",
                )
        return spec

    def _check_billing(self, namespace: str) -> None:
        if namespace in self.billing_required:
            raise HubError(
                402,
                f"Payment required: namespace '{namespace}' has insufficient credits to run Jobs. "
                "Please add credits or a payment method at https://huggingface.co/settings/billing",
            )

    def create(
        self,
        namespace: str,
        spec: dict[str, Any],
        initiator: dict[str, Any],
        scheduled_job_id: str | None = None,
    ) -> FakeJob:
        now = self.hub.clock()
        js = self._take_script(spec)
        job = FakeJob(
            id=object_id(),
            namespace=namespace,
            owner=self._owner(namespace),
            initiator=initiator,
            spec=spec,
            script=js,
            created_at=utcnow(),
            created_mono=now,
            labels=dict(spec.get("labels") or {}),
            scheduled_job_id=scheduled_job_id,
        )
        self.jobs[job.id] = job
        self._apply_script(job, js, now=now, restart=True)
        self.refresh(job, now)
        self.hub.notify()
        return job

    def _trigger(self, sj: FakeScheduledJob) -> FakeJob:
        job = self.create(
            sj.namespace,
            dict(sj.spec),
            {"type": "scheduled-job", "id": sj.id},
            scheduled_job_id=sj.id,
        )
        sj.job_ids.append(job.id)
        sj.last_job = (job.id, job.created_at)
        return job

    # -- routes ------------------------------------------------------------------------------

    def register(self, router: Any) -> None:
        add = router.add
        add("GET", "/api/jobs/hardware", self.h_hardware, "jobs.hardware")
        add("GET POST", "/api/jobs/{ns}", self.h_jobs, "jobs.collection")
        add("GET", "/api/jobs/{ns}/{job_id}", self.h_inspect, "jobs.inspect")
        add("POST", "/api/jobs/{ns}/{job_id}/cancel", self.h_cancel, "jobs.cancel")
        add("PUT", "/api/jobs/{ns}/{job_id}/labels", self.h_labels, "jobs.labels")
        add("GET", "/api/jobs/{ns}/{job_id}/logs", self.h_logs, "jobs.logs")
        add("GET", "/api/jobs/{ns}/{job_id}/metrics", self.h_metrics, "jobs.metrics")
        add("GET POST", "/api/scheduled-jobs/{ns}", self.h_scheduled, "scheduled_jobs.collection")
        add(
            "GET DELETE",
            "/api/scheduled-jobs/{ns}/{sid}",
            self.h_scheduled_one,
            "scheduled_jobs.one",
        )
        add(
            "POST",
            "/api/scheduled-jobs/{ns}/{sid}/{action:suspend|resume|run}",
            self.h_scheduled_action,
            "scheduled_jobs.action",
        )
        add(
            "PUT",
            "/api/scheduled-jobs/{ns}/{sid}/labels",
            self.h_scheduled_labels,
            "scheduled_jobs.labels",
        )

    async def h_hardware(self, request: web.Request, p: dict[str, str]) -> web.Response:
        return web.json_response(self.hardware)

    def _job(self, request: web.Request, p: dict[str, str]) -> FakeJob:
        self._check_namespace(request, p["ns"])
        job = self.jobs.get(p["job_id"])
        if job is None or job.namespace != p["ns"]:
            raise HubError(404, "Job not found")
        self.refresh(job)
        return job

    async def h_jobs(self, request: web.Request, p: dict[str, str]) -> web.Response:
        ns = p["ns"]
        auth = self._check_namespace(request, ns)
        if request.method == "POST":
            if not auth.can_write:
                raise HubError(403, "This token does not have write access; it cannot run Jobs")
            self._check_billing(ns)
            spec = self._validate_spec(await read_json(request))
            job = self.create(
                ns, spec, {"type": "user", "id": auth.user.id, "name": auth.user.name}
            )
            return web.json_response(self.job_json(job))
        q = request.rel_url.query
        stages = {s.upper() for s in q.getall("stage", [])}
        labels = q.getall("label", [])
        self.refresh_all()
        jobs = [j for j in self.jobs.values() if j.namespace == ns]
        if stages:
            jobs = [j for j in jobs if j.stage in stages]
        for label in labels:
            key, has_value, value = label.partition("=")  # "k=v", or bare "k" = has label k
            jobs = [
                j for j in jobs if key in j.labels and (not has_value or j.labels[key] == value)
            ]
        jobs.sort(key=lambda j: j.created_mono, reverse=True)
        return self.hub.paginated(
            request, [self.job_json(j) for j in jobs], page_size=self.page_size
        )

    async def h_inspect(self, request: web.Request, p: dict[str, str]) -> web.Response:
        return web.json_response(self.job_json(self._job(request, p)))

    async def h_cancel(self, request: web.Request, p: dict[str, str]) -> web.Response:
        job = self._job(request, p)
        if not job.terminal:
            self._enter(job, "CANCELED", self.hub.clock())
            self.hub.notify()
        return web.json_response(self.job_json(job))

    async def h_labels(self, request: web.Request, p: dict[str, str]) -> web.Response:
        job = self._job(request, p)
        body = await read_json(request)
        labels = body.get("labels") if isinstance(body, dict) else None
        if not isinstance(labels, dict):
            raise HubError(400, "labels must be an object")
        self._validate_spec({"dockerImage": "x", "labels": labels})
        job.labels = {**({"name": job.labels["name"]} if "name" in job.labels else {}), **labels}
        return web.json_response(self.job_json(job))

    async def _sse_open(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        return resp

    async def h_logs(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        job = self._job(request, p)
        tail = request.rel_url.query.get("tail")
        resp = await self._sse_open(request)
        sent = 0
        if tail is not None:
            try:
                sent = max(0, len(job.log_events) - int(tail))
            except ValueError:
                sent = 0
        last_write = time.monotonic()
        try:
            while True:
                self.refresh(job)
                while sent < len(job.log_events):
                    stamp, line = job.log_events[sent]
                    payload = json.dumps({"data": line, "timestamp": stamp})
                    await resp.write(f"data: {payload}\n\n".encode())
                    sent += 1
                    last_write = time.monotonic()
                if job.terminal or self.hub.closing or _client_gone(request):
                    break
                await self.hub.wait_change(0.1)
                if time.monotonic() - last_write >= self.keepalive_secs:
                    await resp.write(b": keep-alive\n\n")
                    last_write = time.monotonic()
            await resp.write_eof()
        except ConnectionError:
            pass  # the client went away (e.g. follow=False hit its read timeout)
        return resp

    def _metric(self, job: FakeJob, n: int) -> dict[str, Any]:
        if job.script.metrics:
            return job.script.metrics[min(n, len(job.script.metrics) - 1)]
        hw = next((h for h in self.hardware if h["name"] == job.flavor), self.hardware[0])
        gpus = {}
        if hw["accelerator"]:
            vram = int(str(hw["accelerator"]["vram"]).split()[0]) * 1_000_000_000
            qty = int(hw["accelerator"]["quantity"])
            for i in range(qty):
                gpus[f"{i:08x}"] = {
                    "utilization": 60 + (n * 7 + i) % 35,
                    "memory_used_bytes": vram // qty // 2,
                    "memory_total_bytes": vram // qty,
                }
        return {
            "cpu_usage_pct": 20 + (n * 13) % 60,
            "cpu_millicores": 2000,
            "memory_used_bytes": 1_500_000_000 + n * 1_000_000,
            "memory_total_bytes": 16_000_000_000,
            "rx_bps": 1000 * (n % 5),
            "tx_bps": 500 * (n % 3),
            "gpus": gpus,
            "replica": job.id[-5:],
        }

    async def h_metrics(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        job = self._job(request, p)
        if job.terminal:
            # The real endpoint answers 500 for finished jobs; the client tolerates it.
            raise HubError(500, "Job is not running")
        resp = await self._sse_open(request)
        n = 0
        next_at = time.monotonic()
        try:
            while True:
                self.refresh(job)
                if job.terminal or self.hub.closing or _client_gone(request):
                    break
                if job.stage == "RUNNING" and time.monotonic() >= next_at:
                    payload = json.dumps(self._metric(job, n))
                    await resp.write(f"event: metric\ndata: {payload}\n\n".encode())
                    n += 1
                    next_at = time.monotonic() + self.metrics_secs
                await self.hub.wait_change(min(0.1, max(0.005, next_at - time.monotonic())))
            await resp.write_eof()
        except ConnectionError:
            pass  # the client went away (e.g. follow=False hit its read timeout)
        return resp

    # -- scheduled jobs ----------------------------------------------------------------------

    def _scheduled(self, request: web.Request, p: dict[str, str]) -> FakeScheduledJob:
        self._check_namespace(request, p["ns"])
        sj = self.scheduled.get(p["sid"])
        if sj is None or sj.namespace != p["ns"]:
            raise HubError(404, "Scheduled job not found")
        return sj

    async def h_scheduled(self, request: web.Request, p: dict[str, str]) -> web.Response:
        ns = p["ns"]
        auth = self._check_namespace(request, ns)
        if request.method == "POST":
            if not auth.can_write:
                raise HubError(403, "This token does not have write access; it cannot run Jobs")
            self._check_billing(ns)
            body = await read_json(request)
            if not isinstance(body, dict):
                raise HubError(400, "Invalid body")
            spec = self._validate_spec(body.get("jobSpec"))
            schedule = body.get("schedule") or ""
            if not _valid_schedule(schedule):
                raise HubError(400, f"Invalid schedule: '{schedule}'")
            sj = FakeScheduledJob(
                id=object_id(),
                namespace=ns,
                owner=self._owner(ns),
                spec=spec,
                schedule=schedule,
                suspend=bool(body.get("suspend", False)),
                concurrency=bool(body.get("concurrency", False)),
                created_at=utcnow(),
            )
            self.scheduled[sj.id] = sj
            return web.json_response(self.scheduled_json(sj))
        items = [s for s in self.scheduled.values() if s.namespace == ns]
        if label := request.rel_url.query.get("label"):
            key, _, value = label.partition("=")
            items = [s for s in items if (s.spec.get("labels") or {}).get(key) == value]
        return web.json_response([self.scheduled_json(s) for s in items])

    async def h_scheduled_one(self, request: web.Request, p: dict[str, str]) -> web.Response:
        sj = self._scheduled(request, p)
        if request.method == "DELETE":
            del self.scheduled[sj.id]
            return web.json_response({})
        return web.json_response(self.scheduled_json(sj))

    async def h_scheduled_action(self, request: web.Request, p: dict[str, str]) -> web.Response:
        sj = self._scheduled(request, p)
        action = p["action"]
        if action == "suspend":
            sj.suspend = True
        elif action == "resume":
            sj.suspend = False
        else:
            running = [
                jid for jid in sj.job_ids if jid in self.jobs and not self.jobs[jid].terminal
            ]
            if running and not sj.concurrency:
                raise HubError(409, "A run of this scheduled job is already in progress")
            return web.json_response(self.job_json(self._trigger(sj)))
        return web.json_response({})

    async def h_scheduled_labels(self, request: web.Request, p: dict[str, str]) -> web.Response:
        sj = self._scheduled(request, p)
        body = await read_json(request)
        labels = body.get("labels") if isinstance(body, dict) else None
        if not isinstance(labels, dict):
            raise HubError(400, "labels must be an object")
        self._validate_spec({"dockerImage": "x", "labels": labels})
        sj.spec = {**sj.spec, "labels": labels}
        return web.json_response(self.scheduled_json(sj))


def _valid_schedule(schedule: str) -> bool:
    if schedule in SCHEDULE_ALIASES:
        return True
    fields = schedule.split()
    return len(fields) == 5 and all(re.fullmatch(r"[0-9*/,\-A-Za-z]+", f) for f in fields)


def _next_run(schedule: str) -> datetime:
    now = utcnow()
    if schedule in SCHEDULE_ALIASES:
        return now + SCHEDULE_ALIASES[schedule]
    return (now + timedelta(minutes=1)).replace(second=0, microsecond=0)


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


__all__ = [
    "DEFAULT_HARDWARE",
    "FakeJob",
    "FakeJobs",
    "FakeScheduledJob",
    "JobScript",
    "TERMINAL_STAGES",
    "training_log_lines",
]
