"""Small shared pieces of rendering: escaping, time formatting, payload shape, limits."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import Block

from gateways.providers.slack_mrkdwn import escape as esc

# Slack limits we render within (see tests/fakes/slack_limits.py and slack-anchors §5).
MAX_BLOCKS = 50
MAX_SECTION = 3_000
MAX_FIELD = 2_000
MAX_MARKDOWN_BLOCK = 12_000
MAX_BUTTON_VALUE = 2_000
MAX_FALLBACK_TEXT = 3_000


@dataclass
class Payload:
    """What one Slack message should look like: fallback text plus blocks (plain dicts)."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text[:MAX_FALLBACK_TEXT] or " "}
        if self.blocks:
            out["blocks"] = self.blocks
        return out


def to_dicts(blocks: list[Block | dict[str, Any]]) -> list[dict[str, Any]]:
    return [b.to_dict() if isinstance(b, Block) else b for b in blocks]


def code_inline(text: Any, limit: int = 80) -> str:
    """A value as inline code on one line (backticks inside would end the span)."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return "`" + esc(value.replace("`", "ˋ")) + "`" if value else "``"


def user_ref(user: str | None) -> str:
    """``<@U…>`` for Slack users; engine actors ("system", "stop") get words instead."""
    if not user:
        return "someone"
    if user == "system":
        return "the system"
    if user == "stop":
        return "a stop request"
    if user == "restart":
        return "a restart of the bot"
    if user[:1] in ("U", "W") and user[1:].isalnum():
        return f"<@{user}>"
    return esc(user)


def slack_date(ts: float, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack's localised date token with a UTC fallback for clients that can't render it."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))
    return f"<!date^{int(ts)}^{fmt}|{fallback}>"


def button_value(data: dict[str, Any]) -> str:
    """Compact JSON for a button's value (it must carry everything: no server-side lookup)."""
    value = json.dumps(data, separators=(",", ":"), sort_keys=True)
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError("button value too long")
    return value


def parse_button_value(value: str | None) -> dict[str, Any]:
    try:
        data = json.loads(value or "")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
