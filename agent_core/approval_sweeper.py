"""Approval batches that move without a click: expiry, and decisions cut off by a crash.

Both end the same way as a person's decision: an ``ExecApproval`` queued in the session, so
the session's own worker answers every call and nothing runs twice. An expired batch is
closed without continuing the turn (nobody is watching); a batch fully decided just before a
crash, whose execution was never queued, is queued on startup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .approvals import DECIDED_BY_STOP, DECIDED_BY_SYSTEM, PENDING, ApprovalBook
from .events import ExecApproval, Operation
from .store import Store

log = logging.getLogger(__name__)

Submit = Callable[[str, Operation], Awaitable[int]]
Skip = Callable[[str], Awaitable[bool]]
MAX_SLEEP_S = 60.0
MIN_SLEEP_S = 0.05
RETRY_AFTER_FAILURE_S = 5.0


class ApprovalSweeper:
    """Queues the execution of batches that nobody will click on any more."""

    def __init__(self, approvals: ApprovalBook, store: Store, submit: Submit) -> None:
        self.approvals = approvals
        self.store = store
        self.submit = submit
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()

    async def recover(self, skip: Skip | None = None, settled_for_s: float = 0.0) -> None:
        """A batch claimed just before a crash may have no execution queued: queue it now.

        With replicas (run at start and on every patrol round), ``skip(session)`` true leaves
        a session a live replica holds alone, and a batch decided less than ``settled_for_s``
        ago is left to the replica whose click handler is queueing it right now; one decided
        on a replica that died before queueing it is picked up a round later. A duplicate
        would be harmless anyway: an execution finds its calls answered and does nothing."""
        now = time.time()
        for session_id, batch_id in await self.store.sessions_with_pending_batch():
            if skip is not None and await skip(session_id):
                continue
            calls = await self.approvals.batch(session_id, batch_id)
            if not calls or any(c.status == PENDING for c in calls):
                continue
            if any((c.decided_at or 0.0) > now - settled_for_s for c in calls):
                continue
            if await self.store.has_queued_op(
                session_id, ExecApproval.model_fields["kind"].default
            ):
                continue
            withdrawn = any(c.decided_by == DECIDED_BY_STOP for c in calls)
            expired = any(c.decided_by == DECIDED_BY_SYSTEM for c in calls)
            await self.submit(
                session_id,
                ExecApproval(
                    approvals=[],
                    decided_by=DECIDED_BY_STOP if withdrawn else None,
                    batch_id=batch_id,
                    resume=not (withdrawn or expired),
                ),
            )

    def start(self) -> None:
        """Start expiring overdue batches in the background."""
        self._task = asyncio.create_task(self._expiry_loop(), name="approval-expiry")

    def wake(self) -> None:
        """Re-check expiries now (tests, or after a batch with a short TTL was created)."""
        self._wakeup.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _expiry_loop(self) -> None:
        while True:
            try:
                await self._expire_due()
                nxt = await self.approvals.next_expiry()
                wait = (
                    MAX_SLEEP_S
                    if nxt is None
                    else max(MIN_SLEEP_S, min(MAX_SLEEP_S, nxt - time.time()))
                )
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
                except TimeoutError:
                    pass
            except asyncio.CancelledError:
                return
            except Exception:
                log.exception("approval expiry sweep failed")
                await asyncio.sleep(RETRY_AFTER_FAILURE_S)

    async def _expire_due(self) -> None:
        for session_id, batch_id in await self.approvals.expire_due():
            await self.submit(
                session_id,
                ExecApproval(
                    approvals=[], decided_by=DECIDED_BY_SYSTEM, batch_id=batch_id, resume=False
                ),
            )
