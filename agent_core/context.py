"""The conversation as the model sees it: integrity repairs, token accounting, compaction.

History holds no system message: the system prompt is rendered fresh for every call (tools
and date change; a restart picks up a new prompt file). Messages the engine injects (guards,
notes, summaries) carry ``_synthetic: True`` so undo and compaction can tell them from what a
person wrote; keys starting with ``_`` never reach the provider.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .config import Config
from .llm import LLMClient, LLMResult, context_window, count_tokens

DANGLING_RESULT = "Tool was not executed (interrupted or error)."
OVERSIZED_PRESERVED_TOKENS = 50_000
CHARS_PER_TOKEN = 4
# Below this share of the compaction threshold a cheap estimate decides; above it the tokenizer
# does. Chars/4 can undercount dense text (code: ~3 chars per token), and 0.6 × 4/3 < 1.
TOKENIZER_ABOVE = 0.6

COMPACTION_PROMPT = """You are compacting the middle of a long working session between a user and
an ML-engineering agent so the agent can continue with less context. Write a dense summary
that a newcomer could continue from: the decisions made and why, what was tried and what
failed, problems solved, files/scripts/repos/job ids and their state, numbers that matter
(metrics, costs, hyperparameters), and what was about to happen next. Use short bullet points.
Do not invent anything."""


class CompactionFailed(RuntimeError):
    """Compaction could not bring the context under the threshold."""


@dataclass(frozen=True)
class UsageMark:
    """What the provider counted for the last request: its ``prompt_tokens`` covered the
    system prompt and the first ``messages`` history messages. The next estimate adds only
    what was appended since, so a step's accounting does not grow with the history."""

    prompt_tokens: int
    messages: int


def rough_tokens(messages: list[dict[str, Any]]) -> int:
    """Chars/4 over contents and tool calls: cheap, no tokenizer (and no litellm import)."""
    chars = 0
    for m in messages:
        content = m.get("content")
        chars += len(content) if isinstance(content, str) else len(str(content or ""))
        if m.get("tool_calls"):
            chars += len(str(m["tool_calls"]))
    return chars // CHARS_PER_TOKEN


def wire_messages(system_prompt: str, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What is sent to the provider: system prompt + history without private keys."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
    for m in history:
        out.append({k: v for k, v in m.items() if not k.startswith("_")})
    return out


def patch_dangling_tool_calls(history: list[dict[str, Any]]) -> bool:
    """Give every assistant tool call a result, inserted after its result block.

    A call without a result (an interrupt, a crash between the call and its result) makes
    every later request invalid for most providers. Returns True when something was inserted.
    """
    changed = False
    i = 0
    while i < len(history):
        msg = history[i]
        if msg.get("role") == "assistant" and msg.get("tool_calls"):
            j = i + 1
            answered: set[str] = set()
            while j < len(history) and history[j].get("role") == "tool":
                answered.add(str(history[j].get("tool_call_id")))
                j += 1
            missing = [tc for tc in msg["tool_calls"] if str(tc.get("id")) not in answered]
            for offset, tc in enumerate(missing):
                history.insert(
                    j + offset,
                    {
                        "role": "tool",
                        "tool_call_id": tc.get("id"),
                        "name": (tc.get("function") or {}).get("name", ""),
                        "content": DANGLING_RESULT,
                    },
                )
                changed = True
            i = j + len(missing)
            continue
        i += 1
    return changed


def first_task_index(history: list[dict[str, Any]]) -> int | None:
    for i, m in enumerate(history):
        if m.get("role") == "user" and not m.get("_synthetic"):
            return i
    return None


def undo_last_turn(history: list[dict[str, Any]]) -> int:
    """Remove messages from the end up to and including the last real user message.

    Synthetic user messages (guards, notes) are not turns of their own and do not stop the
    walk. Returns the number of messages removed (0 when there is nothing to undo).
    """
    for idx in range(len(history) - 1, -1, -1):
        m = history[idx]
        if m.get("role") == "user" and not m.get("_synthetic"):
            removed = len(history) - idx
            del history[idx:]
            return removed
    return 0


def _render_for_summary(messages: list[dict[str, Any]], limit_chars: int = 400_000) -> str:
    parts: list[str] = []
    for m in messages:
        role = m.get("role", "?")
        content = m.get("content") or ""
        if not isinstance(content, str):
            content = json.dumps(content)
        if m.get("tool_calls"):
            calls = ", ".join(
                f"{(tc.get('function') or {}).get('name')}({(tc.get('function') or {}).get('arguments', '')[:500]})"
                for tc in m["tool_calls"]
            )
            content = f"{content}\n[tool calls: {calls}]".strip()
        if role == "tool":
            content = content[:3000]
        parts.append(f"### {role}\n{content}")
    text = "\n\n".join(parts)
    if len(text) > limit_chars:
        text = text[: limit_chars // 4] + "\n…\n" + text[-(limit_chars * 3 // 4) :]
    return text


class ContextManager:
    """Token accounting and compaction for one session's history."""

    def __init__(self, config: Config, llm: LLMClient) -> None:
        self.config = config
        self.llm = llm
        self._window_cache: dict[str, int] = {}

    def window(self, model: str) -> int:
        if model not in self._window_cache:
            self._window_cache[model] = context_window(model, self.config)
        return self._window_cache[model]

    def threshold(self, model: str) -> int:
        return int(self.window(model) * self.config.compaction_threshold)

    def tokens(self, model: str, system_prompt: str, history: list[dict[str, Any]]) -> int:
        return count_tokens(model, wire_messages(system_prompt, history), self.config)

    def estimate(
        self,
        model: str,
        system_prompt: str,
        history: list[dict[str, Any]],
        mark: UsageMark | None,
    ) -> int:
        """The context size for the compaction decision, without the tokenizer on a normal step.

        With a :class:`UsageMark` (the provider's count of the last request): that count plus
        chars/4 of the messages appended since. Without one (first step after a load, a
        provider that reports no usage): chars/4 of everything. Only an estimate near the
        threshold is counted exactly (:meth:`tokens`), so the decision is the tokenizer's
        whenever it matters.
        """
        if mark is not None and mark.messages <= len(history):
            estimate = mark.prompt_tokens + rough_tokens(history[mark.messages :])
        else:
            estimate = (len(system_prompt) // CHARS_PER_TOKEN) + rough_tokens(history)
        if estimate >= self.threshold(model) * TOKENIZER_ABOVE:
            return self.tokens(model, system_prompt, history)
        return estimate

    def needs_compaction(self, model: str, tokens: int) -> bool:
        return tokens > self.threshold(model)

    async def compact(
        self,
        model: str,
        system_prompt: str,
        history: list[dict[str, Any]],
        *,
        on_summary: Callable[[LLMResult], Awaitable[None]] | None = None,
    ) -> tuple[list[dict[str, Any]], int, int]:
        """Summarise the middle; keep the first task message and the recent tail.

        Returns (new_history, old_tokens, new_tokens). Raises :class:`CompactionFailed` when
        the result is still over the threshold, so the caller can stop instead of spinning.
        """
        old_tokens = self.tokens(model, system_prompt, history)
        first = first_task_index(history)
        if first is None:
            first = 0
        tail_start = max(len(history) - self.config.compaction_tail_messages, first + 1)
        while tail_start > first + 1 and history[tail_start].get("role") != "user":
            tail_start -= 1
        # Never start the tail with tool results: they must follow their assistant call.
        while tail_start < len(history) and history[tail_start].get("role") == "tool":
            tail_start += 1
        middle = history[first + 1 : tail_start]
        head = history[: first + 1]
        tail = history[tail_start:]
        per_message_cap = min(OVERSIZED_PRESERVED_TOKENS, self.threshold(model) // 4)
        preserved = [self._truncate_oversized(model, m, per_message_cap) for m in head + tail]
        head, tail = preserved[: len(head)], preserved[len(head) :]
        if middle:
            summary = await self.llm.complete(
                [
                    {"role": "system", "content": COMPACTION_PROMPT},
                    {"role": "user", "content": _render_for_summary(middle)},
                ],
                model=model,
                stream=False,
                max_tokens=max(256, int(self.window(model) * 0.1)),
            )
            if on_summary is not None:
                await on_summary(summary)
            summary_msg = {
                "role": "assistant",
                "content": "[Summary of the earlier part of this session]\n" + summary.content,
                "_synthetic": True,
            }
            new_history = [*head, summary_msg, *tail]
        else:
            new_history = [*head, *tail]
        new_tokens = self.tokens(model, system_prompt, new_history)
        if new_tokens > self.threshold(model):
            raise CompactionFailed(
                f"context still {new_tokens} tokens after compaction "
                f"(limit {self.threshold(model)})"
            )
        return new_history, old_tokens, new_tokens

    def _truncate_oversized(self, model: str, msg: dict[str, Any], cap: int) -> dict[str, Any]:
        content = msg.get("content")
        if not isinstance(content, str) or len(content) < cap * 2:
            return msg
        try:
            n = count_tokens(model, [{"role": "user", "content": content}], self.config)
        except Exception:
            return msg
        if n <= cap:
            return msg
        keep = cap * 2  # ≈ chars for half the cap in tokens, head and tail
        new = dict(msg)
        new["content"] = (
            content[: keep // 2]
            + f"\n[truncated for compaction — original was {n} tokens]\n"
            + content[-keep // 2 :]
        )
        return new
