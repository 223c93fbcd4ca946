"""Prompt caching and what each provider may see of the history — the outgoing request's shape.

Anthropic caches a prefix up to each ``cache_control`` breakpoint (at most 4; order: tools,
system, messages; a breakpoint also hits a prefix written up to 20 blocks earlier). With
~18 KB of tool schemas and a loop of up to 300 steps, marking the last tool, the system prompt
and the end of the rolling history turns almost all input into cache reads. The HF router takes
a session header (``X-HF-Session-id``) so hosts can keep the session's cache warm; OpenAI takes
``prompt_cache_key``. Persisted history is never modified: markers go on copies.

Thinking travels only where it is required: Anthropic gets ``thinking_blocks`` back on assistant
messages (litellm turns them into the leading content blocks), and nothing else does — the
router and OpenAI-compatible hosts either reject or ignore them. ``reasoning_content`` goes back
only to providers whose rules require it on assistant tool-call messages (Moonshot's own API).
"""

from __future__ import annotations

import copy
from typing import Any

from .routing import ROUTER, Route

EPHEMERAL = {"type": "ephemeral"}
ROUTER_SESSION_HEADER = "X-HF-Session-id"
REASONING_CONTENT_REQUIRED = frozenset({"moonshot"})
_THINKING_KEYS = ("thinking_blocks", "reasoning_content")


def caches_with_markers(route: Route) -> bool:
    """Claude direct, or Claude through the router (hosts like fal pass the markers on)."""
    return route.provider == "anthropic" or (
        route.provider == ROUTER and route.model.startswith("anthropic/")
    )


def shape_messages(
    route: Route, messages: list[dict[str, Any]], *, thinking: bool
) -> list[dict[str, Any]]:
    """Copies of ``messages`` with only the fields this provider accepts."""
    keep_blocks = route.provider == "anthropic" and thinking
    keep_reasoning = route.provider in REASONING_CONTENT_REQUIRED
    out = []
    for m in messages:
        if m.get("role") != "assistant" or not any(k in m for k in _THINKING_KEYS):
            out.append(m)
            continue
        m = dict(m)
        if not keep_blocks:
            m.pop("thinking_blocks", None)
        if not keep_reasoning or not m.get("tool_calls"):
            m.pop("reasoning_content", None)
        out.append(m)
    return out


def unsigned_tool_turn(messages: list[dict[str, Any]]) -> bool:
    """True when the request ends with the results of an assistant tool turn that carries no
    thinking: Claude refuses that with thinking on (the turn was made with thinking off after a
    heal, or by another model), so the call must go without thinking rather than fail first."""
    for m in reversed(messages):
        if m.get("role") == "tool":
            continue
        return (
            m.get("role") == "assistant"
            and bool(m.get("tool_calls"))
            and not m.get("thinking_blocks")
        )
    return False


def apply_markers(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Breakpoints on the last tool, the system prompt, the newest message and the last user
    message before it (4 in all, Anthropic's maximum)."""
    messages = list(messages)
    if tools:
        tools = _marked_tools(tools)
    marks: list[int] = []
    if messages and messages[0].get("role") == "system":
        marks.append(0)
    if len(messages) > 1:
        marks.append(len(messages) - 1)
        for i in range(len(messages) - 2, 0, -1):
            if messages[i].get("role") == "user":
                marks.append(i)
                break
    for i in marks:
        messages[i] = _marked(messages[i])
    return messages, tools


_MARKED_TOOLS: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}


def _marked_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tools with a breakpoint on the last one — the same list object for the same input
    list, so the fast path's encoded schemas are reused instead of re-encoded per call."""
    hit = _MARKED_TOOLS.get(id(tools))
    if hit is not None and hit[0] is tools:
        return hit[1]
    marked = [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}]
    if len(_MARKED_TOOLS) >= 16:
        _MARKED_TOOLS.pop(next(iter(_MARKED_TOOLS)))
    _MARKED_TOOLS[id(tools)] = (tools, marked)
    return marked


def _marked(message: dict[str, Any]) -> dict[str, Any]:
    message = copy.copy(message)
    content = message.get("content")
    if message.get("role") == "tool" or not content:
        # litellm moves a tool message's cache_control onto its tool_result block; an
        # assistant message holding only tool calls is marked the same way.
        message["cache_control"] = EPHEMERAL
    elif isinstance(content, str):
        message["content"] = [{"type": "text", "text": content, "cache_control": EPHEMERAL}]
    elif isinstance(content, list):
        blocks = [dict(b) if isinstance(b, dict) else b for b in content]
        for block in reversed(blocks):
            if isinstance(block, dict) and block.get("type") == "text":
                block["cache_control"] = EPHEMERAL
                break
        message["content"] = blocks
    return message


def cache_kwargs(route: Route, session_key: str | None) -> dict[str, Any]:
    """Per-request caching hints that are not markers."""
    if not session_key or route.local:
        return {}
    if route.provider == ROUTER:
        return {"extra_headers": {ROUTER_SESSION_HEADER: session_key[:256]}}
    if route.provider == "openai":
        return {"prompt_cache_key": session_key[:64]}
    return {}
