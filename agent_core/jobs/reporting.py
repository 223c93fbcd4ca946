"""Telling the session that a job ended — exactly once, across crashes.

The order at the end of a job is: settle the YOLO budget → persist the finished report in the
``jobs`` row (``finished_emitted`` still 0) → emit ``job_finished`` (which persists the event
before delivering it) → queue the resume note (``on_job_finished: resume``) → set
``finished_emitted=1``. After a crash anywhere before the last step the job is still "open";
on restart :meth:`FinishReporter.resume` finds the persisted ``job_finished`` event and only
completes the bookkeeping instead of emitting again. Consumers of the event log replay
persisted events after a restart, so a persisted event is a delivered report. (Residual
windows: a crash between queueing the resume note and the mark may queue the note twice; a
crash between settling the budget and emitting may settle it twice — both err on the side of
"tell the agent" / "count the spend".)

With several replicas, ``may_report`` (:meth:`~.ownership.JobOwnership.claim_report`) is asked
first: only the replica holding the job's lease and the newest report claim goes on, so two
replicas seeing the job end around a takeover report it once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..events import EventType, SettleSpend, SystemNote
from .records import JobRecord, JobStore
from .report import JobFinished, finished_note

if TYPE_CHECKING:
    from ..manager import SessionManager

log = logging.getLogger(__name__)

EmitFn = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
SubmitFn = Callable[[str, Any], Awaitable[Any]]
SpendFn = Callable[[str, float], Awaitable[None]]
ClaimFn = Callable[[str], Awaitable[bool]]


class FinishReporter:
    """Runs the end-of-job sequence above for one report at a time."""

    def __init__(
        self,
        records: JobStore,
        emit: EmitFn,
        submit: SubmitFn | None,
        adjust_spend: SpendFn | None,
        *,
        resume_agent: bool,
        may_report: ClaimFn | None = None,
    ) -> None:
        self.records = records
        self._may_report = may_report
        self._emit = emit
        self._submit = submit
        self._adjust_spend = adjust_spend
        self._resume_agent = resume_agent

    async def report(self, rec: JobRecord, report: JobFinished, finished_at: float) -> bool:
        """Settle, persist, emit, wake the agent, mark — see the module docs for why in this
        order. Raises if persisting or emitting fails (the caller retries later).

        Returns False without doing anything when another replica owns the report."""
        if self._may_report is not None and not await self._may_report(rec.job_id):
            log.info("job %s: its end is reported by the replica that owns it now", rec.job_id)
            return False
        payload = report.to_data()
        reserved = rec.reserved_usd
        if (
            reserved is not None
            and report.cost_usd is not None
            and self._adjust_spend is not None
            and not rec.info.get("budget_settled")
        ):
            try:
                await self._adjust_spend(rec.session_id, report.cost_usd - reserved)
            except Exception:
                log.exception("could not reconcile the budget for job %s", rec.job_id)
            rec.info["budget_settled"] = True
        rec.stage = report.stage
        rec.info.update(
            {"finished": payload, "metrics": payload["metrics"], "log_tail": payload["log_tail"]}
        )
        await self.records.update(
            rec.job_id, stage=report.stage, info=rec.info, finished_at=finished_at
        )
        if not await self.records.finished_event_exists(rec.session_id, rec.job_id):
            await self._emit(rec.session_id, EventType.JOB_FINISHED, payload)
        await self._after_report(rec, report)
        return True

    async def resume(self, rec: JobRecord) -> bool:
        """After a restart: True if this open job's report was already emitted (then only the
        bookkeeping is completed here and the job needs no more watching)."""
        finished = rec.info.get("finished")
        if not finished or not await self.records.finished_event_exists(rec.session_id, rec.job_id):
            return False
        await self._after_report(rec, JobFinished.from_data(finished))
        return True

    async def _after_report(self, rec: JobRecord, report: JobFinished) -> None:
        if self._resume_agent and self._submit is not None and not rec.info.get("note_queued"):
            try:
                await self._submit(
                    rec.session_id, SystemNote(text=finished_note(report), resume=True)
                )
                rec.info["note_queued"] = True
            except Exception:
                log.exception("could not queue the job-finished note for %s", rec.job_id)
        await self.records.mark_reported(rec.job_id, rec.info)


def manager_spend_adjuster(manager: SessionManager) -> SpendFn:
    """Reconcile a session's YOLO spend ledger by ``delta`` USD (actual − reserved estimate).

    The session settled the reservation with the *estimate* when ``hf_jobs run`` returned;
    the job's actual cost is only known now. The change is queued to the session
    (:class:`~agent_core.events.SettleSpend`), so the process driving it writes its state.
    """

    async def adjust(session_id: str, delta_usd: float) -> None:
        await manager.submit(session_id, SettleSpend(delta_usd=delta_usd))

    return adjust
