"""The JobWatcher: follows every submitted HF job until it ends, across restarts.

Why it exists: upstream's ``hf_jobs run`` held the tool call — and the whole session — until
the job ended, printing one event per log line. Here ``run`` returns as soon as the Hub
accepts the job and hands it to this watcher; the turn ends, and the watcher reports back.

Design

* **One background task per process**, not one per job: a scheduler loop keeps each job's next
  due time and starts a short "tick" (status poll and/or log tail) when it is due. Ticks run
  under an ``asyncio.Semaphore(max_concurrent_polls)``, so 500 jobs never mean 500 concurrent
  requests. Polling backs off (see :mod:`agent_core.jobs.schedule`).
* **Bounded log tails**: :meth:`HubClient.job_log_tail` streams the SSE logs endpoint with
  httpx and stops after an idle gap / deadline / line count. ``fetch_job_logs`` is never used
  for a running job: without ``follow`` it waits out a 5 s read timeout in a thread.
* **Events** on the job's session via the injected ``emit`` (``SessionManager.emit``):
  ``job_started`` (on :meth:`watch`), ``job_progress`` (stage changes; new log lines with
  parsed metrics, at most once per log-tail period; ``warning: "nan" | "stall"``), and
  ``job_finished`` exactly once per job.
* **Exactly once, across crashes.** The order at the end of a job is: persist the finished
  payload in the ``jobs`` row (``finished_emitted`` still 0) → settle the YOLO budget → emit
  ``job_finished`` (which persists the event before delivering it) → queue the resume note
  (``on_job_finished: resume``) → set ``finished_emitted=1``. After a crash anywhere before the
  last step the job is still "open"; on :meth:`start` the watcher first looks for a persisted
  ``job_finished`` event for it and, if there is one, only completes the bookkeeping instead of
  emitting again. Gateways replay persisted events after a restart, so a persisted event is a
  delivered report. (Residual windows: a crash between queueing the resume note and the mark
  may queue the note twice; a crash between settling the budget and emitting may settle it
  twice — both err on the side of "tell the agent"/"count the spend".)
* **Restarts.** :meth:`start` resumes every job with ``finished_emitted=0``; its first poll is
  immediate, so a job that finished while the bot was down is reported right away (its
  ``job_finished`` carries ``reported_after_restart: true``).
* **Cancel** is explicit (:meth:`cancel`), never a side effect of interrupting a turn; whether a
  person may cancel is the gateway's decision (:meth:`job` gives it the requester and origin).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import pricing
from ..events import EventType, SystemNote
from ..hub import HubError
from .metrics import collapse_installs, dashboard_links, nan_detected, parse_metrics
from .records import JobRecord, JobStore
from .schedule import RUNNING_STAGES, is_terminal, next_interval

if TYPE_CHECKING:
    from ..config import Config
    from ..hub import HubClient
    from ..manager import SessionManager
    from ..store import Store

log = logging.getLogger(__name__)

EmitFn = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
SubmitFn = Callable[[str, Any], Awaitable[Any]]
SpendFn = Callable[[str, float], Awaitable[None]]

NOT_FOUND_LIMIT = 3  # consecutive 404s before a job is declared DELETED
FINAL_TAIL_DEADLINE_S = 3.0
NOTE_TAIL_LINES = 8
NOTE_MAX_CHARS = 2_000


@dataclass
class _Watch:
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
    errors: int = 0
    started_wall: float | None = None
    last_new_log: float = 0.0
    last_log_ts: str | None = None
    seen_at_last_ts: set[str] = field(default_factory=set)
    tail: list[str] = field(default_factory=list)  # for display (install chatter collapsed)
    raw_tail: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    nan_warned: bool = False
    stall_warned: bool = False
    canceled_by: str | None = None
    inspects: int = 0
    log_fetches: int = 0


def _stage_of(info: Any) -> str:
    status = getattr(info, "status", None)
    stage = getattr(status, "stage", None)
    value = getattr(stage, "value", stage)
    return str(value or "UNKNOWN").upper()


def _ts(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m}m" if h else (f"{m}m {s}s" if m else f"{s}s")


class JobWatcher:
    """Follows submitted jobs; emits ``job_*`` events; survives restarts. See module doc."""

    def __init__(
        self,
        store: Store,
        config: Config,
        hub: HubClient,
        emit: EmitFn,
        submit: SubmitFn | None = None,
        *,
        adjust_spend: SpendFn | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.records = JobStore(store)
        self.config = config
        self.hub = hub
        self._emit = emit
        self._submit = submit
        self._adjust_spend = adjust_spend
        self._clock = clock
        self._wall = wall_clock
        self._watched: dict[str, _Watch] = {}
        self._sem = asyncio.Semaphore(config.jobs.max_concurrent_polls)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ticks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.counters: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------------ wiring
    @classmethod
    def for_manager(
        cls, manager: SessionManager, hub: HubClient | None = None, **kw: Any
    ) -> JobWatcher:
        """Build a watcher bound to a SessionManager and register it in ``services.jobs``.

        ``emit``/``submit`` are the manager's; YOLO spend reconciliation updates the session's
        budget ledger through the manager too.
        """
        hub = hub or manager.services.hub
        if hub is None:
            raise ValueError("JobWatcher needs a HubClient (services.hub is empty)")
        watcher = cls(
            manager.store,
            manager.config,
            hub,
            manager.emit,
            manager.submit,
            adjust_spend=manager_spend_adjuster(manager),
            **kw,
        )
        manager.services.jobs = watcher
        manager.services.hub = hub
        return watcher

    @property
    def _cfg(self) -> Any:
        return self.config.jobs

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Resume every job whose end was not reported yet; start the scheduler."""
        self._closing = False
        for rec in await self.records.open_jobs():
            if rec.job_id in self._watched:
                continue
            if rec.info.get("finished") and await self.records.finished_event_exists(
                rec.session_id, rec.job_id
            ):
                # We crashed after the report was persisted: finish the bookkeeping only.
                await self._after_report(rec, dict(rec.info["finished"]))
                continue
            w = self._new_watch(rec, restored=True)
            self._watched[rec.job_id] = w
        self._ensure_loop()
        self._wake.set()

    async def close(self, grace_s: float = 2.0) -> None:
        """Stop watching (jobs keep running on the Hub and are resumed on the next start)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        ticks = list(self._ticks)
        if ticks:
            _done, pending = await asyncio.wait(ticks, timeout=grace_s)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        self._watched.clear()

    def _ensure_loop(self) -> None:
        if self._closing:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="job-watcher")

    def _new_watch(self, rec: JobRecord, *, restored: bool = False) -> _Watch:
        now = self._clock()
        w = _Watch(
            record=rec,
            stage=(rec.stage or "SCHEDULING").upper(),
            next_inspect=now if restored else now + self._cfg.poll_initial_s,
            interval=self._cfg.poll_initial_s,
            restored=restored,
            last_new_log=now,
        )
        w.started_wall = _ts(rec.info.get("started_at"))
        w.metrics = dict(rec.info.get("metrics") or {})
        w.tail = list(rec.info.get("log_tail") or [])
        w.canceled_by = rec.info.get("cancel_requested_by")
        w.last_log_ts = rec.info.get("last_log_ts")
        if w.stage in RUNNING_STAGES:
            w.next_logs = now
        return w

    # ------------------------------------------------------------------ public API
    async def watch(self, record: JobRecord) -> None:
        """Follow a job the Hub just accepted: store it first, announce it, then poll it."""
        if not record.url:
            record.url = self.hub.job_url(record.namespace, record.job_id)
        record.info.setdefault("requester", record.requester)
        await self.records.insert(record)
        stored = await self.records.get(record.job_id) or record
        await self._emit(
            stored.session_id,
            EventType.JOB_STARTED,
            {
                "job_id": stored.job_id,
                "url": stored.url,
                "flavor": stored.flavor,
                "namespace": stored.namespace,
                "timeout_s": stored.timeout_s,
                "estimated_cost_usd": stored.estimated_cost_usd,
                "tool_call_id": stored.tool_call_id,
                "requester": stored.requester,
                "label": stored.info.get("label"),
                "stage": stored.stage,
            },
        )
        if stored.job_id not in self._watched and not stored.finished_emitted:
            self._watched[stored.job_id] = self._new_watch(stored)
        self._ensure_loop()
        self._wake.set()

    def status(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Snapshots of the jobs being watched (all, or one session's), newest last."""
        out = []
        for w in self._watched.values():
            if session_id is not None and w.record.session_id != session_id:
                continue
            out.append(self._snapshot(w))
        return sorted(out, key=lambda d: d["submitted_at"])

    async def job(self, job_id: str) -> dict[str, Any] | None:
        """What a gateway needs to authorize an action on a job (session, origin, requester)."""
        w = self._watched.get(job_id)
        if w is not None:
            snap = self._snapshot(w)
            snap["origin"] = w.record.origin
            snap["finished_emitted"] = False
            return snap
        rec = await self.records.get(job_id)
        if rec is None:
            return None
        return {
            **_identity(rec),
            "stage": rec.stage,
            "origin": rec.origin,
            "finished_emitted": rec.finished_emitted,
            "watching": False,
        }

    async def cancel(self, target: str, requested_by: str | None = None) -> list[dict[str, Any]]:
        """Cancel one job (``target`` = job id) or every unfinished job of a session.

        Returns one ``{job_id, ok, error?}`` per job. The ``job_finished`` event (stage
        CANCELED, ``canceled_by``) follows from the watcher's next poll, which is made at once.
        """
        records: list[JobRecord]
        if target in self._watched:
            records = [self._watched[target].record]
        else:
            rec = await self.records.get(target)
            if rec is not None:
                records = [rec]
            else:
                records = await self.records.for_session(target, include_reported=False)
        results: list[dict[str, Any]] = []
        for rec in records:
            w = self._watched.get(rec.job_id)
            if (w is not None and w.finished) or rec.finished_emitted or is_terminal(rec.stage):
                results.append({"job_id": rec.job_id, "ok": False, "error": "already finished"})
                continue
            # Record who asked *before* the request: a concurrent poll may see CANCELED (and
            # report it) before the cancel call even returns.
            previous = w.canceled_by if w is not None else None
            if w is not None:
                w.canceled_by = requested_by
            try:
                await self.hub.cancel_job(rec.namespace, rec.job_id)
            except HubError as exc:
                if w is not None and not w.finished:
                    w.canceled_by = previous
                results.append({"job_id": rec.job_id, "ok": False, "error": exc.message})
                continue
            rec.info["cancel_requested_by"] = requested_by
            await self.records.update(rec.job_id, info=rec.info)
            if w is not None:
                w.next_inspect = self._clock()
                w.interval = self._cfg.poll_initial_s
            results.append({"job_id": rec.job_id, "ok": True})
        self._wake.set()
        return results

    async def fetch_logs(
        self, job_id: str, max_lines: int = 2_000, deadline_s: float = 10.0
    ) -> str:
        """A bounded log dump for "Show logs" (uploaded as a file by the gateway)."""
        w = self._watched.get(job_id)
        rec = w.record if w is not None else await self.records.get(job_id)
        if rec is None:
            raise HubError(f"Unknown job {job_id}", kind="not_found")
        tail = await self.hub.job_log_tail(
            rec.namespace, rec.job_id, max_lines, deadline_s=deadline_s, idle_s=min(1.0, deadline_s)
        )
        return "\n".join(tail.lines)

    # ------------------------------------------------------------------ scheduler
    async def _loop(self) -> None:
        while not self._closing:
            try:
                now = self._clock()
                soonest: float | None = None
                for w in list(self._watched.values()):
                    if w.busy or w.finished:
                        continue
                    due = (
                        w.next_inspect if w.next_logs is None else min(w.next_inspect, w.next_logs)
                    )
                    if due <= now:
                        w.busy = True
                        task = asyncio.create_task(
                            self._tick(w), name=f"job-tick:{w.record.job_id}"
                        )
                        self._ticks.add(task)
                        task.add_done_callback(self._ticks.discard)
                    elif soonest is None or due < soonest:
                        soonest = due
                self._wake.clear()
                timeout = None if soonest is None else max(0.0, soonest - now)
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)
                except TimeoutError:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive anything a tick leaves behind
                log.exception("job watcher loop error")
                await asyncio.sleep(1.0)

    async def _tick(self, w: _Watch) -> None:
        try:
            async with self._sem:
                if self._closing or w.finished:
                    return
                if self._clock() >= w.next_inspect:
                    await self._inspect(w)
                if (
                    not w.finished
                    and w.stage in RUNNING_STAGES
                    and w.next_logs is not None
                    and self._clock() >= w.next_logs
                ):
                    await self._fetch_logs(w)
                if not w.finished:
                    await self._check_stall(w)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job watcher tick failed for %s", w.record.job_id)
            w.next_inspect = self._clock() + w.interval
        finally:
            w.busy = False
            if w.finished and w.emitted:
                self._watched.pop(w.record.job_id, None)
            self._wake.set()

    def _count(self, job_id: str, what: str) -> None:
        c = self.counters.setdefault(job_id, {"inspects": 0, "log_fetches": 0})
        c[what] = c.get(what, 0) + 1

    def _backoff(self, w: _Watch) -> None:
        cfg = self._cfg
        w.next_inspect = self._clock() + w.interval
        w.interval = next_interval(w.interval, cfg.poll_initial_s, cfg.poll_backoff, cfg.poll_max_s)

    async def _inspect(self, w: _Watch) -> None:
        rec = w.record
        w.inspects += 1
        self._count(rec.job_id, "inspects")
        try:
            info = await self.hub.inspect_job(rec.namespace, rec.job_id)
        except HubError as exc:
            if exc.kind == "not_found":
                w.not_found += 1
                if w.not_found >= NOT_FOUND_LIMIT:
                    await self._finish(
                        w, None, stage="DELETED", error="The Hub no longer knows this job (404)."
                    )
                    return
            else:
                w.errors += 1
                log.warning("inspect of job %s failed: %s", rec.job_id, exc.message)
            self._backoff(w)
            return
        w.not_found = 0
        stage = _stage_of(info)
        started = _ts(getattr(info, "started_at", None))
        if started is not None and w.started_wall is None:
            w.started_wall = started
            rec.info["started_at"] = started
        if is_terminal(stage):
            await self._finish(w, info, stage=stage)
            return
        if stage != w.stage:
            previous, w.stage = w.stage, stage
            rec.stage = stage
            await self.records.update(rec.job_id, stage=stage, info=rec.info)
            now = self._clock()
            if stage in RUNNING_STAGES and w.next_logs is None:
                w.next_logs = now  # first tail right away
                w.last_new_log = now
            await self._emit_progress(w, previous_stage=previous)
            w.interval = self._cfg.poll_initial_s
        self._backoff(w)

    async def _fetch_logs(self, w: _Watch) -> None:
        rec, cfg = w.record, self._cfg
        w.log_fetches += 1
        self._count(rec.job_id, "log_fetches")
        now = self._clock()
        w.next_logs = now + cfg.log_tail_every_s
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
        new = self._new_lines(w, tail.entries)
        if tail.lines:
            w.raw_tail = tail.lines
            w.tail = collapse_installs(tail.lines)
        if new:
            w.last_new_log = self._clock()
            w.stall_warned = False
            w.metrics.update(parse_metrics(new))
            w.links.update(dashboard_links(new))
        warning = None
        if new and not w.nan_warned and nan_detected(new):
            w.nan_warned = True
            warning = "nan"
        if new or warning:
            rec.info.update(
                {"metrics": w.metrics, "log_tail": w.tail, "last_log_ts": w.last_log_ts}
            )
            await self.records.update(rec.job_id, info=rec.info)
            await self._emit_progress(w, warning=warning)
        if tail.ended:
            # The server closed a running job's log stream: it has most likely just ended.
            w.next_inspect = min(w.next_inspect, self._clock())
            w.interval = cfg.poll_initial_s

    @staticmethod
    def _new_lines(w: _Watch, entries: list[tuple[str | None, str]]) -> list[str]:
        """Lines not seen in earlier tails, and advance the watermark.

        With server timestamps (the Hub sends ISO times): lines after the last seen timestamp,
        plus lines *at* it that were not seen yet (several lines can share a millisecond).
        Without them: the part of the new tail that does not overlap the previous one.
        """
        if not entries:
            return []
        lines = [line for _, line in entries]
        if all(ts for ts, _ in entries):
            last = w.last_log_ts
            new = [
                line
                for ts, line in entries
                if last is None or ts > last or (ts == last and line not in w.seen_at_last_ts)
            ]
            top = max(str(ts) for ts, _ in entries)
            if last is None or top > last:
                w.last_log_ts = top
                w.seen_at_last_ts = set()
            w.seen_at_last_ts |= {line for ts, line in entries if ts == w.last_log_ts}
            return new
        prev = w.raw_tail
        if not prev:
            return list(lines)
        # Longest suffix of the previous tail that is a prefix of the new one: the overlap.
        for k in range(min(len(prev), len(lines)), 0, -1):
            if prev[-k:] == lines[:k]:
                return list(lines[k:])
        return [] if lines == prev else list(lines)

    async def _check_stall(self, w: _Watch) -> None:
        if w.stage not in RUNNING_STAGES or w.stall_warned or w.next_logs is None:
            return
        quiet = self._clock() - w.last_new_log
        if quiet >= self._cfg.stall_warning_s:
            w.stall_warned = True
            await self._emit_progress(w, warning="stall", quiet_s=quiet)

    # ------------------------------------------------------------------ events
    def _elapsed(self, w: _Watch) -> float:
        if w.started_wall is None:
            return 0.0
        return max(0.0, self._wall() - w.started_wall)

    def _snapshot(self, w: _Watch) -> dict[str, Any]:
        rec = w.record
        elapsed = self._elapsed(w)
        price = pricing.price_per_hour(rec.flavor)
        return {
            **_identity(rec),
            "stage": w.stage,
            "elapsed_s": round(elapsed, 1),
            "cost_so_far_usd": round(price * elapsed / 3600, 4) if price is not None else None,
            "metrics": dict(w.metrics),
            "links": dict(w.links),
            "log_tail": list(w.tail),
            "timeout_s": rec.timeout_s,
            "estimated_cost_usd": rec.estimated_cost_usd,
            "watching": True,
        }

    async def _emit_progress(
        self,
        w: _Watch,
        *,
        previous_stage: str | None = None,
        warning: str | None = None,
        quiet_s: float | None = None,
    ) -> None:
        snap = self._snapshot(w)
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
                f"No new log output for {_fmt_duration(quiet_s)} while the job is running; "
                "it may be stuck (or just quiet)."
            )
        await self._emit(w.record.session_id, EventType.JOB_PROGRESS, data)

    # ------------------------------------------------------------------ the end of a job
    def _wall_time(self, w: _Watch, info: Any) -> float:
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
            return max(0.0, self._wall() - started)
        return 0.0

    async def _finish(self, w: _Watch, info: Any, *, stage: str, error: str | None = None) -> None:
        if w.finished:
            return
        w.finished = True  # set before any await: a concurrent path cannot finish it twice
        rec = w.record
        try:
            if info is not None:
                try:
                    tail = await self.hub.job_log_tail(
                        rec.namespace,
                        rec.job_id,
                        self._cfg.log_tail_lines,
                        deadline_s=FINAL_TAIL_DEADLINE_S,
                        idle_s=min(1.0, self._cfg.log_tail_idle_s * 2),
                    )
                    if tail.lines:
                        new = self._new_lines(w, tail.entries)
                        w.raw_tail = tail.lines
                        w.tail = collapse_installs(tail.lines)
                        if new:
                            w.metrics.update(parse_metrics(new))
                            w.links.update(dashboard_links(new))
                except HubError as exc:
                    log.info("final log tail of job %s failed: %s", rec.job_id, exc.message)
                status = getattr(info, "status", None)
                message = getattr(status, "message", None)
                if stage != "COMPLETED" and message:
                    error = str(message)
            wall = self._wall_time(w, info)
            price = pricing.price_per_hour(rec.flavor)
            cost = round(price * wall / 3600, 4) if price is not None else None
            w.stage = stage
            payload: dict[str, Any] = {
                "job_id": rec.job_id,
                "stage": stage,
                "wall_time_s": round(wall, 1),
                "cost_usd": cost,
                "url": rec.url,
                "log_tail": list(w.tail),
                "flavor": rec.flavor,
                "namespace": rec.namespace,
                "requester": rec.requester,
                "tool_call_id": rec.tool_call_id,
                "metrics": dict(w.metrics),
                "links": dict(w.links),
            }
            if error:
                payload["error"] = error[:1000]
            if w.canceled_by:
                payload["canceled_by"] = w.canceled_by
            if w.restored:
                payload["reported_after_restart"] = True
            # 1) settle the YOLO reservation the session booked at submit time (price × wall).
            reserved = rec.reserved_usd
            if (
                reserved is not None
                and cost is not None
                and self._adjust_spend is not None
                and not rec.info.get("budget_settled")
            ):
                try:
                    await self._adjust_spend(rec.session_id, cost - reserved)
                except Exception:
                    log.exception("could not reconcile the budget for job %s", rec.job_id)
                rec.info["budget_settled"] = True
            # 2) persist the outcome (still unreported).
            rec.stage = stage
            rec.info.update({"finished": payload, "metrics": w.metrics, "log_tail": w.tail})
            await self.records.update(
                rec.job_id, stage=stage, info=rec.info, finished_at=self._wall()
            )
            # 3) report: the event is persisted before it is delivered.
            if not await self.records.finished_event_exists(rec.session_id, rec.job_id):
                await self._emit(rec.session_id, EventType.JOB_FINISHED, payload)
            # 4) wake the agent if configured; 5) mark reported.
            await self._after_report(rec, payload)
            w.emitted = True
        except asyncio.CancelledError:
            w.finished = False
            raise
        except Exception:
            log.exception("reporting the end of job %s failed; will retry", rec.job_id)
            w.finished = False
            w.next_inspect = self._clock() + max(1.0, w.interval)

    async def _after_report(self, rec: JobRecord, payload: dict[str, Any]) -> None:
        if (
            self._cfg.on_job_finished == "resume"
            and self._submit is not None
            and not rec.info.get("note_queued")
        ):
            try:
                await self._submit(
                    rec.session_id, SystemNote(text=finished_note(payload), resume=True)
                )
                rec.info["note_queued"] = True
            except Exception:
                log.exception("could not queue the job-finished note for %s", rec.job_id)
        await self.records.mark_reported(rec.job_id, rec.info)


def finished_note(payload: dict[str, Any]) -> str:
    """The system note that resumes the agent after a job ends (short, no secrets)."""
    stage = payload.get("stage", "UNKNOWN")
    parts = [
        f"[SYSTEM: HF job {payload.get('job_id')} on {payload.get('flavor')} finished with "
        f"stage {stage} after {_fmt_duration(payload.get('wall_time_s'))} "
        f"(cost ≈ {pricing.format_usd(payload.get('cost_usd'))}). URL: {payload.get('url')}."
    ]
    if payload.get("error"):
        parts.append(f"Error: {str(payload['error'])[:300]}")
    if payload.get("canceled_by"):
        parts.append(f"It was cancelled by {payload['canceled_by']}.")
    metrics = payload.get("metrics") or {}
    if metrics:
        parts.append("Last metrics: " + ", ".join(f"{k}={v}" for k, v in list(metrics.items())[:8]))
    tail = [ln for ln in (payload.get("log_tail") or []) if ln][-NOTE_TAIL_LINES:]
    if tail:
        parts.append("Last log lines:\n" + "\n".join(tail))
    parts.append(
        "Follow up as planned (check the outputs, evaluate, push or report the result to the "
        "user); if it failed, explain why and propose a fix instead of resubmitting blindly.]"
    )
    text = "\n".join(parts)
    return text if len(text) <= NOTE_MAX_CHARS else text[: NOTE_MAX_CHARS - 2] + "…]"


def _identity(rec: JobRecord) -> dict[str, Any]:
    """The fields that identify a job and who it belongs to, for snapshots and lookups."""
    return {
        "job_id": rec.job_id,
        "session_id": rec.session_id,
        "namespace": rec.namespace,
        "flavor": rec.flavor,
        "url": rec.url,
        "requester": rec.requester,
        "tool_call_id": rec.tool_call_id,
        "submitted_at": rec.submitted_at,
    }


def manager_spend_adjuster(manager: SessionManager) -> SpendFn:
    """Reconcile a session's YOLO spend ledger by ``delta`` USD (actual − reserved estimate).

    The session settled the reservation with the *estimate* when ``hf_jobs run`` returned
    (see ``Session._handle_tool_calls``); the job's actual cost is only known now.
    """
    from .. import policy

    async def adjust(session_id: str, delta_usd: float) -> None:
        session = await manager.get_session(session_id)
        st = policy.yolo_state(session.state, manager.config)
        st["spent_usd"] = max(0.0, round(float(st.get("spent_usd", 0.0)) + float(delta_usd), 6))
        await manager.store.update_session(session_id, state=session.state)

    return adjust
