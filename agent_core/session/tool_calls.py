"""Running the tool calls of one reply: which run now, which wait for a person, and how.

The reply is recorded before anything runs, so a crash mid-call leaves a history that
``patch_dangling_tool_calls`` can repair. Calls that need no approval (or are auto-approved
within the YOLO budget) run concurrently; their results are committed before they are
announced. Calls that need a person are returned to the loop, which opens an approval batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import policy
from ..events import EventType
from ..llm import LLMResult
from ..spend_ledger import ledger_for
from .guards import malformed_result
from .interruption import TurnCancelled
from .replies import ParsedCall, assistant_message, parse_tool_calls

if TYPE_CHECKING:
    from .session import Session

ToolResults = dict[str, tuple[str, bool]]  # tool_call_id → (output, success)


@dataclass
class CallToRun:
    """A well-formed call and the policy's decision for it (None: no rule applies)."""

    id: str
    name: str
    args: dict[str, Any]
    requirement: policy.ApprovalRequirement | None
    preview: dict[str, Any] | None = None  # what the card shows (ToolSpec.prepare)

    @property
    def auto_approved(self) -> bool:
        return self.requirement is not None and self.requirement.auto_approved


async def run_calls(session: Session, calls: list[tuple[str, str, dict[str, Any]]]) -> ToolResults:
    """Run ``(tool_call_id, tool, args)`` concurrently; raise TurnCancelled if interrupted.

    A tool that raises becomes a failed result; a call cut short by a stop gets no result
    (the caller records it as interrupted) and a ``cancelled`` state change.
    """
    if not calls:
        return {}
    await session.interruption.before_acting()

    async def one(tool_call_id: str, name: str, args: dict[str, Any]) -> tuple[str, bool]:
        return await session.router.call(name, args, session.tool_context(tool_call_id))

    tasks = {tcid: asyncio.ensure_future(one(tcid, name, args)) for tcid, name, args in calls}
    session.interruption.track(tasks.values())
    try:
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    finally:
        session.interruption.untrack(tasks.values())
    out: ToolResults = {}
    for tcid, task in tasks.items():
        if task.cancelled():
            continue
        exc = task.exception()
        if exc is not None:
            out[tcid] = (f"ERROR: {type(exc).__name__}: {exc}", False)
        else:
            out[tcid] = task.result()
    if session.interruption.requested:
        for tcid, name, _ in calls:
            if tcid not in out:
                await session.emit(
                    EventType.TOOL_STATE_CHANGE,
                    {"tool_call_id": tcid, "tool": name, "state": "cancelled"},
                )
        raise TurnCancelled
    return out


async def _classify(
    session: Session, parsed: list[ParsedCall]
) -> tuple[list[CallToRun], list[CallToRun], ToolResults]:
    """Split into (run now, needs a person) and the results of malformed calls. An
    auto-approved billable call is booked in the day's spend ledger at once (released again
    by :func:`_settle` if it fails), so concurrent threads see it."""
    immediate: list[CallToRun] = []
    gated: list[CallToRun] = []
    results: ToolResults = {}
    ledger = ledger_for(session.services)
    requester = session.origin.get("requester")
    for call in parsed:
        if call.error is not None:
            results[call.id] = (call.error, False)
            continue
        if call.args is None:
            results[call.id] = (malformed_result(call.name), False)
            continue
        spec = session.router.get(call.name)
        spent = await ledger.today(requester) if ledger is not None else None
        req = policy.decide(
            call.name,
            call.args,
            session.config,
            session.state,
            call.id,
            spec,
            spent_today=(spent.user_usd, spent.workspace_usd) if spent else None,
        )
        if ledger is not None and req is not None and req.auto_approved and req.billable:
            await ledger.add(requester, req.estimated_cost_usd or 0.0)
        target = gated if req is not None and req.required else immediate
        target.append(CallToRun(call.id, call.name, call.args, req))
    return immediate, gated, results


async def _prepare(
    session: Session, gated: list[CallToRun], results: ToolResults
) -> list[CallToRun]:
    """Pin what each gated call would fetch later and describe it for the card, before anyone
    is asked (``ToolSpec.prepare``). A call that cannot be prepared (its script URL is refused,
    its file is gone) fails now, without a card; its error goes in ``results``."""
    ready: list[CallToRun] = []
    for call in gated:
        spec = session.router.get(call.name)
        if spec is None or spec.prepare is None:
            ready.append(call)
            continue
        try:
            prepared = await spec.prepare(call.args, session.tool_context(call.id))
        except Exception as exc:  # a tool's error, phrased for the model
            results[call.id] = (f"ERROR: {getattr(exc, 'message', None) or exc}", False)
            continue
        call.args, call.preview = prepared.arguments, prepared.preview
        ready.append(call)
    return ready


async def _announce(
    session: Session, parsed: list[ParsedCall], immediate: list[CallToRun], results: ToolResults
) -> None:
    """``tool_call`` for every call that is not waiting for a person (malformed ones and those
    that could not be prepared too)."""
    by_id = {c.id: c for c in immediate}
    for call in parsed:
        runnable = by_id.get(call.id)
        if runnable is None and call.args is not None and call.id not in results:
            continue  # gated: announced by ``approval_required``
        data: dict[str, Any] = {
            "tool": call.name,
            "arguments": call.args or {},
            "tool_call_id": call.id,
        }
        spec = session.router.get(call.name)
        if spec and spec.key_argument:
            data["key_argument"] = spec.key_argument
        if runnable is not None and runnable.auto_approved:
            assert runnable.requirement is not None
            data["auto_approved"] = True
            data["estimated_cost_usd"] = runnable.requirement.estimated_cost_usd
        await session.emit(EventType.TOOL_CALL, data)


async def run_tool_calls(session: Session, result: LLMResult) -> list[CallToRun]:
    """Record the reply, run what may run, and return the calls that wait for a person.

    Raises TurnCancelled after recording the results that did arrive when interrupted.
    """
    parsed = parse_tool_calls(result)
    session.add_message(assistant_message(result, result.content or None, parsed))
    await session.commit()
    immediate, gated, results = await _classify(session, parsed)
    gated = await _prepare(session, gated, results)
    await _announce(session, parsed, immediate, results)
    cancelled = False
    try:
        results.update(await run_calls(session, [(c.id, c.name, c.args) for c in immediate]))
    except TurnCancelled:
        cancelled = True
    ledger = ledger_for(session.services)
    for call in immediate:
        req = call.requirement
        if req is not None and req.auto_approved and req.billable:
            ok = results.get(call.id, ("", False))[1]
            policy.settle_reservation(
                session.state, session.config, call.id, req.estimated_cost_usd if ok else None
            )
            if not ok and ledger is not None:  # nothing was spent: release the day's booking
                await ledger.add(session.origin.get("requester"), -(req.estimated_cost_usd or 0))
    answered = [call for call in parsed if call.id in results]
    for call in answered:
        session.add_message(
            {
                "role": "tool",
                "tool_call_id": call.id,
                "name": call.name,
                "content": results[call.id][0],
            }
        )
    await session.commit()
    for call in answered:
        text, ok = results[call.id]
        await session.emit(
            EventType.TOOL_OUTPUT,
            {"tool": call.name, "tool_call_id": call.id, "output": text, "success": ok},
        )
    if cancelled:
        raise TurnCancelled
    return gated
