"""The JobWatcher: follows every submitted HF job until it ends, across restarts.

Why it exists: upstream's ``hf_jobs run`` held the tool call — and the whole session — until
the job ended, printing one event per log line. Here ``run`` returns as soon as the Hub
accepts the job and hands it to this watcher; the turn ends, and the watcher reports back.

Design

* **One background task per process**, not one per job: a scheduler loop keeps each job's next
  due time and starts a short "tick" (status poll and/or log tail) when it is due. Ticks run
  under an ``asyncio.Semaphore(max_concurrent_polls)``, so 500 jobs never mean 500 concurrent
  requests. Polling backs off (see :mod:`agent_core.jobs.schedule`). What a tick does for one
  job (status, log tail, warnings, the end) is :class:`~.polling.JobPoller`'s.
* **Bounded log tails**: :meth:`HubClient.job_log_tail` streams the SSE logs endpoint with
  httpx and stops after an idle gap / deadline / line count. ``fetch_job_logs`` is never used
  for a running job: without ``follow`` it waits out a 5 s read timeout in a thread.
* **Events** on the job's session via the injected ``emit`` (``SessionManager.emit``):
  ``job_started`` (on :meth:`watch`), ``job_progress`` (stage changes; new log lines with
  parsed metrics, at most once per log-tail period; ``warning: "nan" | "stall"``), and
  ``job_finished`` exactly once per job.
* **Exactly once, across crashes**: the end of a job is one :class:`~.report.JobFinished`,
  built here and reported by :class:`~.reporting.FinishReporter` (see there for the order of
  steps that makes it exactly-once).
* **Log reading** (what is new in each overlapping tail, metrics, links) is
  :class:`~.log_reader.LogReader`'s.
* **Restarts.** :meth:`start` resumes every job with ``finished_emitted=0``; its first poll is
  immediate, so a job that finished while the bot was down is reported right away (its
  ``job_finished`` carries ``reported_after_restart: true``).
* **Replicas.** With several bot processes on one Postgres store each job is watched by one
  of them, the holder of its lease (:mod:`.ownership`); a patrol renews the leases and adopts
  jobs whose holder died, and the end of a job is reported by exactly one replica.
* **Cancel** is explicit (:meth:`cancel`), never a side effect of interrupting a turn; whether a
  person may cancel is the gateway's decision (:meth:`job` gives it the requester and origin).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..events import EventType
from ..hub import HubError
from .babysitter import Babysit, Babysitter, job_hyperparameters
from .ownership import JobOwnership
from .polling import JobPoller, Watch
from .preference_book import PreferenceBook
from .records import JobRecord, JobStore
from .reporting import EmitFn, FinishReporter, SpendFn, SubmitFn, manager_spend_adjuster
from .stages import is_terminal

if TYPE_CHECKING:
    from ..config import Config
    from ..hub import HubClient
    from ..manager import SessionManager
    from ..store import Store

log = logging.getLogger(__name__)


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
        preferences: PreferenceBook | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        ownership: JobOwnership | None = None,
    ) -> None:
        self.records = JobStore(store)
        self.config = config
        self.hub = hub
        self._emit = emit
        self.ownership = ownership
        self._reporter = FinishReporter(
            self.records,
            emit,
            submit,
            adjust_spend,
            resume_agent=config.jobs.on_job_finished == "resume",
            may_report=ownership.claim_report if ownership is not None else None,
        )
        self.preferences = preferences or PreferenceBook(store, config.jobs.preferences_file)
        self._poller = JobPoller(
            hub,
            self.records,
            emit,
            self._reporter,
            config.jobs,
            clock=clock,
            wall_clock=wall_clock,
            babysitter=Babysitter(
                hub,
                emit,
                submit,
                self.preferences,
                wall_clock=wall_clock,
                hardware_deadline_s=min(2.0, config.jobs.log_tail_deadline_s),
            ),
        )
        self._clock = clock
        self._watched: dict[str, Watch] = {}
        self._sem = asyncio.Semaphore(config.jobs.max_concurrent_polls)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._patrol_task: asyncio.Task[None] | None = None
        # One job, one Watch: adopting (start, patrol) and watch() check-then-add under this.
        self._adopting = asyncio.Lock()
        self._ticks: set[asyncio.Task[None]] = set()
        self._closing = False

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
        kw.setdefault("ownership", JobOwnership.for_config(manager.store, manager.config))
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
        """Resume every job whose end was not reported yet (with replicas: every such job no
        other live replica watches); start the scheduler."""
        self._closing = False
        await self._adopt_open_jobs()
        self._ensure_loop()
        if self.ownership is not None and self._patrol_task is None:
            self._patrol_task = asyncio.create_task(self._patrol_loop(), name="job-patrol")
        self._wake.set()

    async def _adopt_open_jobs(self) -> int:
        adopted = 0
        async with self._adopting:
            for rec in await self.records.open_jobs():
                if rec.job_id in self._watched:
                    continue
                if self.ownership is not None and not await self.ownership.acquire(rec.job_id):
                    continue  # another live replica watches it
                if await self._reporter.resume(rec):
                    await self._release(rec.job_id)
                    continue  # we crashed after the report was persisted: bookkeeping done now
                self._watched[rec.job_id] = self._poller.new_watch(rec, restored=True)
                adopted += 1
        return adopted

    async def patrol(self) -> None:
        """One round of replica housekeeping: renew this replica's job leases (dropping the
        jobs it lost), then adopt open jobs nobody watches (their replica died)."""
        if self.ownership is None:
            return
        for job_id in await self.ownership.renew_all():
            log.warning("lost the lease on job %s; another replica watches it now", job_id)
            self._watched.pop(job_id, None)
        if await self._adopt_open_jobs():
            self._wake.set()

    async def _patrol_loop(self) -> None:
        assert self.ownership is not None
        while not self._closing:
            try:
                await asyncio.sleep(self.ownership.renew_every_s)  # the renewal period
                await self.patrol()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store hiccup: try again next period
                log.exception("job lease patrol failed")

    async def _release(self, job_id: str) -> None:
        if self.ownership is not None:
            await self.ownership.release(job_id)

    async def close(self, grace_s: float = 2.0, *, release_leases: bool = True) -> None:
        """Stop watching (jobs keep running on the Hub and are resumed on the next start).

        With replicas the job leases are released so another replica adopts the jobs at
        once; ``release_leases=False`` leaves them to expire, as a crash would."""
        self._closing = True
        self._wake.set()
        if self._patrol_task is not None:
            self._patrol_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._patrol_task
            self._patrol_task = None
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
        if self.ownership is not None and release_leases:  # others may adopt them at once
            await self.ownership.release_all()

    def _ensure_loop(self) -> None:
        if self._closing:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="job-watcher")

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
                "links": dict(stored.info.get("links") or {}),  # e.g. a seeded Trackio Space
            },
        )
        async with self._adopting:
            if (
                stored.job_id not in self._watched
                and not stored.finished_emitted
                and (self.ownership is None or await self.ownership.acquire(stored.job_id))
            ):
                self._watched[stored.job_id] = self._poller.new_watch(stored)
        self._ensure_loop()
        self._wake.set()

    def status(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Snapshots of the jobs being watched (all, or one session's), newest last."""
        out = []
        for w in self._watched.values():
            if session_id is not None and w.record.session_id != session_id:
                continue
            out.append(self._poller.snapshot(w))
        return sorted(out, key=lambda d: d["submitted_at"])

    async def all_status(self, session_id: str) -> list[dict[str, Any]]:
        """:meth:`status` of one session plus, with replicas, its open jobs another replica
        watches (from their stored row: stage, latest metrics and tail; ``watching`` False)."""
        out = self.status(session_id)
        if self.ownership is None:
            return out
        here = {snap["job_id"] for snap in out}
        for rec in await self.records.for_session(session_id, include_reported=False):
            if rec.job_id not in here:
                out.append(self._poller.stored_snapshot(rec))
        return sorted(out, key=lambda d: d["submitted_at"])

    async def job(self, job_id: str) -> dict[str, Any] | None:
        """What a gateway needs to authorize an action on a job (session, origin, requester)."""
        w = self._watched.get(job_id)
        if w is not None:
            snap = self._poller.snapshot(w)
            snap["origin"] = w.record.origin
            snap["finished_emitted"] = False
            return snap
        rec = await self.records.get(job_id)
        if rec is None:
            return None
        return {
            **rec.identity(),
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

    async def series(self, job_id: str) -> Babysit | None:
        """A job's curves (live while watched, from its row once it ended); None if unknown."""
        w = self._watched.get(job_id)
        if w is not None:
            return w.babysit
        rec = await self.records.get(job_id)
        return Babysit.restore(rec.info) if rec is not None else None

    async def runs(self, session_id: str) -> list[dict[str, Any]]:
        """Every job of a session with its curves and hyper-parameters (for ``compare``)."""
        out = []
        for rec in await self.records.for_session(session_id):
            w = self._watched.get(rec.job_id)
            babysit = w.babysit if w is not None else Babysit.restore(rec.info)
            out.append(
                {
                    "job_id": rec.job_id,
                    "stage": w.stage if w is not None else rec.stage,
                    "series": babysit.series,
                    "hyperparameters": job_hyperparameters(rec),
                    "flavor": rec.flavor,
                }
            )
        return out

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

    async def _tick(self, w: Watch) -> None:
        try:
            async with self._sem:
                if self._closing or w.finished:
                    return
                await self._poller.poll(w)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job watcher tick failed for %s", w.record.job_id)
            w.next_inspect = self._clock() + w.interval
        finally:
            w.busy = False
            if w.finished and w.emitted:
                self._watched.pop(w.record.job_id, None)
                await self._release(w.record.job_id)
            self._wake.set()
