"""Engine event → :class:`Notification`: what to say about each event type, as pure functions.

Kept apart from provider rendering so the wording is decided once and every destination
(Slack, incoming webhook, generic webhook) tells the same story. Everything leaving here has
been through :func:`agent_core.redact.scrub`.
"""

from __future__ import annotations

import re
from typing import Any

from agent_core.durations import format_duration
from agent_core.events import Event
from agent_core.jobs.report import JobFinished
from agent_core.llm.pricing import describe_llm_usage
from agent_core.redact import scrub

from .config import Severity
from .notification import Link, NoteField, Notification

MAX_MESSAGE_CHARS = 3_000  # providers trim further (Slack keeps a concise excerpt)
MAX_ERROR_CHARS = 1_500
LOG_TAIL_LINES = 8
LOG_LINE_CHARS = 200

# How a job ended (agent_core.jobs.stages) → how loudly to say it, and the title's word.
_OUTCOME_SEVERITY: dict[str, Severity] = {
    "completed": "success",
    "failed": "error",
    "cancelled": "warning",
    "deleted": "warning",
}
_SEVERITY_WORD = {"success": "completed", "error": "failed", "warning": "canceled"}


def format_cost(usd: float | int | None) -> str | None:
    if usd is None:
        return None
    try:
        value = float(usd)
    except (TypeError, ValueError):
        return None
    if 0 < value < 0.01:
        return "<$0.01"
    return f"${value:,.2f}"


def truncate(text: str, limit: int, suffix: str = "…") -> str:
    text = text or ""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(suffix), 0)].rstrip() + suffix


def tail_lines(
    log: Any, lines: int = LOG_TAIL_LINES, line_chars: int = LOG_LINE_CHARS
) -> str | None:
    """The last few non-empty lines of a log (str or list), each clipped: enough to see why."""
    if not log:
        return None
    raw = log if isinstance(log, list) else str(log).splitlines()
    kept = [str(line).rstrip() for line in raw if str(line).strip()][-lines:]
    if not kept:
        return None
    return "\n".join(truncate(line, line_chars) for line in kept)


def error_fingerprint(data: dict[str, Any]) -> str:
    """What makes two errors "identical" for collapsing: kind + text, numbers and spacing
    normalised, so "timed out after 30.2s" and "timed out after 31.0s" collapse together."""
    text = str(data.get("error") or "")
    text = re.sub(r"\d+(?:\.\d+)?", "#", text)
    text = re.sub(r"\s+", " ", text).strip().lower()
    return f"{data.get('kind') or ''}|{text[:500]}"


def _fields(*pairs: tuple[str, Any]) -> list[NoteField]:
    return [NoteField(label=k, value=str(v)) for k, v in pairs if v not in (None, "")]


def _turn_complete(data: dict[str, Any]) -> dict[str, Any]:
    final = str(data.get("final_response") or "").strip()
    return {
        "severity": "success",
        "title": "Task complete",
        "message": truncate(final, MAX_MESSAGE_CHARS) if final else "The agent finished its turn.",
        "fields": _fields(("Model spend", describe_llm_usage(data.get("llm_usage")))),
    }


def _error(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "severity": "error",
        "title": "Agent error",
        "message": truncate(str(data.get("error") or "unknown error"), MAX_ERROR_CHARS),
        "fields": _fields(("Kind", data.get("kind"))),
    }


def _approval_required(data: dict[str, Any]) -> dict[str, Any]:
    tools = [t for t in data.get("tools") or [] if isinstance(t, dict)]
    count = int(data.get("count") or len(tools) or 1)
    lines, total, priced = [], 0.0, False
    for t in tools[:10]:
        line = f"• `{t.get('tool') or 'tool'}`"
        if t.get("reason"):
            line += f" — {truncate(str(t['reason']), 200)}"
        cost = t.get("estimated_cost_usd")
        if isinstance(cost, int | float):
            total += float(cost)
            priced = True
            line += f" (est. {format_cost(cost)})"
        lines.append(line)
    if len(tools) > 10:
        lines.append(f"• … and {len(tools) - 10} more")
    calls = "tool call" if count == 1 else "tool calls"
    return {
        "severity": "warning",
        "title": f"Approval needed ({count} {calls})",
        "message": "The agent is waiting for approval to run:\n" + "\n".join(lines)
        if lines
        else f"The agent is waiting for approval of {count} {calls}.",
        "fields": _fields(("Estimated cost", format_cost(total) if priced else None)),
    }


def _job_finished(data: dict[str, Any]) -> dict[str, Any]:
    report = JobFinished.from_data(data)
    severity = _OUTCOME_SEVERITY.get(report.outcome or "", "info")
    word = _SEVERITY_WORD.get(severity, report.stage.lower())
    return {
        "severity": severity,
        "title": f"Job {word}",
        "message": truncate(report.error, MAX_ERROR_CHARS) if report.error else "",
        "fields": _fields(
            ("Job", "" if report.job_id == "?" else report.job_id),
            ("Stage", report.stage),
            ("Hardware", report.flavor),
            ("Wall time", format_duration(report.wall_time_s, "exact")),
            ("Cost", format_cost(report.cost_usd)),
        ),
        "links": [Link(label="View job", url=report.url)] if report.url else [],
        "log_tail": tail_lines(list(report.log_tail)),
    }


def _job_progress(data: dict[str, Any]) -> dict[str, Any] | None:
    warning = data.get("warning")
    if not warning:
        return None  # routine progress is not worth a notification
    metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
    metric_text = ", ".join(f"{k}={v}" for k, v in list(metrics.items())[:6]) or None
    return {
        "severity": "warning",
        "title": "Job needs attention",
        "message": truncate(str(warning), MAX_ERROR_CHARS),
        "fields": _fields(
            ("Job", data.get("job_id")), ("Stage", data.get("stage")), ("Metrics", metric_text)
        ),
        "links": [Link(label="View job", url=str(data["url"]))] if data.get("url") else [],
        "log_tail": tail_lines(data.get("log_tail")),
    }


def _job_health(data: dict[str, Any]) -> dict[str, Any] | None:
    """A babysitter finding; held back during the team's quiet hours (the thread still has it)."""
    if data.get("quiet"):
        return None
    change = data.get("change") if isinstance(data.get("change"), dict) else {}
    return {
        "severity": "warning",
        "title": f"Job needs attention: {str(data.get('condition') or '').replace('_', ' ')}",
        "message": truncate(str(data.get("summary") or ""), MAX_ERROR_CHARS),
        "fields": _fields(
            ("Job", data.get("job_id")),
            ("Action", str(data.get("action") or "warn").replace("_", " ")),
            ("Change", ", ".join(map(str, change.get("lines") or [])) or None),
        ),
        "links": [Link(label="View job", url=str(data["url"]))] if data.get("url") else [],
        "log_tail": tail_lines(data.get("log_tail")),
    }


_COMPOSERS = {
    "turn_complete": _turn_complete,
    "error": _error,
    "approval_required": _approval_required,
    "job_finished": _job_finished,
    "job_progress": _job_progress,
    "job_health": _job_health,
}

# What the webhook body carries from the raw event (bounded, scrubbed).
_DATA_KEYS = {
    "turn_complete": ("history_size", "llm_usage"),
    "error": ("error", "kind"),
    "approval_required": ("count", "batch_id"),
    "job_finished": ("job_id", "stage", "wall_time_s", "cost_usd", "url", "flavor", "error"),
    "job_progress": ("job_id", "stage", "metrics", "warning"),
    "job_health": ("job_id", "condition", "summary", "numbers", "action", "change"),
}


def compose(event: Event, origin: dict[str, Any] | None) -> Notification | None:
    """The notification for an engine event, or None if this event is not worth one."""
    composer = _COMPOSERS.get(event.type)
    if composer is None:
        return None
    data = event.data or {}
    parts = composer(data)
    if parts is None:
        return None
    origin = dict(origin or {})
    requester = origin.get("requester") or data.get("requester")
    raw = {
        "event_type": event.type,
        "session_id": event.session_id,
        "seq": event.seq,
        "requester": str(requester) if requester else None,
        "origin": {
            k: origin[k] for k in ("platform", "team", "channel", "thread_ts") if origin.get(k)
        },
        "data": {k: data[k] for k in _DATA_KEYS.get(event.type, ()) if k in data},
        "created_at": event.ts,
        **parts,
    }
    if event.type == "approval_required":
        raw["data"]["tools"] = [
            t.get("tool") for t in data.get("tools") or [] if isinstance(t, dict)
        ]
    return Notification.model_validate(scrub(_dump(raw)))


def compose_agent_message(
    *,
    title: str | None,
    message: str,
    severity: Severity,
    session_id: str | None,
    origin: dict[str, Any] | None,
) -> Notification:
    """The notification for a ``notify`` tool call (the agent's own words)."""
    origin = dict(origin or {})
    return Notification.model_validate(
        scrub(
            {
                "event_type": "notify",
                "severity": severity,
                "title": truncate(title or "Message from the agent", 150),
                "message": truncate(message, MAX_MESSAGE_CHARS),
                "session_id": session_id,
                "requester": origin.get("requester"),
                "origin": {
                    k: origin[k]
                    for k in ("platform", "team", "channel", "thread_ts")
                    if origin.get(k)
                },
                "source": "agent",
            }
        )
    )


def _dump(raw: dict[str, Any]) -> dict[str, Any]:
    """Pydantic sub-models → plain dicts so scrub() sees every string."""
    out = {}
    for key, value in raw.items():
        if isinstance(value, list):
            out[key] = [v.model_dump() if hasattr(v, "model_dump") else v for v in value]
        else:
            out[key] = value
    return out
