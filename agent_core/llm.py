"""The engine's only door to language models: litellm, streamed, with bounded retries.

``import litellm`` costs seconds, so it happens on first use, never on the path that connects
to Slack and acks events. Model ids with a litellm provider prefix (``openai/…``,
``anthropic/…``) go to litellm as they are; bare Hub ids (``moonshotai/Kimi-K2.6``) go to the
Hugging Face router as an OpenAI-compatible endpoint, as upstream does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .llm_errors import CONTEXT_OVERFLOW, LLMError, backoff_delay, classify

log = logging.getLogger(__name__)

KNOWN_PROVIDER_PREFIXES = frozenset(
    """openai anthropic azure azure_ai gemini vertex_ai bedrock ollama ollama_chat groq mistral
    together_ai deepseek fireworks_ai openrouter xai cohere perplexity hosted_vllm lm_studio
    vllm cerebras nvidia_nim sambanova databricks watsonx text-completion-openai litellm_proxy
    custom_openai friendliai cloudflare replicate ai21 nlp_cloud deepinfra anyscale""".split()
)
FALLBACK_CONTEXT_WINDOW = 200_000

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


@dataclass
class LLMResult:
    content: str
    tool_calls: list[dict[str, str]]  # {"id", "name", "arguments" (raw JSON text)}
    finish_reason: str | None
    usage: dict[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0
    model: str = ""


def resolve_model_params(model: str, config: Config) -> dict[str, Any]:
    """litellm kwargs for a model id (provider routing and keys)."""
    model = model.strip()
    if model.startswith("huggingface/"):
        model = model[len("huggingface/") :]
    prefix = model.split("/", 1)[0] if "/" in model else ""
    if prefix in KNOWN_PROVIDER_PREFIXES or "/" not in model:
        return {"model": model}
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    params: dict[str, Any] = {"model": f"openai/{model}", "api_base": config.hf_router_url}
    if token:
        params["api_key"] = token
    return params


def context_window(model: str, config: Config) -> int:
    """The model's input window from litellm's table; 200k when unknown (upstream default)."""
    if config.context_window:
        return config.context_window
    litellm = get_litellm()
    candidates = [model, resolve_model_params(model, config)["model"]]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for name in candidates:
        try:
            info = litellm.get_model_info(name)
        except Exception:
            continue
        value = info.get("max_input_tokens") or info.get("max_tokens")
        if value:
            return int(value)
    return FALLBACK_CONTEXT_WINDOW


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


class LLMClient:
    """Calls a model with streaming and retries. One instance per process."""

    def __init__(self, config: Config) -> None:
        self.config = config

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
    ) -> LLMResult:
        """One completion with bounded retries for rate limits and transient failures.

        A context overflow is never retried here (compaction is the caller's remedy); every
        other error is classified into an :class:`LLMError`.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._once(messages, model, tools, stream, on_chunk, max_tokens, extra)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                err = classify(exc, model)
                if err.kind == CONTEXT_OVERFLOW or not err.retryable:
                    raise err from None
                if attempt > self.config.llm_max_retries:
                    raise err from None
                delay = backoff_delay(
                    err.kind,
                    attempt,
                    err.retry_after,
                    self.config.llm_retry_base_s,
                    self.config.llm_retry_max_s,
                )
                if on_retry is not None:
                    await on_retry(err, attempt, delay)
                await asyncio.sleep(delay)

    async def _once(
        self,
        messages: list[dict[str, Any]],
        model: str,
        tools: list[dict[str, Any]] | None,
        stream: bool | None,
        on_chunk: OnChunk | None,
        max_tokens: int | None,
        extra: dict[str, Any] | None,
    ) -> LLMResult:
        litellm = get_litellm()
        use_stream = self.config.stream if stream is None else stream
        kwargs: dict[str, Any] = {
            **resolve_model_params(model, self.config),
            "messages": messages,
            "timeout": self.config.llm_timeout_s,
            "num_retries": 0,
            "max_retries": 0,
        }
        if tools:
            kwargs["tools"] = tools
            kwargs["tool_choice"] = "auto"
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        if self.config.reasoning_effort:
            effort = self.config.reasoning_effort
            kwargs["reasoning_effort"] = {"minimal": "low", "xhigh": "high", "max": "high"}.get(
                effort, effort
            )
        if extra:
            kwargs.update(extra)
        started = time.perf_counter()
        if not use_stream:
            response = await litellm.acompletion(**kwargs)
            result = _result_from_response(response)
        else:
            kwargs["stream"] = True
            kwargs["stream_options"] = {"include_usage": True}
            response = await litellm.acompletion(**kwargs)
            result = await _consume_stream(response, on_chunk)
        result.latency_ms = (time.perf_counter() - started) * 1000
        result.model = model
        return result


def _usage_dict(usage: Any) -> dict[str, int]:
    if not usage:
        return {}
    out: dict[str, int] = {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = getattr(usage, key, None)
        if value is None and isinstance(usage, dict):
            value = usage.get(key)
        if isinstance(value, int):
            out[key] = value
    return out


def _result_from_response(response: Any) -> LLMResult:
    choice = response.choices[0]
    message = choice.message
    calls = []
    for tc in getattr(message, "tool_calls", None) or []:
        fn = tc.function
        calls.append({"id": tc.id or "", "name": fn.name or "", "arguments": fn.arguments or ""})
    return LLMResult(
        content=message.content or "",
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        usage=_usage_dict(getattr(response, "usage", None)),
    )


async def _consume_stream(response: Any, on_chunk: OnChunk | None) -> LLMResult:
    """Accumulate text and tool-call fragments by index; forward text deltas as they come."""
    content_parts: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish_reason: str | None = None
    usage: dict[str, int] = {}
    async for chunk in response:
        if getattr(chunk, "usage", None):
            usage = _usage_dict(chunk.usage) or usage
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.finish_reason:
            finish_reason = choice.finish_reason
        delta = choice.delta
        if delta is None:
            continue
        text = getattr(delta, "content", None)
        if text:
            content_parts.append(text)
            if on_chunk is not None:
                await on_chunk(text)
        for tc in getattr(delta, "tool_calls", None) or []:
            idx = tc.index if tc.index is not None else len(calls)
            slot = calls.setdefault(idx, {"id": "", "name": "", "arguments": ""})
            if tc.id:
                slot["id"] = tc.id
            fn = tc.function
            if fn is not None:
                if fn.name:
                    slot["name"] += fn.name
                if fn.arguments:
                    slot["arguments"] += fn.arguments
    return LLMResult(
        content="".join(content_parts),
        tool_calls=[calls[i] for i in sorted(calls)],
        finish_reason=finish_reason,
        usage=usage,
    )
