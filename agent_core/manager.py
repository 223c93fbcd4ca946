"""Hosts every session: their queues, their workers, their events, their recovery.

Operations are written to the store before anything else happens, then a per-session worker
drains them in order. A worker exists only while its session has work, and loaded sessions
are kept in a small LRU, so ten thousand idle threads cost rows on disk, not tasks in memory.
After a crash, an operation left half-run is reported as interrupted (never silently re-run:
it may have spent money) and queued operations are resumed; approval batches nobody will
click on any more (expired, or decided just before the crash) are the sweeper's
(:mod:`agent_core.approval_sweeper`).

With several replicas on one Postgres store, the workers (:mod:`agent_core.session_workers`)
claim a session before running it (:mod:`agent_core.replicas`); this module routes what must
reach the replica driving a session (a Stop) and, at start, touches only sessions nobody holds.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from . import policy
from .approval_sweeper import ApprovalSweeper
from .approvals import DECIDED_BY_STOP, ApprovalBook, ClaimResult
from .config import Config
from .context import ContextManager
from .events import (
    STOPPED_BY_SHUTDOWN,
    TRANSIENT_EVENTS,
    Event,
    EventType,
    ExecApproval,
    Operation,
    ToolApproval,
)
from .llm import LLMClient
from .llm.pricing import USER_USAGE_NAMESPACE
from .prompts import system_prompt_renderer
from .prompts.session_context import IdentitySource
from .redact import scrub
from .replicas import OPS_CHANNEL, STOP_CHANNEL, Ownership, ownership_for, report_cut_off
from .session import Session
from .session_workers import SessionWorkers
from .store import Store
from .store.retention import Pruner
from .tools.base import Services
from .tools.catalog import build_router
from .tools.router import ToolRouter

log = logging.getLogger(__name__)

Listener = Callable[[Event], Awaitable[None]]
QueuedMatch = Callable[[dict[str, Any]], bool]  # a queued operation's stored (dumped) form


class SessionNotFound(KeyError):
    """Operations for a session that was never created (and no origin to create it)."""


class ManagerClosed(RuntimeError):
    """The manager is shutting down and takes no new work."""


class SessionManager:
    """The engine's public face. Gateways submit operations and listen to events."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        services: Services | None = None,
        llm: LLMClient | None = None,
        router: ToolRouter | None = None,
        ownership: Ownership | None = None,
        max_loaded: int = 128,
    ) -> None:
        self.store = store
        self.config = config
        self.llm = llm or LLMClient(config)
        self.services = services or Services()
        self.services.store = store
        self.services.config = config
        self.services.extras.setdefault("llm", self.llm)
        self.services.extras.setdefault("manager", self)
        self.router = router or build_router(self.services)
        self.context = ContextManager(config, self.llm)
        self.approvals = ApprovalBook(store)
        self.identity = IdentitySource(lambda: self.services.hub)
        self._system_prompt = system_prompt_renderer(
            config.system_prompt_file,
            timezone=config.timezone,
            identity=self.identity,
            on_job_finished=config.jobs.on_job_finished,
        )
        self._listeners: list[Listener] = []
        self._loaded: OrderedDict[str, Session] = OrderedDict()
        self.ownership = ownership or ownership_for(store, config.replicas)
        self.workers = SessionWorkers(
            store,
            self.ownership,
            load=self.get_session,
            emit=self.emit,
            forget=lambda session_id: self._loaded.pop(session_id, None),
        )
        self._workers = self.workers.tasks
        self._running = self.workers.running
        self.sweeper = ApprovalSweeper(self.approvals, store, self.submit)
        self.pruner = Pruner(store, config.retention)
        self.max_loaded = max_loaded

    # ------------------------------------------------------------------ listeners / events
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def emit(self, session_id: str, type_: str, data: dict[str, Any]) -> Event:
        """Scrub, persist, then deliver an event. Usable by tools, the job watcher, gateways.

        :data:`~agent_core.events.TRANSIENT_EVENTS` (streamed deltas) are only delivered."""
        (event,) = await self.emit_many(session_id, [(type_, data)])
        return event

    async def emit_many(
        self,
        session_id: str,
        events: Sequence[tuple[str, dict[str, Any]]],
        statements: Sequence[tuple[str, Sequence[Any]]] = (),
    ) -> list[Event]:
        """Like :meth:`emit` for several events of one session, persisted together with
        ``statements`` (the step's history and state) in one transaction, then delivered in
        order: one commit per engine step instead of one per event."""
        scrubbed = [(str(type_), scrub(data)) for type_, data in events]
        durable = [(t, d) for t, d in scrubbed if t not in TRANSIENT_EVENTS]
        stored = iter(
            await self.store.append_events(session_id, durable, with_statements=statements)
            if durable or statements
            else ()
        )
        out = [
            Event(session_id, 0, t, d) if t in TRANSIENT_EVENTS else next(stored)
            for t, d in scrubbed
        ]
        for event in out:
            if event.type == EventType.APPROVAL_REQUIRED:
                self.sweeper.wake()  # its deadline may be sooner than the sweep's next tick
            for listener in list(self._listeners):
                try:
                    await listener(event)
                except Exception:
                    log.exception("event listener failed for %s #%d", event.type, event.seq)
        return out

    async def events_after(self, session_id: str, after_seq: int = 0) -> list[Event]:
        return await self.store.events_after(session_id, after_seq)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Recover after a restart: report cut-off operations, resume queued ones.

        With replicas, only sessions nobody holds are touched (a worker's claim recovers each
        one as it takes it over), and wake-ups and the patrol start here."""
        if self.ownership.shared:
            await self.ownership.listen(OPS_CHANNEL, self._kick)
            await self.ownership.listen(STOP_CHANNEL, self.workers.on_remote_stop)
            await self._recover_batches()
            await self.workers.rescue()
            self.ownership.patrol(self.workers.rescue)
            self.ownership.patrol(self._recover_batches)
        else:
            await report_cut_off(self.emit, await self.store.mark_running_ops("interrupted"))
            await self.sweeper.recover()
            for session_id in await self.store.sessions_with_queued_ops():
                self._kick(session_id)
        self.sweeper.start()
        self.pruner.start()

    async def _recover_batches(self) -> None:
        """Approval batches decided on a replica that died before queueing their execution."""
        await self.sweeper.recover(
            skip=self.ownership.held_elsewhere, settled_for_s=self.config.replicas.lease_ttl_s
        )

    @property
    def _closing(self) -> bool:
        return self.workers.closing

    @_closing.setter
    def _closing(self, value: bool) -> None:
        self.workers.closing = value

    async def close(self, grace_s: float = 10.0) -> None:
        """Take no new work; let running operations finish for ``grace_s``, then interrupt."""
        self._closing = True
        await self.sweeper.close()
        await self.pruner.close()
        await self.identity.aclose()
        await self.workers.finish(grace_s, STOPPED_BY_SHUTDOWN)
        await self.ownership.close()
        await self.llm.aclose()

    # ------------------------------------------------------------------ sessions
    async def ensure_session(
        self, session_id: str, origin: dict[str, Any] | None = None, model: str | None = None
    ) -> bool:
        """Create the session if it does not exist. Returns True when it was created."""
        if session_id in self._loaded or await self.store.get_session(session_id):
            return False
        if origin is None:
            raise SessionNotFound(session_id)
        await self.store.create_session(
            session_id, scrub(origin), model or self.config.model_name, {"turn_count": 0}
        )
        return True

    async def exists(self, session_id: str) -> bool:
        return session_id in self._loaded or (await self.store.get_session(session_id)) is not None

    async def get_session(self, session_id: str) -> Session:
        """Load (or return the cached) session object."""
        session = self._running.get(session_id) or self._loaded.get(session_id)
        if session is not None:
            if session_id in self._loaded:
                self._loaded.move_to_end(session_id)
            return session
        row = await self.store.get_session(session_id)
        if row is None:
            raise SessionNotFound(session_id)
        history = await self.store.load_messages(session_id)
        session = Session(
            session_id=session_id,
            origin=row["origin"],
            model=row["model"] or self.config.model_name,
            state=row["state"],
            history=history,
            config=self.config,
            llm=self.llm,
            context=self.context,
            router=self.router,
            services=self.services,
            approvals=self.approvals,
            emit=self.emit,
            emit_many=self.emit_many,
            system_prompt=self._system_prompt,
        )
        self._loaded[session_id] = session
        while len(self._loaded) > self.max_loaded:
            oldest, _ = next(iter(self._loaded.items()))
            if oldest in self._running:
                self._loaded.move_to_end(oldest)
                break
            self._loaded.popitem(last=False)
        return session

    # ------------------------------------------------------------------ operations
    async def submit(
        self,
        session_id: str,
        op: Operation,
        *,
        origin: dict[str, Any] | None = None,
        model: str | None = None,
    ) -> int:
        """Persist ``op`` in the session's queue and make sure a worker will run it."""
        if self._closing:
            raise ManagerClosed("the engine is shutting down")
        await self.ensure_session(session_id, origin, model)
        data = scrub(op.model_dump())
        op_id = await self.store.enqueue_op(session_id, op.kind, data)
        self.workers.kick(session_id, wake_holder=True)
        return op_id

    def _kick(self, session_id: str) -> None:
        self.workers.kick(session_id)

    async def interrupt(self, session_id: str, *, by: str | None = None) -> str:
        """Stop the running turn on behalf of ``by`` (a gateway user id), reported as
        ``interrupted.stopped_by``. With no turn running, a pending approval batch is withdrawn.

        Returns "interrupted", "approvals_withdrawn" or "idle".
        """
        session = self._running.get(session_id)
        if session is not None and session.interrupt(by):
            return "interrupted"
        if await self.ownership.held_elsewhere(session_id):  # its turn runs on another replica
            await self.ownership.notify(STOP_CHANNEL, json.dumps({"session": session_id, "by": by}))
            return "interrupted"
        pending = await self.approvals.pending(session_id)
        if pending:
            await self.resolve_approvals(
                session_id,
                [
                    ToolApproval(
                        tool_call_id=c.tool_call_id, approved=False, feedback="Stopped by the user."
                    )
                    for c in pending
                ],
                decided_by=DECIDED_BY_STOP,
                complete_batch=True,
                resume=False,
                stopped_by=by,
            )
            return "approvals_withdrawn"
        return "idle"

    async def at_session_limit(self, requester: str | None) -> bool:
        """True when ``requester`` already has ``max_active_sessions_per_user`` sessions working
        (a gateway refuses to start another one for them) — on any replica: with replicas the
        store counts them, on SQLite this process does (no round trip)."""
        if not requester:
            return False
        if self.ownership.shared:
            working = await self.store.count_working_sessions(requester)
        else:
            working = sum(
                1
                for session in self._running.values()
                if session.origin.get("requester") == requester
            )
        return working >= self.config.max_active_sessions_per_user

    def is_busy(self, session_id: str) -> bool:
        """A turn of the session runs in this process (with replicas: on this replica)."""
        return session_id in self._running

    async def queued_count(self, session_id: str) -> int:
        return await self.store.count_queued_ops(session_id)

    async def amend_queued(self, session_id: str, match: QueuedMatch, new_op: Operation) -> bool:
        """Replace the oldest waiting operation that ``match`` accepts (by its stored form),
        e.g. a Slack message edited before its turn started. False when none waits any more:
        it already started, and the caller must treat the edit as a new message or say so."""
        for op_id, kind, data in await self.store.queued_ops(session_id):
            if match(data):
                if kind != new_op.kind:
                    raise ValueError(f"cannot turn a queued {kind} into {new_op.kind}")
                return await self.store.update_queued_op(op_id, scrub(new_op.model_dump()))
        return False

    async def withdraw_queued(self, session_id: str, match: QueuedMatch) -> bool:
        """Drop the oldest waiting operation that ``match`` accepts (a deleted Slack message).
        False when none waits any more (it already started or ran)."""
        for op_id, _kind, data in await self.store.queued_ops(session_id):
            if match(data):
                return await self.store.drop_queued_op(op_id)
        return False

    # ------------------------------------------------------------------ approvals
    async def resolve_approvals(
        self,
        session_id: str,
        approvals: list[ToolApproval],
        *,
        decided_by: str | None,
        complete_batch: bool = True,
        batch_id: str | None = None,
        resume: bool = True,
        status_override: str | None = None,
        stopped_by: str | None = None,
    ) -> ClaimResult:
        """Record decisions at once (first wins); run the batch when it is fully decided.

        ``stopped_by``: with ``decided_by="stop"``, who withdrew the batch (``interrupted.stopped_by``).
        """
        result = await self.approvals.claim(
            session_id,
            approvals,
            decided_by,
            complete_batch=complete_batch,
            batch_id=batch_id,
            status_override=status_override,
        )
        if result.expired:
            self.sweeper.wake()  # close the batch and rewrite its card now, not at the next tick
        if result.ok and result.batch_complete and result.batch_id:
            await self.submit(
                session_id,
                ExecApproval(
                    approvals=approvals,
                    decided_by=decided_by,
                    batch_id=result.batch_id,
                    resume=resume,
                    stopped_by=stopped_by,
                ),
            )
        return result

    def wake_expiry(self) -> None:
        """Re-check expiries now (tests, or after a batch with a short TTL was created)."""
        self.sweeper.wake()

    # ------------------------------------------------------------------ introspection
    async def session_info(self, session_id: str) -> dict[str, Any]:
        """What `status` shows: model, activity, queue, approvals, plan, budget, context."""
        if self.ownership.shared and session_id not in self._running:
            self._loaded.pop(session_id, None)  # another replica may have moved it on since
        session = await self.get_session(session_id)
        pending = await self.approvals.pending(session_id)
        return {
            "session_id": session_id,
            "model": session.model,
            "busy": self.is_busy(session_id),
            "queued": await self.queued_count(session_id),
            "turns": int(session.state.get("turn_count", 0)),
            "plan": session.state.get("plan") or [],
            "pending_approvals": [c.to_dict() for c in pending],
            "yolo": {
                **policy.yolo_summary(session.state, self.config),
                # effective switch: the config's yolo_mode turns it on for every session
                "enabled": policy.yolo_enabled(session.state, self.config),
            },
            "context_tokens": session.state.get("context_tokens"),
            "context_window": self.context.window(session.model),
            "llm_usage": session.state.get("llm_usage") or {},
            "requester_llm_usage": await self.store.kv_get(
                USER_USAGE_NAMESPACE, str(session.origin.get("requester") or "")
            )
            or {},
        }
