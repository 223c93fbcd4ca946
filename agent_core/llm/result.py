"""What one model call produced, assembled from a stream or a whole response.

The assembly is defensive because open models and gateways stream tool calls badly: two calls
sharing ``index`` 0 (told apart only by a new ``id``), the function name repeated in every chunk,
the same id reused for two calls, calls written as text markup, calls with no name. Each is
repaired here so the loop only ever sees well-formed, uniquely identified calls.

Thinking (Anthropic ``thinking_blocks`` with signatures) and reasoning text
(``reasoning_content``) are kept apart from the answer: they go back to the provider on the
assistant message when its rules require it, and are never streamed to people.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from .textcalls import has_markup, parse_text_tool_calls

EMPTY_NAME_PLACEHOLDER = "unnamed_tool_call"
# Ids every provider accepts back (Anthropic's tool_use pattern); Kimi's "functions.read:0" is not.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EMPTY_NAME_ERROR = (
    "ERROR: this tool call had no function name, so it was NOT executed. Call one of the "
    "available tools by its exact name."
)


@dataclass
class LLMResult:
    content: str
    tool_calls: list[dict[str, str]]
    """``{"id", "name", "arguments" (raw JSON text)}``; a call that must not run also has
    ``"error"`` (the tool result to answer it with)."""
    finish_reason: str | None
    usage: dict[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0
    model: str = ""
    thinking_blocks: list[dict[str, Any]] = field(default_factory=list)
    reasoning_content: str = ""
    cost_usd: float | None = None
    cost_source: str = ""
    provider: str = ""
    refusal: bool = False

    def assistant_message(self, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The assistant message for history: content, tool calls, and the thinking that must
        travel with them (the client drops what a given provider must not receive)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        elif message["content"] is None:
            message["content"] = ""
        if self.thinking_blocks:
            message["thinking_blocks"] = [dict(b) for b in self.thinking_blocks]
        if self.reasoning_content:
            message["reasoning_content"] = self.reasoning_content
        return message

    @property
    def llm_call_fields(self) -> dict[str, Any]:
        """What the ``llm_call`` event reports: tokens (incl. cache reads/writes) and cost."""
        return {
            "provider": self.provider,
            **self.usage,
            "cost_usd": self.cost_usd,
            "cost_source": self.cost_source,
        }


class CallAssembler:
    """Accumulates streamed tool-call fragments, keyed by (index, id)."""

    def __init__(self) -> None:
        self._calls: list[dict[str, str]] = []
        self._by_index: dict[int, int] = {}

    def feed(
        self, index: int | None, call_id: str | None, name: str | None, arguments: str | None
    ) -> None:
        slot_no = self._by_index.get(index) if index is not None else None
        slot = self._calls[slot_no] if slot_no is not None else None
        starts_new = slot is None or (call_id and slot["id"] and call_id != slot["id"])
        if index is None and slot is None and not call_id and self._calls:
            slot = self._calls[-1]  # an index-less continuation fragment
            starts_new = False
        if starts_new:
            slot = {"id": call_id or "", "name": "", "arguments": ""}
            self._calls.append(slot)
            if index is not None:
                self._by_index[index] = len(self._calls) - 1
        assert slot is not None
        if call_id and not slot["id"]:
            slot["id"] = call_id
        if name:
            if not slot["name"] or name.startswith(slot["name"]):
                slot["name"] = name  # the first fragment, a repeat, or a cumulative name
            else:
                slot["name"] += name  # a name streamed in pieces
        if arguments:
            slot["arguments"] += arguments

    def calls(self) -> list[dict[str, str]]:
        return [dict(c) for c in self._calls]


class ThinkingAssembler:
    """Joins streamed thinking pieces into whole blocks; a signature closes a block."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None

    def feed(self, block: dict[str, Any]) -> None:
        kind = block.get("type")
        if kind == "redacted_thinking":
            self._open = None
            self.blocks.append(dict(block))
            return
        if kind != "thinking":
            return
        if self._open is None:
            self._open = {"type": "thinking", "thinking": ""}
            self.blocks.append(self._open)
        self._open["thinking"] += block.get("thinking") or ""
        if block.get("signature"):
            self._open["signature"] = block["signature"]
            self._open = None


def finalize_calls(
    content: str, calls: list[dict[str, str]], taken_ids: set[str]
) -> tuple[str, list[dict[str, str]]]:
    """Parse text-encoded calls when there are no structured ones; make ids unique (within the
    response and against ``taken_ids`` from history); answer nameless calls with a nudge."""
    if not calls and has_markup(content):
        content, calls = parse_text_tool_calls(content)
    seen = set(taken_ids)
    out: list[dict[str, str]] = []
    for i, call in enumerate(calls):
        call = dict(call)
        if not _SAFE_ID.match(call.get("id") or "") or call["id"] in seen:
            call["id"] = f"call_{uuid.uuid4().hex[:12]}_{i}"
        seen.add(call["id"])
        call["name"] = (call.get("name") or "").strip()
        if not call["name"]:
            call["name"] = EMPTY_NAME_PLACEHOLDER
            call["error"] = EMPTY_NAME_ERROR
        out.append(call)
    return content, out


def history_call_ids(messages: list[dict[str, Any]]) -> set[str]:
    """Tool-call ids already used in the conversation."""
    ids: set[str] = set()
    for m in messages:
        for tc in m.get("tool_calls") or []:
            if isinstance(tc, dict) and tc.get("id"):
                ids.add(str(tc["id"]))
    return ids
