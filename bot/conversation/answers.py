"""The final answer: Slack's ``markdown`` block, split on safe boundaries, or a file + preview.

The ``markdown`` block renders standard Markdown (tables, headings, fenced code) natively, so
there is no hand-written Markdown→mrkdwn converter to get wrong (the double-conversion bugs
other bots ship).
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import MarkdownBlock

from bot.slack.format import MAX_MARKDOWN_BLOCK, Payload, to_dicts
from bot.slack.split import preview, split_markdown


@dataclass
class AnswerPlan:
    """How to post one answer: messages in order, plus an optional file with the full text."""

    messages: list[Payload]
    file_name: str | None = None
    file_content: str | None = None


def markdown_payload(text: str) -> Payload:
    """One message holding ``text`` (≤ the markdown block's limit) as a markdown block."""
    body = text[:MAX_MARKDOWN_BLOCK]
    return Payload(text=_fallback(body), blocks=to_dicts([MarkdownBlock(text=body)]))


def _fallback(text: str) -> str:
    """Notification text: the first lines, plain enough for a push notification."""
    first = " ".join(text.split())
    return first[:300] + ("…" if len(first) > 300 else "")


def plan_answer(
    text: str,
    *,
    message_chars: int,
    upload_threshold_chars: int,
    preview_chars: int,
    file_name: str = "answer.md",
) -> AnswerPlan:
    """Decide the messages (and file) for an answer of any length."""
    text = (text or "").strip()
    if not text:
        return AnswerPlan(messages=[])
    if len(text) > upload_threshold_chars:
        head, _cut = preview(text, preview_chars)
        note = (
            f"\n\n_The full answer ({len(text):,} characters) is attached below as `{file_name}`._"
        )
        return AnswerPlan(
            messages=[markdown_payload(head + note)],
            file_name=file_name,
            file_content=text,
        )
    limit = min(message_chars, MAX_MARKDOWN_BLOCK)
    return AnswerPlan(messages=[markdown_payload(p) for p in split_markdown(text, limit)])
