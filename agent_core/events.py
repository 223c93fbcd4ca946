"""The one contract between the engine and everything around it.

Operations go into a session; Events come out. Gateways (the Slack bot, notification
destinations, the terminal chat) only ever see these types, so they stay replaceable and the
engine stays free of any Slack import. Event names and payload keys follow upstream ml-intern
so its behaviour (and its tests) translate one to one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class EventType(StrEnum):
    """Every event the engine emits. Payload keys are documented next to each name."""

    READY = "ready"  # {message}
    PROCESSING = "processing"  # {message, op_id?}
    ASSISTANT_CHUNK = "assistant_chunk"  # {content}
    ASSISTANT_MESSAGE = "assistant_message"  # {content}
    ASSISTANT_STREAM_END = "assistant_stream_end"  # {}
    TOOL_CALL = "tool_call"  # {tool, arguments, tool_call_id}
    TOOL_OUTPUT = "tool_output"  # {tool, tool_call_id, output, success}
    TOOL_LOG = "tool_log"  # {tool, log, agent_id?, label?}
    TOOL_STATE_CHANGE = "tool_state_change"  # {tool_call_id, tool, state, ...}
    APPROVAL_REQUIRED = "approval_required"  # {tools: [...], count, batch_id, requester?}
    APPROVAL_RESOLVED = "approval_resolved"  # {batch_id, decisions: [...], decided_by}
    TURN_COMPLETE = "turn_complete"  # {history_size, final_response}
    ERROR = "error"  # {error, kind?}
    INTERRUPTED = "interrupted"  # {stopped_by}: who stopped the turn (see STOPPED_BY_SHUTDOWN)
    COMPACTED = "compacted"  # {old_tokens, new_tokens}
    UNDO_COMPLETE = "undo_complete"  # {removed}
    PLAN_UPDATE = "plan_update"  # {plan: [todo]}
    SESSION_UPDATE = "session_update"  # {model?, yolo?, ...}
    SESSION_TERMINATED = "session_terminated"  # {reason, ...}
    SHUTDOWN = "shutdown"  # {}
    LLM_CALL = "llm_call"  # {model, latency_ms, finish_reason, prompt_tokens, ...}
    JOB_STARTED = "job_started"  # {job_id, url, flavor, namespace, ...}
    JOB_PROGRESS = "job_progress"  # {job_id, stage, log_tail, metrics, warning?}
    JOB_FINISHED = "job_finished"  # {job_id, stage, wall_time_s, cost_usd, url, log_tail, error?}
    JOB_HEALTH = "job_health"  # {job_id, condition, summary, numbers, action, rule, change?, quiet}
    NOTIFICATION = "notification"  # {destination, status, ...} (delivery reports)


# Delivered to listeners in memory and never written to the event log: a streamed delta is
# only worth something while the turn runs (the answer is persisted whole, as
# ``assistant_message``, and the Slack renderer posts it on ``turn_complete``). Persisting each
# one cost ~0.55 ms of SQLite per delta — ~2 s of CPU for a 10,000-character answer in 2,000
# chunks (issue 18). ``assistant_stream_end`` only closes those deltas, so it is as transient.
# A transient event has ``seq`` 0: it has no place in the log.
TRANSIENT_EVENTS: frozenset[str] = frozenset(
    {EventType.ASSISTANT_CHUNK, EventType.ASSISTANT_STREAM_END}
)


# ``interrupted.stopped_by`` is the gateway's user id of whoever asked for the stop, this
# value when the host closed the engine with a turn still running, or None when nobody is
# known (a stop recovered after a restart).
STOPPED_BY_SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class Event:
    """One engine event. ``seq`` is strictly increasing per session from 1 for persisted
    events, 0 for :data:`TRANSIENT_EVENTS` (delivered, never stored)."""

    session_id: str
    seq: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)


# --------------------------------------------------------------------------------------
# Operations (into a session). Pydantic so that gateways get validation for free and the
# queued form can be persisted as JSON and replayed after a restart.
# --------------------------------------------------------------------------------------


class UserInput(BaseModel):
    """A message from a person. ``user`` is the gateway's user id (e.g. a Slack user)."""

    kind: Literal["user_input"] = "user_input"
    text: str
    user: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class ToolApproval(BaseModel):
    """One answer for one pending tool call."""

    tool_call_id: str
    approved: bool
    feedback: str | None = None
    edited_script: str | None = None
    namespace: str | None = None
    args_hash: str | None = None  # when given, must match the pending call's hash


class ExecApproval(BaseModel):
    """Answers for the pending batch. Calls missing from ``approvals`` count as rejected."""

    kind: Literal["exec_approval"] = "exec_approval"
    approvals: list[ToolApproval]
    decided_by: str | None = None
    batch_id: str | None = None
    resume: bool = True  # False: record the decisions but do not continue the turn (stop)
    stopped_by: str | None = None  # decided_by "stop": who withdrew the batch


class Compact(BaseModel):
    kind: Literal["compact"] = "compact"


class Undo(BaseModel):
    kind: Literal["undo"] = "undo"


class Shutdown(BaseModel):
    kind: Literal["shutdown"] = "shutdown"


class SetModel(BaseModel):
    kind: Literal["set_model"] = "set_model"
    model: str


class SetYolo(BaseModel):
    """Session-scoped auto-approval with a USD cap (None → the configured default cap)."""

    kind: Literal["set_yolo"] = "set_yolo"
    enabled: bool
    cap_usd: float | None = None


class SystemNote(BaseModel):
    """A note from the system (e.g. a job finished) that wakes the agent for a follow-up turn."""

    kind: Literal["system_note"] = "system_note"
    text: str
    resume: bool = True


class SettleSpend(BaseModel):
    """A finished job's actual cost replaces its reserved estimate in the YOLO ledger.

    Queued like any operation (not written by whoever saw the job end) so that only the
    process driving the session writes its state: with replicas, the job's watcher may be
    another process, whose copy of the session is stale."""

    kind: Literal["settle_spend"] = "settle_spend"
    delta_usd: float
    job_id: str | None = None


Operation = (
    UserInput
    | ExecApproval
    | Compact
    | Undo
    | Shutdown
    | SetModel
    | SetYolo
    | SystemNote
    | SettleSpend
)

_OP_TYPES: dict[str, type[BaseModel]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        UserInput,
        ExecApproval,
        Compact,
        Undo,
        Shutdown,
        SetModel,
        SetYolo,
        SystemNote,
        SettleSpend,
    )
}


def operation_from_dict(data: dict[str, Any]) -> Operation:
    """Rebuild a queued operation from its stored JSON form."""
    kind = data.get("kind")
    cls = _OP_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown operation kind: {kind!r}")
    return cls.model_validate(data)  # type: ignore[return-value]
