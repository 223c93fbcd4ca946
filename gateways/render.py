"""Notification → provider payload, as pure functions (no I/O), so every shape is unit-testable.

Slack gets a concise Block Kit message — severity emoji and title (with the requester mentioned
when asked), a short excerpt, labelled fields, the last log lines for jobs and a context line
with the thread's permalink — plus a ``text`` fallback that carries the same first line for
push notifications and screen readers. Webhooks get a flat, versioned JSON document.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from .compose import truncate
from .notification import Notification
from .providers.slack_mrkdwn import escape

SEVERITY_EMOJI = {
    "info": ":information_source:",
    "success": ":white_check_mark:",
    "warning": ":warning:",
    "error": ":x:",
}

SLACK_EXCERPT_CHARS = 1_200  # "concise": the full answer is one click away in the thread
SLACK_LOG_CHARS = 1_200
SLACK_SECTION_CHARS = 3_000
SLACK_FIELD_CHARS = 1_900
SLACK_FALLBACK_CHARS = 300
WEBHOOK_SCHEMA_VERSION = 1

_ENTITY = re.compile(r"<(?:[@#!][^<>\s]+|(?:https?|mailto):[^<>\s]+)>")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_CODE = re.compile(r"(```.*?```|`[^`\n]+`)", re.S)


def to_mrkdwn(markdown: str) -> str:
    """A small Markdown → Slack mrkdwn conversion for agent-written text.

    Code spans and fences are kept (only escaped); ``[label](url)`` becomes ``<url|label>``;
    existing Slack entities (``<@U…>``, ``<#C…>``, ``<!here>``, ``<https://…|…>``) survive;
    ``**bold**`` → ``*bold*``, ``*it*``/``_it_`` → ``_it_``, ``~~x~~`` → ``~x~``, headings → bold.
    """
    out = []
    for i, part in enumerate(_CODE.split(markdown or "")):
        out.append(escape(part) if i % 2 else _convert_prose(part))
    return "".join(out)


def _convert_prose(text: str) -> str:
    keep: list[str] = []

    def stash(value: str) -> str:
        keep.append(value)
        return f"\x00{len(keep) - 1}\x00"

    text = _MD_LINK.sub(lambda m: stash(f"<{m.group(2)}|{escape(m.group(1))}>"), text)
    text = _ENTITY.sub(lambda m: stash(m.group(0)), text)
    text = escape(text)
    text = re.sub(
        r"(?m)^#{1,6}\s+(.+?)\s*#*$", lambda m: stash(f"*{m.group(1).replace('**', '')}*"), text
    )
    text = re.sub(r"\*\*\*(.+?)\*\*\*", lambda m: stash(f"*_{m.group(1)}_*"), text)
    text = re.sub(r"\*\*(.+?)\*\*", lambda m: stash(f"*{m.group(1)}*"), text)
    text = re.sub(r"__(.+?)__", lambda m: stash(f"*{m.group(1)}*"), text)
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])", r"_\1_", text)
    text = re.sub(r"~~(.+?)~~", r"~\1~", text)
    for _ in range(3):  # stashed values may contain stashes (bold inside a heading)
        text = re.sub(r"\x00(\d+)\x00", lambda m: keep[int(m.group(1))], text)
    return text


def _link(url: str, label: str) -> str:
    return f"<{url}|{escape(label)}>"


def slack_headline(n: Notification, mention: str | None) -> str:
    """The first line: ``<@U1> :white_check_mark: *Job completed*``."""
    head = f"{SEVERITY_EMOJI[n.severity]} *{escape(truncate(n.title, 150))}*"
    return f"<@{mention}> {head}" if mention else head


def slack_fallback_text(n: Notification, mention: str | None) -> str:
    """Plain ``text`` for notifications/previews: headline plus the first line of the message."""
    first = next((line.strip() for line in (n.message or "").splitlines() if line.strip()), "")
    first = re.sub(r"^#+\s*", "", first).replace("**", "")  # Markdown noise in a preview
    if not first and n.fields:  # e.g. a finished job: the facts are the message
        first = ", ".join(f"{f.label.lower()} {f.value}" for f in n.fields)
    head = f"{SEVERITY_EMOJI[n.severity]} {escape(truncate(n.title, 150))}"
    if mention:
        head = f"<@{mention}> {head}"
    if first:
        head += f": {escape(truncate(first, SLACK_FALLBACK_CHARS))}"
    return head


def slack_context_line(n: Notification, permalink: str | None) -> str:
    parts = []
    if permalink:
        parts.append(_link(permalink, "Open thread"))
    parts.extend(_link(link.url, link.label) for link in n.links)
    if n.session_id:
        parts.append(f"session `{escape(n.session_id)}`")
    if n.source == "agent":
        parts.append("sent by the agent")
    return " · ".join(parts)


def render_slack(
    n: Notification, *, permalink: str | None = None, mention: str | None = None
) -> dict[str, Any]:
    """``{"text", "blocks"}`` for ``chat.postMessage`` or an incoming webhook."""
    excerpt = truncate(n.message, SLACK_EXCERPT_CHARS, "…")
    if excerpt.count("```") % 2:  # the cut fell inside a code block: close it
        excerpt += "\n```"
    body = to_mrkdwn(excerpt)
    if len(n.message or "") > SLACK_EXCERPT_CHARS and permalink:
        body += f"\n_{_link(permalink, 'Read the rest in the thread')}_"
    main = slack_headline(n, mention) + (f"\n{body}" if body else "")
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=truncate(main, SLACK_SECTION_CHARS)))
    ]
    if n.fields:
        blocks.append(
            SectionBlock(
                fields=[
                    MarkdownTextObject(
                        text=truncate(f"*{escape(f.label)}*\n{escape(f.value)}", SLACK_FIELD_CHARS)
                    )
                    for f in n.fields[:10]
                ]
            )
        )
    if n.log_tail:
        tail = escape(n.log_tail)[-SLACK_LOG_CHARS:]
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"*Last log lines*\n```\n{tail}\n```"))
        )
    context = slack_context_line(n, permalink)
    if context:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=context)]))
    return {
        "text": slack_fallback_text(n, mention),
        "blocks": [b.to_dict() for b in blocks],
    }


def render_webhook(
    n: Notification, *, delivery_id: str, destination: str, thread_url: str | None = None
) -> dict[str, Any]:
    """The JSON document a generic webhook receives (schema ``version`` 1, flat and stable)."""
    return {
        "type": "ml_intern.notification",
        "version": WEBHOOK_SCHEMA_VERSION,
        "id": delivery_id,
        "destination": destination,
        "event_type": n.event_type,
        "severity": n.severity,
        "title": n.title,
        "message": n.message,
        "fields": {f.label: f.value for f in n.fields},
        "links": [link.model_dump() for link in n.links],
        "log_tail": n.log_tail,
        "session_id": n.session_id,
        "seq": n.seq,
        "requester": n.requester,
        "thread_url": thread_url,
        "origin": n.origin,
        "source": n.source,
        "repeat_count": n.repeat_count,
        "data": n.data,
        "created_at": n.created_at,
    }
