"""What the model answered, as history entries: its message and its parsed tool calls.

The one place where an :class:`~agent_core.llm.LLMResult` becomes an assistant message, so a
provider-specific field that must be sent back on the next request (reasoning, thinking
blocks) is added here once and reaches every kind of reply: plain answers, answers cut off by
the output limit, and tool calls.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from ..llm import LLMResult


@dataclass
class ParsedCall:
    """One tool call of a reply. ``args`` is None when the model sent malformed JSON."""

    id: str
    name: str
    raw_arguments: str
    args: dict[str, Any] | None


def parse_tool_calls(result: LLMResult) -> list[ParsedCall]:
    """Give every call an id and decode its arguments (a JSON object, or None when malformed)."""
    parsed: list[ParsedCall] = []
    for i, tc in enumerate(result.tool_calls):
        if not tc.get("id"):
            tc["id"] = f"call_{uuid.uuid4().hex[:12]}_{i}"
        args: dict[str, Any] | None
        try:
            args = json.loads(tc["arguments"]) if tc["arguments"].strip() else {}
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except (json.JSONDecodeError, ValueError, TypeError):
            args = None
        parsed.append(ParsedCall(tc["id"], tc["name"], tc["arguments"], args))
    return parsed


def assistant_message(
    result: LLMResult, content: str | None, calls: list[ParsedCall] | None = None
) -> dict[str, Any]:
    """The history entry for ``result``; ``content`` is what to keep of its text.

    Malformed arguments are stored as ``{}``: providers reject a request whose history holds
    invalid JSON, and the call's tool result already says it was not executed.
    """
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.raw_arguments if call.args is not None else "{}",
                },
            }
            for call in calls
        ]
    return message
