"""OpenAI's chat-completions wire, written and read without litellm or the openai SDK.

Request: the same body and headers litellm (through the openai SDK) sends for a call built from
the same litellm kwargs — the ``openai/`` prefix stripped from the model (a router ``:tag``
kept), ``extra_body`` merged into the body and ``extra_headers`` into the headers, only the
route's own key as ``Authorization: Bearer``, and the OpenAI parameter rules litellm applies
(``max_completion_tokens`` for the o-series and gpt-5 family, ``reasoning_effort`` dropped
for models litellm's map lists without reasoning, a system prompt sent as a user message to
o-series models not listed with system-message support). ``tests/integration/test_llm_wire_parity.py``
records both transports against the same fake and compares.

Response: Server-Sent Events (``data:`` lines, multi-line events, ``: ping`` comments,
``data: [DONE]``), an ``error`` object in a data line mid-stream (the HF router and vLLM send
one), a JSON body where a stream was asked for (an error, or a server that ignored
``stream``). Every line, body and stream is size-bounded, so a hostile or broken server cannot make the
bot buffer without limit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp.http_exceptions import LineTooLong

from . import model_map
from .errors import ProviderError, provider_message

MAX_EVENT_BYTES = 8 * 1024 * 1024
"""The largest SSE line (one delta) accepted; a bigger one ends the call with a clear error."""
MAX_BODY_BYTES = 32 * 1024 * 1024
"""The largest non-streamed body accepted."""
MAX_STREAM_BYTES = 256 * 1024 * 1024
"""The most a stream may send (a maximal legitimate answer, ~128k tokens one event each, is
~30 MB of SSE); what it assembles is bounded separately (``client.MAX_ANSWER_CHARS``)."""
_SENT_ELSEWHERE = frozenset(
    {"model", "api_base", "api_key", "timeout", "num_retries", "max_retries", "extra_body",
     "extra_headers", "messages", "tools"}
)  # fmt: skip
_REASONING_SERIES = ("gpt-5", "gpt-6")


def wire_model(litellm_model: str) -> str:
    """The model as the host sees it: litellm's ``openai/`` provider prefix removed."""
    return litellm_model[len("openai/") :] if litellm_model.startswith("openai/") else litellm_model


def _o_series(model: str) -> bool:
    """litellm's o-series test: ``o<digit>…`` and listed as an OpenAI chat model."""
    name = model.split("/")[-1]
    if len(name) > 1 and name[0] == "o" and name[1].isdigit():
        info = model_map.model_cost().get(name)
        return bool(
            info and info.get("litellm_provider") == "openai" and info.get("mode") == "chat"
        )
    return False


def _reasoning_family(model: str) -> bool:
    """litellm's o-series / gpt-5 rules (``max_tokens`` is ``max_completion_tokens`` there)."""
    name = model.split("/")[-1]
    if any(m in model for m in _REASONING_SERIES) and "gpt-5-chat" not in name:
        return True
    return _o_series(model)


def request_body(
    kwargs: Mapping[str, Any], tools_json: str | None, drop: frozenset[str] = frozenset()
) -> bytes:
    """The JSON body for litellm-style ``kwargs``; ``tools_json`` is the tools list already
    encoded (:class:`ToolSchemas`), spliced in instead of re-encoding ~20 KB per call;
    ``drop`` names parameters a 422 refused (:func:`refused_params`)."""
    model = wire_model(str(kwargs["model"]))
    info = model_map.model_info(model, "openai")
    messages = kwargs["messages"]
    if _o_series(model) and not (info or {}).get("supports_system_messages"):
        messages = [
            {"role": "user", "content": m.get("content")} if m.get("role") == "system" else m
            for m in messages
        ]
    body: dict[str, Any] = {"messages": messages, "model": model}
    for key, value in kwargs.items():
        if key not in _SENT_ELSEWHERE and value is not None:
            body[key] = value
    if "max_tokens" in body and _reasoning_family(model):
        body["max_completion_tokens"] = body.pop("max_tokens")
    if "reasoning_effort" in body and info is not None and not info.get("supports_reasoning"):
        del body["reasoning_effort"]  # litellm's drop_params for a model without reasoning
    extra = kwargs.get("extra_body")
    if isinstance(extra, Mapping):
        body.update(extra)
    for key in drop - {"messages", "model"}:
        body.pop(key, None)
    if "tools" in drop:
        tools_json = None
    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if tools_json is not None:
        encoded = f'{encoded[:-1]},"tools":{tools_json}}}'
    return encoded.encode("utf-8")


def request_headers(kwargs: Mapping[str, Any], *, stream: bool) -> dict[str, str]:
    """Content type, the route's key (its own host only) and the call's extra headers."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    key = kwargs.get("api_key")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    extra = kwargs.get("extra_headers")
    if isinstance(extra, Mapping):
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers


def refused_params(raw: bytes) -> frozenset[str]:
    """The parameters a 422 names as invalid (a FastAPI validation ``detail`` inside the
    error's message): litellm drops them and sends once more, and so does the fast path."""
    try:
        body = json.loads(raw)
    except ValueError:
        return frozenset()
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            message = {"detail": message}
    detail = message.get("detail") if isinstance(message, dict) else None
    if not isinstance(detail, list):
        return frozenset()
    return frozenset(
        str(d["loc"][1])
        for d in detail
        if isinstance(d, dict) and isinstance(d.get("loc"), list) and len(d["loc"]) == 2
    )


class ToolSchemas:
    """Tool lists encoded once: the router hands a session the same list object until its set
    of tools changes, so the encoding is keyed by that object (held, so the id stays valid)."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._cache: dict[int, tuple[list[dict[str, Any]], str]] = {}

    def encode(self, tools: list[dict[str, Any]] | None) -> str | None:
        if not tools:
            return None
        hit = self._cache.get(id(tools))
        if hit is not None and hit[0] is tools:
            return hit[1]
        encoded = json.dumps(tools, ensure_ascii=False, separators=(",", ":"))
        if len(self._cache) >= self._size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[id(tools)] = (tools, encoded)
        return encoded


class StreamTooLarge(ProviderError):
    """The provider sent more than the bounds above: never retried (it would do it again)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            400, f"The provider's response was too large ({what}); the call was stopped."
        )


def error_in(event: Any) -> ProviderError | None:
    """An error object inside a 200 (a data line mid-stream, or a JSON body)."""
    if not isinstance(event, dict):
        return None
    error = event.get("error")
    if error is None and event.get("object") == "error":
        error = event  # vLLM's bare ErrorResponse
    if error is None:
        return None
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and 400 <= code < 600 else None
    if status is None:
        kind = str(error.get("type") or "") if isinstance(error, dict) else ""
        status = 400 if "invalid_request" in kind or "BadRequest" in kind else 500
    return ProviderError(status, provider_message(status, json.dumps(event)))


async def sse_events(content: Any) -> AsyncIterator[dict[str, Any]]:
    """Parsed ``data:`` events from an aiohttp ``StreamReader`` until ``[DONE]`` or the end.
    Lines are read with aiohttp's bounded ``readline``; an error event raises."""
    data: list[str] = []
    total = 0
    while True:
        try:
            line = await content.readline(max_line_length=MAX_EVENT_BYTES)
        except LineTooLong:
            raise StreamTooLarge(f"one event over {MAX_EVENT_BYTES // (1024 * 1024)} MiB") from None
        total += len(line)
        if total > MAX_STREAM_BYTES:
            raise StreamTooLarge(f"a stream over {MAX_STREAM_BYTES // (1024 * 1024)} MiB")
        at_end = not line
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text and not at_end:
            if text.startswith(":"):
                continue  # a comment: keep-alive ": ping"
            field, _, value = text.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
            continue  # event:, id:, retry: carry nothing chat completions use
        if data:
            payload = "\n".join(data)
            data = []
            if payload.strip() == "[DONE]":
                return
            try:
                event = json.loads(payload)
            except ValueError:
                raise ProviderError(
                    502, f"The provider sent a malformed event: {payload[:200]}"
                ) from None
            failure = error_in(event)
            if failure is not None:
                raise failure
            yield event
        if at_end:
            return


def as_stream_event(body: Mapping[str, Any]) -> dict[str, Any]:
    """A whole completion (a server that ignored ``stream: true``) as one stream event."""
    choices = []
    for choice in body.get("choices") or []:
        message = dict(choice.get("message") or {})
        calls = message.get("tool_calls")
        if calls:
            message["tool_calls"] = [{"index": i, **tc} for i, tc in enumerate(calls)]
        choices.append({"index": choice.get("index", 0), "delta": message,
                        "finish_reason": choice.get("finish_reason")})  # fmt: skip
    return {"choices": choices, "usage": body.get("usage")}
