"""Sorting LLM failures into what to do about them — one rule for both transports.

litellm's exception classes decide first (they are what providers map to), the HTTP status
next (the fast path's :class:`ProviderError` carries it, as litellm's exceptions do); the
error text decides last, because many gateways wrap a 429 or a context overflow in a generic
400/500. The result tells the loop whether to retry, how long to wait, whether compaction can
help, and what to tell a person — never a traceback. What a person reads is the provider's own
message, without litellm's ``litellm.XError: XError: OpenAIException -`` wrapping, so the same
failure reads the same whichever transport carried the call.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..retry import retry_after_from_headers

RATE_LIMIT = "rate_limit"
TRANSIENT = "transient"
CONTEXT_OVERFLOW = "context_overflow"
AUTH = "auth"
NOT_FOUND = "not_found"
BILLING = "billing"
BAD_REQUEST = "bad_request"
OTHER = "other"

_RATE_TEXT = (
    "429",
    "rate limit",
    "rate_limit",
    "ratelimit",
    "too many requests",
    "too many tokens",
    "request limit",
    "throttl",
)
_TRANSIENT_TEXT = (
    "timeout",
    "timed out",
    "503",
    "service unavailable",
    "502",
    "bad gateway",
    "500",
    "internal server error",
    "overloaded",
    "capacity",
    "connection reset",
    "connection refused",
    "connection error",
    "eof",
    "broken pipe",
    "temporarily unavailable",
)
_OVERFLOW_TEXT = (
    "context window exceeded",
    "context_length_exceeded",
    "maximum context length",
    "max context length",
    "prompt is too long",
    "context length exceeded",
    "too many input tokens",
    "input is too long",
    "exceeds the context window",
    "input validation error: `inputs` tokens",  # TGI answers overflow with HTTP 422
    "exceeds maximum input length",
)
_AUTH_TEXT = (
    "authentication",
    "unauthorized",
    "invalid x-api-key",
    "invalid api key",
    "401",
    "missing credentials",  # the openai SDK, before sending anything, when no key was given
    "api_key client option must be set",
    "invalid credentials in authorization header",  # the HF router
)
# Out of credits (the HF router answers 402; providers word it in a 400/429).
_BILLING_TEXT = ("exceeded your monthly included credits", "insufficient credit", "credit balance is too low",
                 "payment required", "insufficient_quota")  # fmt: skip
# The router has no host for this model (or not the one named after ':').
_UNROUTABLE_TEXT = (
    "not supported by provider",
    "not supported by any provider",
    "no provider supports",
)
# A model that rejects the requested reasoning effort (or thinking altogether).
_EFFORT_TEXT = re.compile(
    r"(effort|output_config|reasoning).{0,80}(invalid|not supported|must be one of|not a valid|"
    r"unrecognized|unknown|only supported by|unsupported)|thinking.{0,40}(not supported|unsupported)",
    re.IGNORECASE | re.DOTALL,
)
# Thinking blocks in history the provider will not take back (altered, unsigned or missing).
_THINKING_HISTORY_TEXT = (
    "invalid `signature` in `thinking` block",
    "invalid `data` in `redacted_thinking` block",
    "expected `thinking` or `redacted_thinking`",
    "an `assistant` message in the final position cannot contain `thinking`",
)


class ProviderError(Exception):
    """An HTTP failure on the fast path: the status, the response headers (``Retry-After``)
    and the provider's message, worded as the openai SDK words it (so litellm, which wraps that
    SDK, and the fast path show people the same text)."""

    def __init__(self, status_code: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.headers: Mapping[str, str] = headers or {}


class ProviderConnectionError(ConnectionError):
    """No answer on the fast path (refused, reset, timed out, cut mid-stream): transient."""


def provider_message(status: int, raw: bytes | str) -> str:
    """The message of an error response, as the openai SDK (and so litellm) states it: the
    ``error.message`` of an OpenAI-shaped body, else ``Error code: <status> - <body>``, else
    the body's text."""
    import json

    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    try:
        body: Any = json.loads(text)
    except ValueError:
        return _short(text, 2000) or f"Error code: {status}"
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return f"Error code: {status} - {_short(str(body), 2000)}"


# litellm's wrapping of a provider message: "litellm.RateLimitError: RateLimitError:
# OpenAIException - <message>", "litellm.Timeout: APITimeoutError - <message>".
_LITELLM_WRAPPING = re.compile(r"^(?:(?:litellm\.\w+|\w+(?:Error|Exception))\s*(?::|\s-)\s*)+")


def provider_text(text: str) -> str:
    """``text`` without litellm's exception-class wrapping (what the provider said)."""
    return _LITELLM_WRAPPING.sub("", text, count=1) or text


@dataclass
class LLMError(Exception):
    """A classified LLM failure. ``message`` is safe to show to a user."""

    kind: str
    message: str
    retry_after: float | None = None
    original: str = ""

    def __str__(self) -> str:
        return self.message

    @property
    def retryable(self) -> bool:
        return self.kind in (RATE_LIMIT, TRANSIENT)


def _retry_after_from(exc: BaseException) -> float | None:
    """The provider's Retry-After. litellm keeps the real headers on ``litellm_response_headers``
    (``exc.response`` is a rebuilt dummy without them)."""
    for attr in ("litellm_response_headers", "headers", "response"):
        obj = getattr(exc, attr, None)
        headers = getattr(obj, "headers", obj)
        try:
            found = retry_after_from_headers(headers)
        except (TypeError, ValueError):
            continue
        if found is not None:
            return found
    return None


def is_effort_rejection(err: LLMError) -> bool:
    """The model refused the reasoning effort we asked for (next: a lower level)."""
    return err.kind in (BAD_REQUEST, OTHER) and bool(_EFFORT_TEXT.search(err.original))


def is_thinking_history_rejection(err: LLMError) -> bool:
    """The provider will not accept the thinking blocks in history (next: strip them)."""
    low = err.original.lower()
    return any(p in low for p in _THINKING_HISTORY_TEXT)


def _kind_from_class(exc: BaseException) -> str | None:
    # Only litellm raises litellm's classes: a fast-path failure must not import it.
    litellm = sys.modules.get("litellm")
    if litellm is None:
        return None
    checks: list[tuple[str, str]] = [
        ("ContextWindowExceededError", CONTEXT_OVERFLOW),
        ("RateLimitError", RATE_LIMIT),
        ("AuthenticationError", AUTH),
        ("PermissionDeniedError", AUTH),
        ("NotFoundError", NOT_FOUND),
        ("Timeout", TRANSIENT),
        ("APIConnectionError", TRANSIENT),
        ("InternalServerError", TRANSIENT),
        ("ServiceUnavailableError", TRANSIENT),
        ("BadGatewayError", TRANSIENT),
    ]
    for name, kind in checks:
        cls = getattr(litellm, name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return kind
    return None


def _kind_from_status(exc: BaseException) -> str | None:
    """The HTTP status, when the provider gave one: litellm's class mapping depends on the
    message wording, the status code does not."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return None
    if status in (401, 403):
        return AUTH
    if status == 413:  # the request body is over the host's limit: compaction shrinks it
        return CONTEXT_OVERFLOW
    if status == 429:
        return RATE_LIMIT
    if status == 404:
        return NOT_FOUND
    if status in (408, 409) or status >= 500:
        return TRANSIENT
    return None


def _kind_from_text(text: str) -> str | None:
    low = text.lower()
    if any(p in low for p in _OVERFLOW_TEXT):
        return CONTEXT_OVERFLOW
    if any(p in low for p in _RATE_TEXT):
        return RATE_LIMIT
    if any(p in low for p in _AUTH_TEXT):
        return AUTH
    if any(p in low for p in _TRANSIENT_TEXT):
        return TRANSIENT
    return None


def _short(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify(exc: BaseException, model: str = "", key_env: str | None = None) -> LLMError:
    """Turn any exception from an LLM call into an :class:`LLMError`."""
    if isinstance(exc, LLMError):
        return exc
    text = str(exc) or type(exc).__name__
    by_class = _kind_from_class(exc)
    by_status = _kind_from_status(exc)
    by_text = _kind_from_text(text)
    if by_status == AUTH or (by_status and by_class in (None, BAD_REQUEST)):
        by_class = by_status
    # Gateways often report overflow or 429 inside a generic error class: text wins then.
    if by_text in (CONTEXT_OVERFLOW, RATE_LIMIT) and by_class not in (AUTH,):
        kind = by_text
    else:
        kind = by_class or by_text or OTHER
    if kind == OTHER and (
        "BadRequest" in type(exc).__name__ or getattr(exc, "status_code", None) in (400, 422)
    ):
        kind = BAD_REQUEST
    if isinstance(exc, TimeoutError | ConnectionError):
        kind = TRANSIENT
    if getattr(exc, "status_code", None) == 402 or any(p in text.lower() for p in _BILLING_TEXT):
        kind = BILLING  # permanent until someone adds credit: never retried
    if by_text == AUTH and kind == TRANSIENT and "missing credentials" in text.lower():
        kind = AUTH  # litellm wraps the SDK's "Missing credentials" as an internal server error
    return LLMError(
        kind=kind,
        message=friendly_message(kind, provider_text(text), model, key_env),
        retry_after=_retry_after_from(exc),
        original=_short(text, 1000),
    )


def friendly_message(kind: str, text: str, model: str = "", key_env: str | None = None) -> str:
    """A message a user can act on."""
    who = f" for model `{model}`" if model else ""
    if kind == AUTH:
        fix = (
            f"check the API key in {key_env}"
            if key_env
            else "check the API key (HF_TOKEN for Hugging Face router models, OPENAI_API_KEY / "
            "ANTHROPIC_API_KEY for others)"
        )
        return f"The LLM provider rejected the credentials{who}: {fix} and restart the bot."
    if kind == RATE_LIMIT:
        return f"The LLM provider kept rate-limiting requests{who}; try again in a minute."
    if kind == TRANSIENT:
        return f"The LLM provider is unavailable right now{who} ({_short(text, 160)}). Try again shortly."
    if kind == CONTEXT_OVERFLOW:
        return (
            "The conversation no longer fits in the model's context window, even after "
            "compacting it. Start a new thread, or `undo` the last large step."
        )
    if kind == NOT_FOUND:
        return (
            f"The model{who} was not found at the provider. Switch with `model <id>` "
            "(e.g. `model openai/gpt-4o-mini`)."
        )
    if kind == BILLING:
        return (
            f"The LLM provider refused the request{who} for lack of credit ({_short(text, 160)}). "
            f"Add credit to the account behind {key_env or 'the API key'}, or switch with `model <id>`."
        )
    if any(p in text.lower() for p in _UNROUTABLE_TEXT):
        return (
            f"No inference provider serves model `{model}` through the Hugging Face router as "
            "written. Drop the `:provider` suffix, or switch with `model <id>`."
        )
    if kind == BAD_REQUEST:
        return f"The LLM provider refused the request{who}: {_short(text, 240)}"
    return f"The LLM call failed{who}: {_short(text, 240)}"


def unprocessable_overflow() -> LLMError:
    """HTTP 422 without a recognisable reason: TGI and friends use it for "inputs +
    max_new_tokens exceed the context" (litellm answers it with no response at all)."""
    return LLMError(
        CONTEXT_OVERFLOW,
        "context overflow",
        original="HTTP 422 unprocessable request (no response)",
    )
