"""The agentic loop: call the model, run its tools, repeat until it answers or must wait.

Every step commits the history before the next LLM call, so a restart resumes from the last
thing anyone saw. A turn ends in exactly one of: ``turn_complete`` (an answer), ``error``
(the model failed, or the context could not be compacted), ``approval_required`` (a batch was
opened; the turn continues when it is decided) or ``interrupted`` (a stop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..context import CompactionFailed, UsageMark, patch_dangling_tool_calls, wire_messages
from ..events import EventType
from ..input_limits import clip_for_model
from ..llm import CONTEXT_OVERFLOW, LLMError, LLMResult
from ..redact import StreamScrubber
from ..spend_ledger import ledger_for
from ..tools.plan_tool import unfinished
from . import nudges
from .approval_batch import abandon_pending, open_batch
from .guards import apply_guards
from .interruption import TurnCancelled
from .replies import assistant_message
from .tool_calls import run_tool_calls

if TYPE_CHECKING:
    from .session import Session

WAITING_FOR_APPROVAL = "Waiting for an approval decision before continuing."
MAX_FORCED_COMPACTIONS = 1


async def accept_input(
    session: Session, text: str, *, user: str | None, synthetic: bool, commit: bool = True
) -> bool:
    """Add a message to the history. False → it was deferred until the open batch closes.

    ``commit=False``: the caller commits it (with the event that follows, in one transaction).
    """
    if synthetic and session.state.get("pending_batch"):
        # A system note (e.g. "your job finished") must not abandon calls waiting for a
        # person, and cannot sit between a tool call and its result: defer it until the
        # batch is answered.
        session.state.setdefault("deferred_notes", []).append(text)
        await session.commit()
        return False
    await abandon_pending(session)
    content = clip_for_model(text, session.config.max_user_message_chars)
    msg: dict[str, Any] = {"role": "user", "content": content}
    if synthetic:
        msg["_synthetic"] = True
    elif user:
        msg["_user"] = user
    session.add_message(msg)
    if commit:
        await session.commit()
    return True


async def run_turn(
    session: Session,
    text: str | None,
    *,
    user: str | None = None,
    meta: dict[str, Any] | None = None,
    synthetic: bool = False,
    run_llm: bool = True,
) -> str | None:
    """One agentic turn. Returns the final answer, or None when the turn did not complete."""
    if text and not await accept_input(
        session, text, user=user, synthetic=synthetic, commit=not run_llm
    ):
        return None
    if not run_llm:
        return None
    # The new message and the event that answers it are made durable together.
    if session.state.get("pending_batch"):
        await session.commit(
            [(EventType.ERROR, {"error": WAITING_FOR_APPROVAL, "kind": "approval"})]
        )
        return None
    await session.commit(
        [(EventType.PROCESSING, {"message": "Processing user input", "meta": meta or {}})]
    )
    try:
        final = await _loop(session)
    except TurnCancelled:
        await finish_cancelled(session)
        return None
    if final is None:
        return None
    # The answer, the turn count and turn_complete become durable in one transaction.
    session.state["turn_count"] = int(session.state.get("turn_count", 0)) + 1
    await session.commit(
        [
            (
                EventType.TURN_COMPLETE,
                {
                    "history_size": len(session.history),
                    "final_response": final,
                    "llm_usage": session.state.get("llm_usage") or {},
                },
            )
        ]
    )
    return final


async def _loop(session: Session) -> str | None:
    """The steps of one turn. Returns the final answer, or None when the turn stopped early
    (an error was reported, or an approval batch was opened)."""
    iteration = 0
    guard_retries = 0
    forced_compactions = 0
    limit = session.config.max_iterations
    try:
        session.llm.route(session.model)  # a missing key is named now, before any work
    except LLMError as err:
        await session.emit(EventType.ERROR, {"error": err.message, "kind": err.kind})
        await end_turn_bookkeeping(session)
        return None
    while limit == -1 or iteration < limit:
        if session.interruption.requested:
            raise TurnCancelled
        if not await maybe_compact(session):
            return None
        apply_guards(session.history, session.state, session.add_message)
        if patch_dangling_tool_calls(session.history):
            session.mark_rewritten()
        await session.commit()
        try:
            result = await call_llm(session)
        except LLMError as err:
            if err.kind == CONTEXT_OVERFLOW and forced_compactions < MAX_FORCED_COMPACTIONS:
                forced_compactions += 1
                iteration += 1
                await log_line(session, "Context window exceeded — compacting and retrying.")
                if not await maybe_compact(session, force=True):
                    return None
                continue
            await session.emit(EventType.ERROR, {"error": err.message, "kind": err.kind})
            await end_turn_bookkeeping(session)
            return None
        iteration += 1
        if result.finish_reason == "length" and result.tool_calls:
            if result.content:
                session.add_message(assistant_message(result, result.content))
            nudge, line = nudges.lost_tool_calls([tc["name"] for tc in result.tool_calls])
            session.add_message(nudge)
            await log_line(session, line)
            continue
        if not result.tool_calls:
            content = result.content
            if result.finish_reason == "length":
                content += nudges.CUT_OFF_NOTE
            pending_items = unfinished(session.state.get("plan"))
            if pending_items and guard_retries < nudges.CONTINUATION_GUARD_LIMIT:
                guard_retries += 1
                if content:
                    session.add_message(assistant_message(result, content))
                nudge, line = nudges.unfinished_plan(pending_items)
                session.add_message(nudge)
                await log_line(session, line)
                continue
            session.add_message(assistant_message(result, content))
            return content
        guard_retries = 0
        gated = await run_tool_calls(session, result)
        if gated:
            await open_batch(session, gated)
            return None
    final, line = nudges.step_limit_answer(limit)
    session.add_message({"role": "assistant", "content": final, "_synthetic": True})
    await log_line(session, line)
    return final


async def log_line(session: Session, line: str) -> None:
    """A ``tool_log`` line from the engine itself (shown compactly in the thread)."""
    await session.emit(EventType.TOOL_LOG, {"tool": "system", "log": line})


async def end_turn_bookkeeping(session: Session) -> None:
    session.state["turn_count"] = int(session.state.get("turn_count", 0)) + 1
    await session.commit()


async def finish_cancelled(session: Session) -> None:
    """After a stop: undo what tools started, answer every open call, report who stopped."""
    await session.interruption.run_cleanups()
    if patch_dangling_tool_calls(session.history):
        session.mark_rewritten()
    await end_turn_bookkeeping(session)
    await session.emit(EventType.INTERRUPTED, {"stopped_by": session.interruption.by})


async def maybe_compact(session: Session, force: bool = False) -> bool:
    """Compact when over the threshold (or forced). False → the turn must stop.

    The size comes from the provider's usage of the last call plus an estimate of what was
    appended since (:meth:`~agent_core.context.ContextManager.estimate`); the tokenizer runs
    only near the threshold. ``context_tokens`` in the state is written by :func:`call_llm`
    (the provider's figure, else this estimate), with the step's other writes.
    """
    prompt = session.system_prompt()
    tokens = session.context.estimate(session.model, prompt, session.history, session.usage_mark)
    session.context_estimate = tokens  # call_llm keeps it when the provider reports no usage
    if not force and not session.context.needs_compaction(session.model, tokens):
        return True
    try:
        new_history, old, new = await session.interruption.race(
            session.context.compact(
                session.model, prompt, session.history, on_summary=session.summary_reporter()
            )
        )
    except (CompactionFailed, LLMError) as exc:
        message = exc.message if isinstance(exc, LLMError) else str(exc)
        await session.emit(
            EventType.ERROR,
            {
                "error": (
                    "This conversation is too long for the model's context window and "
                    f"could not be compacted ({message}). Start a new thread, or `undo` "
                    "the last large step."
                ),
                "kind": "context_overflow",
            },
        )
        await end_turn_bookkeeping(session)
        return False
    await session.apply_compaction(new_history, old, new)
    return True


async def call_llm(session: Session) -> LLMResult:
    """One model call, streamed to listeners; records usage and the context size it reports."""
    messages = wire_messages(session.system_prompt(), session.history)
    tools = session.router.openai_tools()

    scrubber = StreamScrubber()  # a secret split over deltas must not reach the store

    async def on_chunk(delta: str) -> None:
        if released := scrubber.feed(delta):
            await session.emit(EventType.ASSISTANT_CHUNK, {"content": released})

    async def on_retry(err: LLMError, attempt: int, delay: float) -> None:
        if not attempt:  # a heal (effort stepped down, thinking history dropped), not a retry
            await log_line(session, f"LLM {err.message} ({err.original[:120]})")
            return
        await log_line(
            session,
            f"LLM {err.kind.replace('_', ' ')} ({err.original[:120]}); retry {attempt} in {delay:.1f}s",
        )

    sent = len(session.history)
    result: LLMResult = await session.interruption.race(
        session.llm.complete(
            messages,
            model=session.model,
            tools=tools,
            on_chunk=on_chunk,
            on_retry=on_retry,
            cache_key=session.id,
        )
    )
    if rest := scrubber.flush():
        await session.emit(EventType.ASSISTANT_CHUNK, {"content": rest})
    if result.usage.get("prompt_tokens"):
        session.usage_mark = UsageMark(int(result.usage["prompt_tokens"]), sent)
    session.state["context_tokens"] = result.usage.get("total_tokens") or session.context_estimate
    fields = result.llm_call_fields
    # The daily caps cover model spend too (the LLM layer prices the call when it can).
    llm_cost = result.cost_usd
    ledger = ledger_for(session.services)
    if llm_cost and ledger is not None:
        await ledger.add(session.origin.get("requester"), float(llm_cost), kind="llm")
    events: list[tuple[str, dict[str, Any]]] = []
    if session.config.stream:
        events.append((EventType.ASSISTANT_STREAM_END, {}))
    if result.content:
        events.append((EventType.ASSISTANT_MESSAGE, {"content": result.content}))
    events.append(
        (
            EventType.LLM_CALL,
            {
                "model": session.model,
                "latency_ms": round(result.latency_ms, 1),
                "finish_reason": result.finish_reason,
                **fields,
            },
        )
    )
    await session.emit_many(events)  # one transaction for the step's events
    return result
