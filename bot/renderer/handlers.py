"""Which handler renders which engine event: one explicit table, checked against the engine's
event catalogue (:class:`agent_core.events.EventType`) by a test, so a new event type is a
decision (render it, or list it as ignored), never a silent gap."""

from __future__ import annotations

from agent_core.events import EventType
from bot.approvals import rendering as approvals
from bot.conversation import rendering as conversation
from bot.jobs import babysitting
from bot.jobs import rendering as jobs
from bot.renderer.context import Handler

HANDLERS: dict[EventType, Handler] = {
    EventType.PROCESSING: conversation.on_processing,
    EventType.TOOL_CALL: conversation.on_tool_call,
    EventType.TOOL_OUTPUT: conversation.on_tool_output,
    EventType.TOOL_STATE_CHANGE: conversation.on_tool_state_change,
    EventType.TOOL_LOG: conversation.on_tool_log,
    EventType.ASSISTANT_MESSAGE: conversation.on_assistant_message,
    EventType.PLAN_UPDATE: conversation.on_plan_update,
    EventType.TURN_COMPLETE: conversation.on_turn_complete,
    EventType.ERROR: conversation.on_error,
    EventType.INTERRUPTED: conversation.on_interrupted,
    EventType.SESSION_TERMINATED: conversation.on_session_terminated,
    EventType.COMPACTED: conversation.on_compacted,
    EventType.UNDO_COMPLETE: conversation.on_undo_complete,
    EventType.SESSION_UPDATE: conversation.on_session_update,
    EventType.APPROVAL_REQUIRED: approvals.on_approval_required,
    EventType.APPROVAL_RESOLVED: approvals.on_approval_resolved,
    EventType.JOB_STARTED: jobs.on_job_event,
    EventType.JOB_PROGRESS: jobs.on_job_event,
    EventType.JOB_FINISHED: jobs.on_job_event,
    EventType.JOB_HEALTH: babysitting.on_job_health,
}

# Events with nothing to draw in Slack: never queued (the watermark passes over them).
IGNORED: frozenset[EventType] = frozenset(
    {
        EventType.READY,
        EventType.ASSISTANT_CHUNK,  # the answer is posted whole, on turn_complete
        EventType.ASSISTANT_STREAM_END,
        EventType.LLM_CALL,
        EventType.SHUTDOWN,
        EventType.NOTIFICATION,  # delivery reports of the notification gateways
    }
)
