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


def _classify(
    session: Session, parsed: list[ParsedCall]
) -> tuple[list[CallToRun], list[CallToRun], ToolResults]:
    """Split into (run now, needs a person) and the results of malformed calls."""
    immediate: list[CallToRun] = []
    gated: list[CallToRun] = []
    results: ToolResults = {}
    for call in parsed:
        if call.args is None:
            results[call.id] = (malformed_result(call.name), False)
            continue
        spec = session.router.get(call.name)
        req = policy.decide(call.name, call.args, session.config, session.state, call.id, spec)
        target = gated if req is not None and req.required else immediate
        target.append(CallToRun(call.id, call.name, call.args, req))
    return immediate, gated, results


async def _announce(session: Session, parsed: list[ParsedCall], immediate: list[CallToRun]) -> None:
    """``tool_call`` for every call that is not waiting for a person (malformed ones too)."""
    by_id = {c.id: c for c in immediate}
    for call in parsed:
        runnable = by_id.get(call.id)
        if runnable is None and call.args is not None:
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
    immediate, gated, results = _classify(session, parsed)
    await _announce(session, parsed, immediate)
    cancelled = False
    try:
        results.update(await run_calls(session, [(c.id, c.name, c.args) for c in immediate]))
    except TurnCancelled:
        cancelled = True
    for call in immediate:
        req = call.requirement
        if req is not None and req.auto_approved and req.billable:
            ok = results.get(call.id, ("", False))[1]
            policy.settle_reservation(
                session.state, session.config, call.id, req.estimated_cost_usd if ok else None
            )
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
