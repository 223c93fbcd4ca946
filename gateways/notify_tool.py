"""The agent's ``notify`` tool (upstream parameters: destinations, message, title, severity).

Only destinations with ``allow_agent_tool`` are offered and accepted; anything else is a tool
error that names the destinations the agent may use, so the model can correct itself. The
message goes through the same outbox as automatic notifications (so it survives a restart
and honours Retry-After); the tool waits ``delivery.tool_wait_s`` for the outcome and reports
one line per destination. A retried tool call (same ``tool_call_id``) is never sent twice.
"""

from __future__ import annotations

from typing import Any

from agent_core.tools.base import Services, ToolContext, ToolSpec

from .config import SEVERITIES

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "destinations": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "Names of configured notification destinations to send to.",
        },
        "message": {"type": "string", "description": "The message body (Markdown is fine)."},
        "title": {"type": "string", "description": "Optional short title."},
        "severity": {
            "type": "string",
            "enum": list(SEVERITIES),
            "description": "info (default), success, warning or error.",
        },
    },
    "required": ["destinations", "message"],
}


async def notify_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    notifier = ctx.services.notifier
    if notifier is None or not getattr(notifier, "enabled", False):
        return "ERROR: messaging is not configured, so notify cannot send anything.", False
    raw = args.get("destinations")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        return "ERROR: 'destinations' must be a non-empty list of destination names.", False
    if any(not isinstance(d, str) or not d.strip() for d in raw):
        return "ERROR: every destination must be a non-empty string.", False
    names = [d.strip() for d in raw]
    message = args.get("message")
    if not isinstance(message, str) or not message.strip():
        return "ERROR: 'message' must be a non-empty string.", False
    title = args.get("title")
    if title is not None and not isinstance(title, str):
        return "ERROR: 'title' must be a string.", False
    severity = args.get("severity") or "info"
    if severity not in SEVERITIES:
        return f"ERROR: 'severity' must be one of {', '.join(SEVERITIES)}.", False
    problem = notifier.check_agent_destinations(names)
    if problem:
        return f"ERROR: {problem}", False
    results = await notifier.send(
        names,
        message,
        title=title,
        severity=severity,
        session_id=ctx.session_id,
        origin=ctx.origin,
        request_id=ctx.tool_call_id,
    )
    text = "\n".join(r.line() for r in results)
    return text, all(r.status != "failed" for r in results)


def tools(services: Services) -> list[ToolSpec]:
    notifier = services.notifier
    if notifier is None or not getattr(notifier, "enabled", False):
        return []
    allowed = notifier.agent_destinations()
    if not allowed:
        return []
    return [
        ToolSpec(
            name="notify",
            description=(
                "Send a notification to a configured destination (a Slack channel, a webhook). "
                "Use it only when the user explicitly asks to be notified somewhere; the thread "
                "you are in already shows your replies. Available destinations: "
                + ", ".join(allowed)
                + "."
            ),
            parameters=PARAMETERS,
            handler=notify_handler,
            key_argument="destinations",
        )
    ]
