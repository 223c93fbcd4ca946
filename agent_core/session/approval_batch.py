"""The life of one approval batch inside a session: opened, decided, run, or abandoned.

A reply whose calls need a person *opens* a batch: the calls are stored as pending (bound to
their arguments' hash), the session remembers ``pending_batch``, and ``approval_required``
asks. The turn then ends; nothing waits in memory. When every call is decided (people, the
expiry sweep, a stop), the manager queues an ``ExecApproval`` and :func:`execute_approvals`
runs the approved calls and records an answer for every other one. A person who writes in the
thread instead *abandons* the batch. System notes that arrive while a batch is open are
deferred until it closes, because nothing may sit between a tool call and its result.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from .. import policy
from ..approvals import ABANDONED, APPROVED, DECIDED_BY_STOP, EXPIRED, REJECTED, PendingCall
from ..events import EventType, ExecApproval
from .interruption import TurnCancelled
from .tool_calls import CallToRun, ToolResults, run_calls

if TYPE_CHECKING:
    from .session import Session

ABANDONED_RESULT = "Task abandoned — user continued the conversation without approving."
REJECTED_RESULT = "The user rejected this call; it was not executed."
EXPIRED_RESULT = "The approval request expired before anyone answered; the call was not executed."
INTERRUPTED_RESULT = "Interrupted by the user before it finished."
EDITED_NOTE = "[Note: the user edited the script before approving.]\n"
UNDECIDED_RESULTS = {
    REJECTED: REJECTED_RESULT,
    EXPIRED: EXPIRED_RESULT,
    ABANDONED: ABANDONED_RESULT,
}


async def open_batch(session: Session, gated: list[CallToRun]) -> None:
    """Store the calls as pending and ask for approval (the turn ends after this)."""
    batch_id = uuid.uuid4().hex[:16]
    requester = session.origin.get("requester") or session.origin.get("user")
    config = session.config
    ttl = float(config.approval_ttl_s) if config.approval_ttl_s else None
    calls: list[dict[str, Any]] = []
    tools_payload: list[dict[str, Any]] = []
    for call in gated:
        req = call.requirement
        assert req is not None  # gated calls always carry the requirement that gated them
        record = {
            "tool_call_id": call.id,
            "tool": call.name,
            "arguments": call.args,
            "args_hash": policy.args_hash(call.name, call.args),
            "approval_class": req.approval_class,
            "reason": req.reason,
            "estimated_cost_usd": req.estimated_cost_usd,
        }
        calls.append(record)
        # What the approver is shown: the stored record plus what the card warns about.
        entry = {**record, "billable": req.billable, "destructive": req.destructive}
        if req.blocked_reason:
            entry["auto_approval_blocked"] = True
            entry["block_reason"] = req.blocked_reason
        tools_payload.append(entry)
    await session.approvals.create_batch(session.id, batch_id, calls, requester, ttl)
    session.state["pending_batch"] = batch_id
    await session.commit()
    await session.emit(
        EventType.APPROVAL_REQUIRED,
        {
            "tools": tools_payload,
            "count": len(tools_payload),
            "batch_id": batch_id,
            "requester": requester,
            "expires_at": (time.time() + ttl) if ttl else None,
            "remaining_budget_usd": policy.remaining_budget(session.state, config)
            if policy.yolo_enabled(session.state, config)
            else None,
        },
    )


def _answered_ids(session: Session) -> set[Any]:
    return {m.get("tool_call_id") for m in session.history if m.get("role") == "tool"}


def flush_deferred_notes(session: Session) -> None:
    """Add the system notes held back while the batch was open."""
    for note in session.state.pop("deferred_notes", None) or []:
        session.add_message({"role": "user", "content": note, "_synthetic": True})


async def abandon_pending(session: Session) -> None:
    """The user moved on: close the open batch, answering each call as abandoned."""
    calls = await session.approvals.abandon_pending(session.id)
    if not calls:
        return
    answered = _answered_ids(session)
    for call in calls:
        if call.tool_call_id not in answered:
            session.add_message(
                {
                    "role": "tool",
                    "tool_call_id": call.tool_call_id,
                    "name": call.tool,
                    "content": ABANDONED_RESULT,
                }
            )
    session.state["pending_batch"] = None
    flush_deferred_notes(session)
    await session.commit()
    for call in calls:
        await session.emit(
            EventType.TOOL_STATE_CHANGE,
            {"tool_call_id": call.tool_call_id, "tool": call.tool, "state": "abandoned"},
        )
    await session.emit(
        EventType.APPROVAL_RESOLVED,
        {
            "batch_id": calls[0].batch_id,
            "outcome": "abandoned",
            "decisions": [
                {"tool_call_id": c.tool_call_id, "tool": c.tool, "status": ABANDONED} for c in calls
            ],
            "decided_by": None,
        },
    )


def apply_overrides(call: PendingCall) -> dict[str, Any]:
    """The arguments to run: the approver's edited script and namespace replace the model's."""
    args = dict(call.arguments)
    if call.overrides.get("edited_script") and "script" in args:
        args["script"] = call.overrides["edited_script"]
    elif call.overrides.get("edited_script") and call.tool == "bash":
        args["command"] = call.overrides["edited_script"]
    if call.overrides.get("namespace"):
        args["namespace"] = call.overrides["namespace"]
    return args


def not_run_result(call: PendingCall) -> str:
    """The tool result of a call that was not approved, with the approver's feedback."""
    text = UNDECIDED_RESULTS.get(call.status, REJECTED_RESULT)
    if call.feedback:
        clean = "".join(ch for ch in call.feedback if ch >= " " or ch in "\n\t")
        text += f" User feedback: {clean}"
    return text


async def _load_decided(session: Session, op: ExecApproval) -> list[PendingCall] | None:
    """The batch's calls, claiming decisions made through the engine API; None → refused."""
    batch_id = op.batch_id or session.state.get("pending_batch")
    if not batch_id:
        await session.emit(
            EventType.ERROR,
            {"error": "There is no pending approval to answer.", "kind": "approval"},
        )
        return None
    calls = await session.approvals.batch(session.id, batch_id)
    if not calls:
        await session.emit(
            EventType.ERROR, {"error": "That approval request is unknown.", "kind": "approval"}
        )
        return None
    if any(c.status == "pending" for c in calls):
        # Decisions made through the engine API (not pre-claimed): claim them now.
        result = await session.approvals.claim(
            session.id, op.approvals, op.decided_by, complete_batch=True, batch_id=batch_id
        )
        if not result.ok:
            await session.emit(
                EventType.ERROR,
                {"error": f"Approval refused: {result.error}", "kind": "approval"},
            )
            return None
        calls = await session.approvals.batch(session.id, batch_id)
    return calls


async def _announce_decisions(session: Session, op: ExecApproval, todo: list[PendingCall]) -> None:
    await session.emit(
        EventType.APPROVAL_RESOLVED,
        {
            "batch_id": todo[0].batch_id,
            "outcome": "expired" if all(c.status == EXPIRED for c in todo) else "decided",
            "decisions": [
                {
                    "tool_call_id": c.tool_call_id,
                    "tool": c.tool,
                    "status": c.status,
                    "decided_by": c.decided_by,
                    "feedback": c.feedback,
                    "edited": bool(c.overrides.get("edited_script")),
                }
                for c in todo
            ],
            "decided_by": op.decided_by,
        },
    )
    for c in todo:
        await session.emit(
            EventType.TOOL_STATE_CHANGE,
            {
                "tool_call_id": c.tool_call_id,
                "tool": c.tool,
                "state": c.status,
                "decided_by": c.decided_by,
            },
        )


async def execute_approvals(session: Session, op: ExecApproval) -> bool:
    """Run the approved calls of a fully decided batch. True → the turn should continue.

    Every call gets a tool result (its output, or why it did not run) before anything is
    announced. Raises TurnCancelled, after recording what finished, when a stop cuts the
    approved calls short.
    """
    calls = await _load_decided(session, op)
    if calls is None:
        return False
    answered = _answered_ids(session)
    todo = [c for c in calls if c.tool_call_id not in answered]
    if not todo:
        return False  # already executed (a replayed op after a restart)
    session.state["pending_batch"] = None
    await session.commit()
    await _announce_decisions(session, op, todo)
    approved = [c for c in todo if c.status == APPROVED]
    results: ToolResults = {
        c.tool_call_id: (not_run_result(c), False) for c in todo if c.status != APPROVED
    }
    cancelled = False
    try:
        outputs = await run_calls(
            session, [(c.tool_call_id, c.tool, apply_overrides(c)) for c in approved]
        )
        results.update(outputs)
    except TurnCancelled:
        cancelled = True
    for c in todo:
        text, _ok = results.get(c.tool_call_id, (INTERRUPTED_RESULT, False))
        if c.status == APPROVED and c.overrides.get("edited_script"):
            text = EDITED_NOTE + text
        session.add_message(
            {"role": "tool", "tool_call_id": c.tool_call_id, "name": c.tool, "content": text}
        )
    await session.commit()
    for c in todo:
        text, ok = results.get(c.tool_call_id, (INTERRUPTED_RESULT, False))
        await session.emit(
            EventType.TOOL_OUTPUT,
            {"tool": c.tool, "tool_call_id": c.tool_call_id, "output": text, "success": ok},
        )
    if cancelled:
        raise TurnCancelled
    flush_deferred_notes(session)
    await session.commit()
    if not op.resume:
        if op.decided_by == DECIDED_BY_STOP:
            await session.emit(EventType.INTERRUPTED, {"stopped_by": op.stopped_by})
        return False
    return True
