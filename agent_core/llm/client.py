"""The engine's only door to language models: streamed, with bounded retries and heals.

Each call: route the model id (:mod:`.routing`: host and key, or a named missing key at once),
shape the messages for that provider (:mod:`.caching`: thinking only where required, cache
breakpoints), pick the effort (:mod:`.effort`), send it over a transport (:mod:`.transport`:
the lean OpenAI-compatible client for the HF router, OpenAI and local servers, litellm for the
providers it translates), assemble (:mod:`.result`), price (:mod:`.pricing`). Failures are
classified (:mod:`.errors`, one rule for both transports); rate limits and transient errors
are retried with :mod:`agent_core.retry`'s timing; a refused effort or refused thinking
history is healed at once (no sleep, not counted as a retry). This module is the one place for
retries and heals, whichever transport carried the call.

``import litellm`` costs seconds, so it happens only when a route needs it, never on the path
that connects to Slack and acks events, and never for a fast-path call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..redact import register_secret
from ..retry import backoff_delay
from . import caching, pricing, routing
from .effort import EffortBook, effort_kwargs
from .errors import (
    BAD_REQUEST,
    CONTEXT_OVERFLOW,
    RATE_LIMIT,
    TRANSIENT,
    LLMError,
    classify,
    is_effort_rejection,
    is_thinking_history_rejection,
    unprocessable_overflow,
)
from .result import CallAssembler, LLMResult, ThinkingAssembler, finalize_calls, history_call_ids
from .textcalls import MarkupFilter
from .transport import FastTransport, uses_fast_path

log = logging.getLogger(__name__)

REFUSAL_TEXT = "_The model declined to answer this request (it stopped with a refusal)._"
CUT_OFF_NOTE = "\n\n_(The model's reply stopped early: the connection ended before it finished.)_"
EFFORT_HEALED = "effort_adjusted"
THINKING_HEALED = "thinking_dropped"
_RATE_LIMIT_BASE_FACTOR = 3.0
MAX_ANSWER_CHARS = 16 * 1024 * 1024
ANSWER_TOO_LARGE = (
    "The model's answer was too large (over 16 MiB of text and tool arguments); the call was "
    "stopped."
)
MAX_HEALS = 6  # effort steps (max → … → off) plus one thinking-history drop, per call

_litellm: Any = None


def get_litellm() -> Any:
    """Import litellm once, offline-safe (no model-cost-map fetch), quiet."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
        import litellm

        litellm.suppress_debug_info = True
        litellm.drop_params = True
        litellm.telemetry = False
        _litellm = litellm
    return _litellm


def resolve_model_params(model: str, config: Config) -> dict[str, Any]:
    """litellm kwargs for a model id (host and key), without failing on a missing key."""
    return routing.resolve(model, config, require_key=False).kwargs


def context_window(model: str, config: Config) -> int:
    """The model's input window: the config override, else litellm's map (router ids via hosts)."""
    if config.context_window:
        return config.context_window
    return pricing.context_window(routing.resolve(model, config, require_key=False))


def count_tokens(model: str, messages: list[dict[str, Any]], config: Config) -> int:
    """litellm's token counter, falling back to chars/4 when the tokenizer is unavailable."""
    litellm = get_litellm()
    try:
        return int(
            litellm.token_counter(
                model=resolve_model_params(model, config)["model"], messages=messages
            )
        )
    except Exception:
        chars = sum(
            len(str(m.get("content") or "")) + len(str(m.get("tool_calls") or "")) for m in messages
        )
        return chars // 4


OnChunk = Callable[[str], Awaitable[None]]
OnRetry = Callable[[LLMError, int, float], Awaitable[None]]


class _StreamEndedEarly(Exception):
    """The stream closed cleanly without a finish reason, before anything reached a person."""

    def __str__(self) -> str:
        return "connection error: the stream ended before the model finished (no finish reason)"


@dataclass
class _Request:
    """What the caller asked for, fixed across attempts (retries and heals change the rest)."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    stream: bool | None = None
    on_chunk: OnChunk | None = None
    max_tokens: int | None = None
    extra: dict[str, Any] | None = None
    cache_key: str | None = None


class LLMClient:
    """Calls a model with streaming, retries and heals. One instance per process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.effort = EffortBook(config.reasoning_effort)
        self.usage_lock = asyncio.Lock()
        """Serialises per-user spend totals across this process's sessions."""
        self.fast = FastTransport(config.llm_timeout_s)

    async def aclose(self) -> None:
        """Close the fast path's HTTP session."""
        await self.fast.aclose()

    def route(self, model: str) -> routing.Route:
        """Where ``model`` goes; raises ``LLMError(auth)`` naming the missing key. The key is
        registered with the scrubber: a provider that echoes it back (an error body quoting
        the request's headers) must not put it in an event, a log or Slack."""
        route = routing.resolve(model, self.config)
        register_secret(route.api_key)
        return route

    async def check_model(self, model: str) -> None:
        """What a switch to ``model`` must know first (upstream's ``/model``): its host has a key
        and, for a hosted model with reasoning on, it answers and accepts an effort (the probe,
        which also learns the level). Raises :class:`LLMError` for what will not fix itself —
        a missing or rejected key, an unknown model, no credit; a transient failure lets the
        switch go ahead (the first real call retries and heals)."""
        route = self.route(model)
        if route.local or self.effort.level_for(route) is None:
            return
        try:
            await self.probe_effort(model)
        except LLMError as err:
            if not err.retryable:
                raise

    async def probe_effort(self, model: str) -> str | None:
        """Upstream's probe on a model switch: a one-word call at the preferred effort, stepping
        down the cascade until the model accepts one; the result is remembered for ``model``.
        A missing key, a rejected key or an unreachable provider raises :class:`LLMError` (so a
        switch can keep the old model and say why)."""
        route = self.route(model)
        # Claude needs room for the thinking budget; other models answer "pong" in a few tokens.
        probe = _Request([{"role": "user", "content": "ping"}], stream=False,
                         max_tokens=None if route.provider == "anthropic" else 64)  # fmt: skip
        while True:
            effort = self.effort.level_for(route)
            try:
                await self._once(route, probe, effort, [False])
                return effort
            except LLMError:
                raise
            except Exception as exc:
                err = classify(exc, model, route.key_env)
                if effort is None or not is_effort_rejection(err):
                    raise err from None
                self.effort.heal(route, effort)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str,
        tools: list[dict[str, Any]] | None = None,
        stream: bool | None = None,
        on_chunk: OnChunk | None = None,
        on_retry: OnRetry | None = None,
        max_tokens: int | None = None,
        extra: dict[str, Any] | None = None,
        cache_key: str | None = None,
    ) -> LLMResult:
        """One completion. Overflow and permanent errors raise :class:`LLMError` at once (the
        caller compacts or tells the person); rate limits and transient errors are retried."""
        route = self.route(model)
        request = _Request(messages, tools, stream, on_chunk, max_tokens, extra, cache_key)
        thinking_ok = True
        attempt = 0
        heals = 0
        while True:
            effort = self.effort.level_for(route) if thinking_ok else None
            streamed: list[bool] = [False]
            try:
                return await self._once(route, request, effort, streamed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                err = classify(exc, model, route.key_env)
            if heals < MAX_HEALS and effort is not None and is_effort_rejection(err):
                heals += 1
                lower = self.effort.heal(route, effort)
                await _notify(
                    on_retry,
                    LLMError(
                        EFFORT_HEALED, f"effort {effort} → {lower or 'off'}", original=err.original
                    ),
                    0,
                    0.0,
                )
                continue
            if heals < MAX_HEALS and thinking_ok and is_thinking_history_rejection(err):
                heals += 1
                thinking_ok = False
                await _notify(
                    on_retry,
                    LLMError(THINKING_HEALED, "thinking history dropped", original=err.original),
                    0,
                    0.0,
                )
                continue
            attempt += 1
            if err.kind == CONTEXT_OVERFLOW or not err.retryable or streamed[0]:
                raise err from None
            if attempt > self.config.llm_max_retries:
                raise err from None
            base = self.config.llm_retry_base_s * (
                _RATE_LIMIT_BASE_FACTOR if err.kind == RATE_LIMIT else 1.0
            )
            delay = backoff_delay(
                attempt, base=base, cap=self.config.llm_retry_max_s, retry_after=err.retry_after
            )
            await _notify(on_retry, err, attempt, delay)
            await asyncio.sleep(delay)

    async def _once(
        self, route: routing.Route, request: _Request, effort: str | None, streamed: list[bool]
    ) -> LLMResult:
        """One attempt at ``effort`` (None: no reasoning, and no thinking sent back).
        ``streamed[0]`` becomes True once text reached ``on_chunk`` (a retry would repeat it)."""
        messages, tools, max_tokens = request.messages, request.tools, request.max_tokens
        use_stream = self.config.stream if request.stream is None else request.stream
        if (
            effort is not None
            and route.provider == "anthropic"
            and caching.unsigned_tool_turn(messages)
        ):
            effort = None
        wire = caching.shape_messages(route, messages, thinking=effort is not None)
        if caching.caches_with_markers(route):
            wire, tools = caching.apply_markers(wire, tools)
        kwargs: dict[str, Any] = {**route.kwargs, "messages": wire, "timeout": self.config.llm_timeout_s,
                                  "num_retries": 0, "max_retries": 0}  # fmt: skip
        if tools:
            kwargs["tools"] = tools
            kwargs["tool_choice"] = "auto"
        if max_tokens is None and route.provider == "anthropic":
            max_tokens = pricing.max_output_tokens(route)
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        _merge(kwargs, effort_kwargs(route, effort))
        _merge(kwargs, caching.cache_kwargs(route, request.cache_key))
        if request.extra:
            _merge(kwargs, request.extra)
        started = time.perf_counter()
        if use_stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {"include_usage": True}
        if uses_fast_path(route, self.config):
            response = await self.fast.complete(kwargs, stream=use_stream)
        else:
            if _litellm is None:  # a later switch to a litellm model: import off the loop
                await asyncio.to_thread(get_litellm)
            response = await get_litellm().acompletion(**kwargs)
        if response is None:
            # litellm's answer to an HTTP 422 it could not fix by dropping params: TGI and
            # friends use 422 for "inputs + max_new_tokens exceed the context".
            raise unprocessable_overflow()
        if use_stream:
            result, usage_obj = await _consume_stream(response, request.on_chunk, streamed)
        else:
            result, usage_obj = _from_response(response)
        result.content, result.tool_calls = finalize_calls(
            result.content, result.tool_calls, history_call_ids(messages)
        )
        if result.finish_reason == "content_filter" and not result.tool_calls:
            result.refusal = True
            result.content = result.content or REFUSAL_TEXT
        result.latency_ms = (time.perf_counter() - started) * 1000
        result.model = route.model
        result.provider = route.provider
        result.usage = pricing.normalized_usage(usage_obj)
        result.cost_usd, result.cost_source = pricing.call_cost(route, usage_obj)
        return result


def _provider_finished(response: Any, finish_reason: str | None) -> bool:
    """Whether the provider itself ended the answer. litellm closes every stream with a
    synthetic ``stop`` chunk; its wrapper records whether the provider sent a real one."""
    if hasattr(response, "received_finish_reason"):
        return bool(
            response.received_finish_reason or getattr(response, "intermittent_finish_reason", None)
        )
    return finish_reason is not None


async def _notify(on_retry: OnRetry | None, err: LLMError, attempt: int, delay: float) -> None:
    if on_retry is not None:
        await on_retry(err, attempt, delay)


def _merge(kwargs: dict[str, Any], more: dict[str, Any]) -> None:
    """Add ``more``; ``extra_body`` / ``extra_headers`` dicts are merged, not replaced."""
    for key, value in more.items():
        if key in ("extra_body", "extra_headers") and isinstance(kwargs.get(key), dict):
            kwargs[key] = {**kwargs[key], **value}
        else:
            kwargs[key] = value


def _get(obj: Any, key: str) -> Any:
    """A field of a fast-path event (a dict) or of a litellm object, alike."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _reasoning(part: Any) -> str:
    """Reasoning text of a delta or message: ``reasoning_content``, or ``reasoning`` (vLLM,
    OpenRouter), which litellm renames to ``reasoning_content`` — the fast path reads both."""
    return _get(part, "reasoning_content") or _get(part, "reasoning") or ""


def _from_response(response: Any) -> tuple[LLMResult, Any]:
    choices = _get(response, "choices") or [{}]
    choice = choices[0]
    message = _get(choice, "message") or {}
    calls = []
    for tc in _get(message, "tool_calls") or []:
        fn = _get(tc, "function") or {}
        calls.append({"id": _get(tc, "id") or "", "name": _get(fn, "name") or "",
                      "arguments": _get(fn, "arguments") or ""})  # fmt: skip
    thinking = ThinkingAssembler()
    for block in _get(message, "thinking_blocks") or []:
        thinking.feed(dict(block))
    result = LLMResult(
        content=_get(message, "content") or "",
        tool_calls=calls,
        finish_reason=_get(choice, "finish_reason"),
        thinking_blocks=thinking.blocks,
        reasoning_content=_reasoning(message),
    )
    return result, _get(response, "usage")


async def _consume_stream(
    response: Any, on_chunk: OnChunk | None, streamed: list[bool]
) -> tuple[LLMResult, Any]:
    """Accumulate text, tool calls (keyed by index and id), thinking and usage; forward text
    (minus tool-call markup) as it comes."""
    text: list[str] = []
    reasoning: list[str] = []
    calls = CallAssembler()
    thinking = ThinkingAssembler()
    markup = MarkupFilter()
    finish_reason: str | None = None
    usage_obj: Any = None
    size = 0  # characters assembled (text, reasoning, tool arguments): bounded

    async def forward(piece: str) -> None:
        if piece and on_chunk is not None:
            streamed[0] = True
            await on_chunk(piece)

    # A consumer that stops early (an interrupt) must hand the connection back at once.
    closing = (
        contextlib.aclosing(response) if hasattr(response, "aclose") else contextlib.nullcontext()
    )
    async with closing:
        async for chunk in response:
            if _get(chunk, "usage"):
                usage_obj = _get(chunk, "usage")
            choices = _get(chunk, "choices")
            if not choices:
                continue
            choice = choices[0]
            finish_reason = _get(choice, "finish_reason") or finish_reason
            delta = _get(choice, "delta")
            if delta is None:
                continue
            blocks = _get(delta, "thinking_blocks")
            for block in blocks or []:
                thinking.feed(dict(block))
            piece = _reasoning(delta)
            if piece and not blocks:
                reasoning.append(piece)
                size += len(piece)
            content = _get(delta, "content")
            if content:
                text.append(content)
                size += len(content)
                await forward(markup.feed(content))
            for tc in _get(delta, "tool_calls") or []:
                fn = _get(tc, "function")
                arguments = fn and _get(fn, "arguments")
                size += len(arguments or "")
                calls.feed(_get(tc, "index"), _get(tc, "id"), fn and _get(fn, "name"), arguments)
            if size > MAX_ANSWER_CHARS:
                raise LLMError(BAD_REQUEST, ANSWER_TOO_LARGE, original=ANSWER_TOO_LARGE)
    await forward(markup.flush())
    result = LLMResult(
        content="".join(text),
        tool_calls=calls.calls(),
        finish_reason=finish_reason,
        thinking_blocks=thinking.blocks,
        reasoning_content="".join(reasoning),
    )
    if not _provider_finished(response, finish_reason):
        if not streamed[0]:
            raise _StreamEndedEarly()
        # Text already reached a person: a silent retry would repeat it. Keep what came,
        # say it was cut, and drop calls whose arguments may be incomplete.
        result.content += CUT_OFF_NOTE
        result.tool_calls = []
        result.finish_reason = "incomplete"
    return result, usage_obj


__all__ = [
    "LLMClient",
    "LLMError",
    "LLMResult",
    "TRANSIENT",
    "context_window",
    "count_tokens",
    "get_litellm",
]
