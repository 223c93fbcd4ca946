"""One conversation: its history, its state, and the dispatch of its operations.

A session processes one operation at a time (the manager guarantees that); everything it
learns is written to the store before it is acted on or announced, so a restart resumes from
the last thing anyone saw. The work itself lives beside this module: the agentic loop in
:mod:`.turn`, tool execution in :mod:`.tool_calls`, approval batches in
:mod:`.approval_batch`, the loop's guards and nudges in :mod:`.guards` and :mod:`.nudges`, and
stopping a turn in :mod:`.interruption`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import policy
from ..approvals import ApprovalBook
from ..context import CompactionFailed, ContextManager, UsageMark, undo_last_turn
from ..events import (
    Compact,
    EventType,
    ExecApproval,
    Operation,
    SetModel,
    SettleSpend,
    SetYolo,
    Shutdown,
    SystemNote,
    Undo,
    UserInput,
)
from ..llm import LLMClient, LLMError, LLMResult, record_llm_call
from ..llm.pricing import record_user_usage
from ..model_allowlist import model_refusal
from ..redact import scrub
from ..store import dumps
from ..tools.base import Services, ToolContext
from ..tools.router import ToolRouter
from .approval_batch import abandon_pending, execute_approvals
from .interruption import Interruption, TurnCancelled
from .turn import finish_cancelled, run_turn

if TYPE_CHECKING:
    from ..config import Config
    from ..events import Event
    from ..store import Store

EmitFn = Callable[[str, str, dict[str, Any]], Awaitable["Event"]]
# (session, [(type, data)], statements persisted with them) -> the events, in order
EmitManyFn = Callable[
    [str, Sequence[tuple[str, dict[str, Any]]], Sequence[tuple[str, Sequence[Any]]]],
    Awaitable[list["Event"]],
]


class Session:
    """A loaded session. Created and owned by the SessionManager."""

    def __init__(
        self,
        *,
        session_id: str,
        origin: dict[str, Any],
        model: str,
        state: dict[str, Any],
        history: list[dict[str, Any]],
        config: Config,
        llm: LLMClient,
        context: ContextManager,
        router: ToolRouter,
        services: Services,
        approvals: ApprovalBook,
        emit: EmitFn,
        system_prompt: Callable[[list[str]], str],
        emit_many: EmitManyFn | None = None,
    ) -> None:
        self.id = session_id
        self.origin = origin
        self.model = model
        self.state = state
        self.history = history
        self.config = config
        self.llm = llm
        self.context = context
        self.router = router
        self.services = services
        self.approvals = approvals
        self._emit = emit
        self._emit_many = emit_many
        self._system_prompt = system_prompt
        self._persisted_len = len(history)
        self._persisted_state = dumps(state)
        self._persisted_model = model
        self._rewrite = False
        # The provider's count of the last request (None: estimate, see context.estimate).
        self.usage_mark: UsageMark | None = None
        self.context_estimate: int | None = None  # the last step's estimate (maybe_compact)
        self.interruption = Interruption()
        self.busy = False

    # ------------------------------------------------------------------ state and persistence
    @property
    def store(self) -> Store:
        assert self.services.store is not None
        return self.services.store

    async def emit(self, type_: str, data: dict[str, Any] | None = None) -> Event:
        await self.interruption.before_acting()  # a replica that lost the session says nothing
        data = data or {}
        await self._account(type_, data)
        return await self._emit(self.id, str(type_), data)

    async def emit_many(
        self,
        events: Sequence[tuple[str, dict[str, Any]]],
        statements: Sequence[tuple[str, Sequence[Any]]] = (),
    ) -> list[Event]:
        """Several events (and ``statements``) made durable in one transaction, then
        delivered in order; one by one when the host gives no batch emitter."""
        await self.interruption.before_acting()
        for type_, data in events:
            await self._account(type_, data)
        if self._emit_many is not None:
            return await self._emit_many(self.id, events, statements)
        if statements:
            await self.store.transaction(statements)
        return [await self._emit(self.id, str(t), d) for t, d in events]

    async def _account(self, type_: str, data: dict[str, Any]) -> None:
        if type_ == EventType.LLM_CALL:
            # Every model call is announced here (main loop, research, compaction), so this
            # is the one place its cost joins the thread's and the requester's totals.
            record_llm_call(self.state, self.config, data)
            await record_user_usage(
                self.store, self.llm.usage_lock, self.origin.get("requester"), data
            )

    def add_message(self, message: dict[str, Any]) -> None:
        self.history.append(scrub(message))

    async def commit(self, events: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[Event]:
        """Persist history changes and session state (call before acting on them), with
        ``events`` in the same transaction (then delivered). Nothing changed and no events:
        no write at all. Fenced once, just before the write (by :meth:`emit_many` when there
        are events): a replica that lost the session never overwrites its successor's history."""
        statements: list[tuple[str, Sequence[Any]]] = []
        if self._rewrite or len(self.history) < self._persisted_len:
            statements += self.store.messages_replaced(self.id, self.history)
        elif len(self.history) > self._persisted_len:
            statements += self.store.messages_appended(
                self.id, self._persisted_len, self.history[self._persisted_len :]
            )
        state = dumps(self.state)
        if statements or state != self._persisted_state or self.model != self._persisted_model:
            statements.append(self.store.session_update(self.id, state=state, model=self.model))
        if events:
            emitted = await self.emit_many(events, statements)
        else:
            emitted = []
            if statements:
                await self.interruption.before_acting()
                await self.store.transaction(statements)
        self._rewrite = False
        self._persisted_len = len(self.history)
        self._persisted_state, self._persisted_model = state, self.model
        return emitted

    def mark_rewritten(self) -> None:
        """The history changed in place (not only appended): the next commit rewrites it."""
        self._rewrite = True
        self.usage_mark = None  # the provider's last count no longer describes the history

    async def apply_compaction(
        self, new_history: list[dict[str, Any]], old_tokens: int, new_tokens: int
    ) -> None:
        """Replace the history by its compacted form, persist it, then announce it."""
        self.history[:] = new_history
        self.mark_rewritten()
        self.state["context_tokens"] = new_tokens
        await self.commit()
        await self.emit(EventType.COMPACTED, {"old_tokens": old_tokens, "new_tokens": new_tokens})

    def system_prompt(self) -> str:
        return self._system_prompt(self.router.names)

    def tool_context(self, tool_call_id: str) -> ToolContext:
        return ToolContext(
            session_id=self.id,
            tool_call_id=tool_call_id,
            origin=self.origin,
            services=self.services,
            emit=self.emit,
            cancel_event=self.interruption.event,
            session_state=self.state,
            register_cleanup=self.interruption.register_cleanup,
            model=self.model,
        )

    def interrupt(self, by: str | None = None) -> bool:
        """Stop the running turn on behalf of ``by``. False when nothing was running."""
        if not self.busy:
            return False
        self.interruption.request(by)
        return True

    # ------------------------------------------------------------------ operations
    async def handle(self, op: Operation) -> None:
        """Process one operation to completion (the manager calls this serially)."""
        self.busy = True
        self.interruption.reset()
        try:
            if isinstance(op, UserInput):
                await run_turn(self, op.text, user=op.user, meta=op.meta)
            elif isinstance(op, SystemNote):
                await run_turn(self, op.text, synthetic=True, run_llm=op.resume)
            elif isinstance(op, ExecApproval):
                await self._decided_batch(op)
            elif isinstance(op, Compact):
                await self.manual_compact()
            elif isinstance(op, Undo):
                await self.undo()
            elif isinstance(op, SetModel):
                await self.set_model(op.model)
            elif isinstance(op, SetYolo):
                await self.set_yolo(op.enabled, op.cap_usd)
            elif isinstance(op, SettleSpend):
                await self.settle_spend(op.delta_usd, op.job_id)
            elif isinstance(op, Shutdown):
                await self.emit(EventType.SHUTDOWN, {})
        finally:
            self.busy = False
            self.interruption.reset()

    async def _decided_batch(self, op: ExecApproval) -> None:
        """Run a decided approval batch, then continue the turn it suspended."""
        try:
            resume = await execute_approvals(self, op)
        except TurnCancelled:
            await finish_cancelled(self)
            return
        if resume:
            await run_turn(self, None)

    async def set_model(self, model: str) -> None:
        refusal = model_refusal(model, self.config)
        if refusal is not None:
            await self.emit(
                EventType.ERROR, {"error": f"Model not changed: {refusal}.", "kind": "model"}
            )
            return
        try:
            await self.llm.check_model(model.strip())  # no key, unknown model…: keep the old one
        except LLMError as err:
            await self.emit(
                EventType.ERROR,
                {"error": f"Still using `{self.model}`. {err.message}", "kind": err.kind},
            )
            return
        self.model = model.strip()
        self.usage_mark = None  # another model counts with another tokenizer
        await self.commit()
        await self.emit(EventType.SESSION_UPDATE, {"model": self.model})

    async def set_yolo(self, enabled: bool, cap_usd: float | None) -> None:
        st = policy.yolo_state(self.state, self.config)
        st["enabled"] = enabled
        if cap_usd is not None:
            st["cap_usd"] = float(cap_usd)
        await self.commit()
        await self.emit(
            EventType.SESSION_UPDATE, {"yolo": policy.yolo_summary(self.state, self.config)}
        )

    async def settle_spend(self, delta_usd: float, job_id: str | None) -> None:
        """Book a job's actual cost minus its reserved estimate (see :class:`SettleSpend`);
        announced as a session update nobody needs to be told about."""
        st = policy.yolo_state(self.state, self.config)
        st["spent_usd"] = max(0.0, round(float(st.get("spent_usd", 0.0)) + float(delta_usd), 6))
        settled = {"job_id": job_id, "delta_usd": round(float(delta_usd), 6),
                   "spent_usd": st["spent_usd"]}  # fmt: skip
        await self.commit(events=[(EventType.SESSION_UPDATE, {"spend_settled": settled})])

    async def undo(self) -> None:
        await abandon_pending(self)
        removed = undo_last_turn(self.history)
        if removed:
            self.mark_rewritten()
            self.state["plan"] = []
        await self.commit()
        await self.emit(EventType.UNDO_COMPLETE, {"removed": removed})

    def summary_reporter(self) -> Callable[[LLMResult], Awaitable[None]]:
        """Announces the compaction's own model call (it costs like any other)."""

        async def report(result: LLMResult) -> None:
            await self.emit(
                EventType.LLM_CALL,
                {"model": self.model, "kind": "compaction", "latency_ms": round(result.latency_ms, 1),
                 "finish_reason": result.finish_reason, **result.llm_call_fields},
            )  # fmt: skip

        return report

    async def manual_compact(self) -> None:
        prompt = self.system_prompt()
        old = self.context.tokens(self.model, prompt, self.history)
        try:
            new_history, old, new = await self.context.compact(
                self.model, prompt, self.history, on_summary=self.summary_reporter()
            )
        except (CompactionFailed, LLMError) as exc:
            message, kind = (
                (exc.message, exc.kind) if isinstance(exc, LLMError) else (str(exc), "compaction")
            )
            await self.emit(
                EventType.ERROR, {"error": f"Compaction failed: {message}", "kind": kind}
            )
            return
        if len(new_history) == len(self.history) and new >= old:
            await self.emit(
                EventType.COMPACTED,
                {"old_tokens": old, "new_tokens": new, "note": "nothing to compact"},
            )
            return
        await self.apply_compaction(new_history, old, new)
