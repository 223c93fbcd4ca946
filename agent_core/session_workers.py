"""The per-session workers: who runs a session's queued operations, one at a time, and where.

A worker exists only while its session has work. Before taking an operation it claims the
session (:mod:`agent_core.replicas`): free on SQLite; on Postgres a lease held for the worker's
whole life (renewed in the background, released when the queue is empty), so a session is
driven by one replica at a time and a turn costs no extra store round trip per operation.

- An operation queued on a replica that does not hold the session stays queued; the holder is
  woken (``OPS_CHANNEL``) and its running worker picks it up after the current one. After
  releasing, a worker looks at the queue once more, so an operation queued by another replica
  between its last look and the release is never stranded; the patrol is the backstop.
- A claim that is *fresh* (another replica held the session since this one last did) means the
  cached session is stale and an operation left ``running`` was cut off by a dead replica: it
  is reported as interrupted (never re-run) before the queue resumes in order.
- A claim lost mid-way (the replica stalled past its lease, or the store vanished) stops the
  worker without writing anything more: the fence raises :class:`~agent_core.replicas.LeaseLost`
  before the next step, or the renewal cancels the worker; the successor reports the cut-off.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .events import EventType, operation_from_dict
from .replicas import OPS_CHANNEL, Claim, LeaseLost, Ownership, report_cut_off
from .store import Store

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)

Load = Callable[[str], Awaitable["Session"]]
Emit = Callable[[str, str, dict[str, Any]], Awaitable[Any]]


class SessionWorkers:
    """One task per session with work; ``running`` maps sessions to their running turn."""

    def __init__(
        self,
        store: Store,
        ownership: Ownership,
        *,
        load: Load,
        emit: Emit,
        forget: Callable[[str], None],
    ) -> None:
        self.store = store
        self.ownership = ownership
        self._load = load
        self._emit = emit
        self._forget = forget  # drop a cached session (another replica changed it)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.running: dict[str, Session] = {}
        self.closing = False

    def kick(self, session_id: str, *, wake_holder: bool = False) -> None:
        """Make sure a worker runs the session's queue here — unless another replica holds
        the session; then, with ``wake_holder``, that replica is woken (a kick that came from a
        wake-up or the patrol wakes nobody, or replicas would wake each other forever)."""
        if self.closing:
            return
        task = self.tasks.get(session_id)
        if task is None or task.done():
            self.tasks[session_id] = asyncio.create_task(
                self._worker(session_id, wake_holder), name=f"session-worker:{session_id}"
            )

    async def rescue(self) -> None:
        """Run the sessions with work that nobody holds (a lost wake-up, a dead replica)."""
        for session_id in await self.ownership.unowned_with_work():
            self.kick(session_id)

    def on_remote_stop(self, payload: str) -> None:
        """A Stop handled by another replica, for a turn that may be running here."""
        try:
            wanted = json.loads(payload)
            session = self.running.get(str(wanted["session"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed stop wake-up: %.200r", payload)
            return
        if session is not None:
            session.interrupt(wanted.get("by"))

    # ------------------------------------------------------------------ one worker
    async def _worker(self, session_id: str, wake_holder: bool) -> None:
        claim = await self._claim(session_id, wake_holder)
        if claim is None:
            return
        try:
            await self._drain(session_id, claim)
        except LeaseLost:
            log.warning("session %s moved to another replica; stopped here", session_id)
        except asyncio.CancelledError:
            if not claim.lost:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the renewal cancelled us on purpose; end normally
            log.warning("session %s moved to another replica mid-turn; stopped here", session_id)
        finally:
            if claim.lost:
                self._forget(session_id)  # the successor's writes follow
            await claim.release()
            if self.tasks.get(session_id) is asyncio.current_task():
                self.tasks.pop(session_id, None)
            # An op may have been queued after our last check but before we unregistered.
            if not self.closing:
                if await self._has_queued(session_id):
                    self.kick(session_id)
            elif self.ownership.shared and not claim.lost and await self._has_queued(session_id):
                await self._hand_over(session_id)  # shutting down: another replica runs it

    async def _claim(self, session_id: str, wake_holder: bool) -> Claim | None:
        """Hold the session for this worker, recovering it if another replica had it; None
        when another replica holds it (its worker runs what is queued)."""
        task = asyncio.current_task()
        claim: Claim | None = None
        try:
            claim = await self.ownership.claim(
                session_id, on_lost=task.cancel if task is not None else None
            )
            if claim is None and wake_holder:
                await self.ownership.notify(OPS_CHANNEL, session_id)
            elif claim is not None and claim.fresh:
                self._forget(session_id)
                cut_off = await self.store.mark_running_ops("interrupted", session_id)
                await report_cut_off(self._emit, cut_off)
        except Exception:  # the store is unreachable: the patrol tries again
            log.exception("could not claim session %s", session_id)
            if claim is not None:
                await claim.release()
            claim = None
        except BaseException:  # cancelled (shutdown): do not leave a renewal running
            if claim is not None:
                await claim.release()
            raise
        if claim is None and self.tasks.get(session_id) is task:
            self.tasks.pop(session_id, None)
        return claim

    async def _drain(self, session_id: str, claim: Claim) -> None:
        """Run the queued operations in order while this worker holds the session."""
        fence = claim.fence if claim.fenced else None
        while not self.closing:
            nxt = await self.store.next_op(session_id)
            if nxt is None:
                return
            op_id, data = nxt
            if fence is not None:
                await fence()
            await self.store.set_op_status(op_id, "running")
            try:
                op = operation_from_dict(data)
            except Exception as exc:
                await self.store.set_op_status(op_id, "failed")
                await self._emit(session_id, EventType.ERROR, {"error": f"Bad operation: {exc}"})
                continue
            session = await self._load(session_id)
            session.interruption.fence = fence
            self.running[session_id] = session
            try:
                await session.handle(op)
                if fence is not None:
                    await fence()
                await self.store.set_op_status(op_id, "done")
            except (asyncio.CancelledError, LeaseLost):
                raise
            except Exception as exc:
                log.exception("operation %s failed in session %s", op.kind, session_id)
                await self.store.set_op_status(op_id, "failed")
                await self._emit(
                    session_id,
                    EventType.ERROR,
                    {
                        "error": f"Internal error while handling {op.kind}: {type(exc).__name__}: {exc}"
                    },
                )
            finally:
                self.running.pop(session_id, None)
                session.interruption.fence = None  # the claim ends with this worker

    async def _hand_over(self, session_id: str) -> None:
        try:
            await self.ownership.notify(OPS_CHANNEL, session_id)
        except Exception:  # the patrol of the others finds it
            log.warning("could not hand session %s over", session_id, exc_info=True)

    async def _has_queued(self, session_id: str) -> bool:
        """Checked on the way out of a worker, where a store error must not mask its own."""
        try:
            return await self.store.count_queued_ops(session_id) > 0
        except Exception:
            return False

    # ------------------------------------------------------------------ shutdown
    async def finish(self, grace_s: float, interrupt_reason: str) -> None:
        """Take no new work; let running operations finish for ``grace_s``, then interrupt."""
        self.closing = True
        workers = list(self.tasks.values())
        if not workers:
            return
        _done, pending = await asyncio.wait(workers, timeout=grace_s)
        if pending:
            for session in list(self.running.values()):
                session.interrupt(interrupt_reason)
            await asyncio.wait(pending, timeout=5)
            for task in pending:
                task.cancel()
