"""Polling one watched job: status, log tails, stall and NaN warnings, and its end.

:class:`JobPoller` does the work of a scheduler tick for one :class:`Watch` (the watcher in
:mod:`.watcher` decides *when*). Each step updates the job's record first and then emits the
``job_progress`` event; the end of a job becomes one :class:`~.report.JobFinished`, reported
by :class:`~.reporting.FinishReporter`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import pricing
from ..durations import format_duration
from ..events import EventType
from ..hub import HubClient, HubError
from .babysitter import Babysit, Babysitter
from .log_reader import LogReader
from .metrics import nan_detected
from .records import JobRecord, JobStore
from .report import JobFinished
from .reporting import EmitFn, FinishReporter
from .schedule import next_interval
from .stages import RUNNING_STAGES, decode_stage, is_terminal, normalize_stage

log = logging.getLogger(__name__)

NOT_FOUND_LIMIT = 3  # consecutive 404s before a job is declared DELETED
FINAL_TAIL_DEADLINE_S = 3.0


@dataclass
class Watch:
    """In-memory state of one watched job (the store keeps what must survive a restart)."""

    record: JobRecord
    stage: str
    next_inspect: float
    interval: float
    next_logs: float | None = None
    busy: bool = False
    finished: bool = False
    emitted: bool = False
    restored: bool = False
    not_found: int = 0
    started_wall: float | None = None
    last_new_log: float = 0.0
    log: LogReader = field(default_factory=LogReader)
    nan_warned: bool = False
    stall_warned: bool = False
    canceled_by: str | None = None
    babysit: Babysit = field(default_factory=Babysit)


def _ts(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


class JobPoller:
    """The per-job steps of a watch, with everything they use passed in."""

    def __init__(
        self,
        hub: HubClient,
        records: JobStore,
        emit: EmitFn,
        reporter: FinishReporter,
        cfg: Any,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        babysitter: Babysitter | None = None,
    ) -> None:
        self.hub = hub
        self.records = records
        self.emit = emit
        self.reporter = reporter
        self.cfg = cfg
        self.clock = clock
        self.wall = wall_clock
        self.babysitter = babysitter

    def new_watch(self, rec: JobRecord, *, restored: bool = False) -> Watch:
        """In-memory state for a job; a restored one is polled at once."""
        now = self.clock()
        w = Watch(
            record=rec,
            stage=normalize_stage(rec.stage, "SCHEDULING"),
            next_inspect=now if restored else now + self.cfg.poll_initial_s,
            interval=self.cfg.poll_initial_s,
            restored=restored,
            last_new_log=now,
        )
        w.started_wall = _ts(rec.info.get("started_at"))
        w.log = LogReader.restore(rec.info)
        w.babysit = Babysit.restore(rec.info)
        w.canceled_by = rec.info.get("cancel_requested_by")
        if w.stage in RUNNING_STAGES:
            w.next_logs = now
        return w

    async def poll(self, w: Watch) -> None:
        """Whatever is due for this job now: a status check, a log tail, the stall check."""
        if self.clock() >= w.next_inspect:
            await self.inspect(w)
        if (
            not w.finished
            and w.stage in RUNNING_STAGES
            and w.next_logs is not None
            and self.clock() >= w.next_logs
        ):
            await self.fetch_logs(w)
        if not w.finished:
            await self.check_stall(w)

    def backoff(self, w: Watch) -> None:
        cfg = self.cfg
        w.next_inspect = self.clock() + w.interval
        w.interval = next_interval(w.interval, cfg.poll_initial_s, cfg.poll_backoff, cfg.poll_max_s)

    async def inspect(self, w: Watch) -> None:
        rec = w.record
        try:
            info = await self.hub.inspect_job(rec.namespace, rec.job_id)
        except HubError as exc:
            if exc.kind == "not_found":
                w.not_found += 1
                if w.not_found >= NOT_FOUND_LIMIT:
                    await self.finish(
                        w, None, stage="DELETED", error="The Hub no longer knows this job (404)."
                    )
                    return
            else:
                log.warning("inspect of job %s failed: %s", rec.job_id, exc.message)
            self.backoff(w)
            return
        w.not_found = 0
        stage = decode_stage(info)
        started = _ts(getattr(info, "started_at", None))
        if started is not None and w.started_wall is None:
            w.started_wall = started
            rec.info["started_at"] = started
        if is_terminal(stage):
            await self.finish(w, info, stage=stage)
            return
        if stage != w.stage:
            previous, w.stage = w.stage, stage
            rec.stage = stage
            await self.records.update(rec.job_id, stage=stage, info=rec.info)
            now = self.clock()
            if stage in RUNNING_STAGES and w.next_logs is None:
                w.next_logs = now  # first tail right away
                w.last_new_log = now
            await self.emit_progress(w, previous_stage=previous)
            w.interval = self.cfg.poll_initial_s
        self.backoff(w)

    async def fetch_logs(self, w: Watch) -> None:
        rec, cfg = w.record, self.cfg
        w.next_logs = self.clock() + cfg.log_tail_every_s
        try:
            tail = await self.hub.job_log_tail(
                rec.namespace,
                rec.job_id,
                cfg.log_tail_lines,
                deadline_s=cfg.log_tail_deadline_s,
                idle_s=cfg.log_tail_idle_s,
            )
        except HubError as exc:
            log.info("log tail of job %s failed: %s", rec.job_id, exc.message)
            return
        new = w.log.read(tail)
        if new:
            w.last_new_log = self.clock()
            w.stall_warned = False
        warning = None
        if new and not w.nan_warned and nan_detected(new):
            w.nan_warned = True
            warning = "nan"
        if new or warning:
            rec.info.update(w.log.persisted())
            await self.records.update(rec.job_id, info=rec.info)
            await self.emit_progress(w, warning=warning)
        await self.babysit(w, new, running=True)
        if tail.ended:
            # The server closed a running job's log stream: it has most likely just ended.
            w.next_inspect = min(w.next_inspect, self.clock())
            w.interval = cfg.poll_initial_s

    async def babysit(self, w: Watch, new: list[str], *, running: bool) -> None:
        """Feed the job's series (new log lines, hardware while running), persist them, and
        let the babysitter check the run's health (see :mod:`.babysitter`)."""
        sitter = self.babysitter
        if sitter is None:
            return
        rec = w.record
        try:
            if new:
                sitter.observe_logs(w.babysit, new, sitter.job_seconds(rec, w.started_wall))
            if running:
                await sitter.observe_hardware(w.babysit, rec, w.started_wall)
            await sitter.review(
                w.babysit,
                rec,
                running=running,
                started=w.started_wall,
                snapshot=self.snapshot(w),
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # a bad check must never stop the job from being followed
            log.exception("babysitting job %s failed", rec.job_id)
        rec.info.update(w.babysit.persisted())
        if running:
            await self.records.update(rec.job_id, info=rec.info)

    async def check_stall(self, w: Watch) -> None:
        if w.stage not in RUNNING_STAGES or w.stall_warned or w.next_logs is None:
            return
        quiet = self.clock() - w.last_new_log
        if quiet >= self.cfg.stall_warning_s:
            w.stall_warned = True
            await self.emit_progress(w, warning="stall", quiet_s=quiet)

    # ------------------------------------------------------------------ events
    def elapsed(self, w: Watch) -> float:
        if w.started_wall is None:
            return 0.0
        return max(0.0, self.wall() - w.started_wall)

    def snapshot(self, w: Watch) -> dict[str, Any]:
        return self._snapshot(
            w.record,
            w.stage,
            self.elapsed(w),
            metrics=dict(w.log.metrics),
            links=dict(w.log.links),
            log_tail=list(w.log.tail),
            watching=True,
        )

    def stored_snapshot(self, rec: JobRecord) -> dict[str, Any]:
        """A job another replica watches, as far as its stored row tells."""
        info = rec.info
        started = info.get("started_at")
        return self._snapshot(
            rec,
            rec.stage,
            max(0.0, self.wall() - started) if isinstance(started, int | float) else 0.0,
            metrics=dict(info.get("metrics") or {}),
            links=dict(info.get("links") or {}),
            log_tail=list(info.get("log_tail") or []),
            watching=False,
        )

    @staticmethod
    def _snapshot(
        rec: JobRecord, stage: str, elapsed: float, *, watching: bool, **live: Any
    ) -> dict[str, Any]:
        price = pricing.price_per_hour(rec.flavor)
        return {
            **rec.identity(),
            "stage": stage,
            "elapsed_s": round(elapsed, 1),
            "cost_so_far_usd": round(price * elapsed / 3600, 4) if price is not None else None,
            **live,
            "timeout_s": rec.timeout_s,
            "estimated_cost_usd": rec.estimated_cost_usd,
            "watching": watching,
        }

    async def emit_progress(
        self,
        w: Watch,
        *,
        previous_stage: str | None = None,
        warning: str | None = None,
        quiet_s: float | None = None,
    ) -> None:
        snap = self.snapshot(w)
        data: dict[str, Any] = {
            "job_id": snap["job_id"],
            "url": snap["url"],
            "flavor": snap["flavor"],
            "stage": snap["stage"],
            "previous_stage": previous_stage or snap["stage"],
            "log_tail": snap["log_tail"],
            "metrics": snap["metrics"],
            "links": snap["links"],
            "elapsed_s": snap["elapsed_s"],
            "cost_so_far_usd": snap["cost_so_far_usd"],
            "tool_call_id": snap["tool_call_id"],
        }
        if warning == "nan":
            data["warning"] = "nan"
            data["warning_message"] = (
                "The training loss (or gradient norm) became NaN/inf; the run is probably "
                "diverging. Consider cancelling it and lowering the learning rate."
            )
        elif warning == "stall":
            data["warning"] = "stall"
            data["warning_message"] = (
                f"No new log output for {format_duration(quiet_s) or 'a while'} while the job "
                "is running; "
                "it may be stuck (or just quiet)."
            )
        await self.emit(w.record.session_id, EventType.JOB_PROGRESS, data)

    # ------------------------------------------------------------------ the end of a job
    def wall_time(self, w: Watch, info: Any) -> float:
        started = _ts(getattr(info, "started_at", None)) if info is not None else None
        finished = _ts(getattr(info, "finished_at", None)) if info is not None else None
        started = started if started is not None else w.started_wall
        if started is not None and finished is not None:
            return max(0.0, finished - started)
        durations = getattr(info, "durations", None) if info is not None else None
        running = getattr(durations, "running_secs", None)
        if isinstance(running, int | float):
            return float(running)
        if started is not None:
            return max(0.0, self.wall() - started)
        return 0.0

    async def finish(self, w: Watch, info: Any, *, stage: str, error: str | None = None) -> None:
        if w.finished:
            return
        w.finished = True  # set before any await: a concurrent path cannot finish it twice
        rec = w.record
        try:
            if info is not None:
                try:
                    new = w.log.read(
                        await self.hub.job_log_tail(
                            rec.namespace,
                            rec.job_id,
                            # the final tail feeds the agent's diagnosis: read more of it
                            max(self.cfg.log_tail_lines, self.cfg.resume_log_lines),
                            deadline_s=FINAL_TAIL_DEADLINE_S,
                            idle_s=min(1.0, self.cfg.log_tail_idle_s * 2),
                        )
                    )
                except HubError as exc:
                    log.info("final log tail of job %s failed: %s", rec.job_id, exc.message)
                    new = []
                await self.babysit(w, new, running=False)
                message = getattr(getattr(info, "status", None), "message", None)
                if stage != "COMPLETED" and message:
                    error = str(message)
            w.stage = stage
            await self.reporter.report(rec, self.report(w, info, stage, error), self.wall())
            w.emitted = True
        except asyncio.CancelledError:
            w.finished = False
            raise
        except Exception:
            log.exception("reporting the end of job %s failed; will retry", rec.job_id)
            w.finished = False
            w.next_inspect = self.clock() + max(1.0, w.interval)

    def report(self, w: Watch, info: Any, stage: str, error: str | None) -> JobFinished:
        """The one report of how the job ended (see :mod:`agent_core.jobs.report`)."""
        rec = w.record
        wall = self.wall_time(w, info)
        price = pricing.price_per_hour(rec.flavor)
        return JobFinished(
            job_id=rec.job_id,
            stage=stage,
            wall_time_s=wall,
            cost_usd=round(price * wall / 3600, 4) if price is not None else None,
            url=rec.url,
            flavor=rec.flavor,
            namespace=rec.namespace,
            requester=rec.requester,
            tool_call_id=rec.tool_call_id,
            log_tail=tuple(w.log.tail),
            metrics=dict(w.log.metrics),
            links=dict(w.log.links),
            error=error,
            canceled_by=w.canceled_by,
            reported_after_restart=w.restored,
        )
