"""Sorting LLM failures into what to do about them.

litellm's exception classes decide first (they are what providers map to); the error text
decides second, because many gateways wrap a 429 or a context overflow in a generic 400/500.
The result tells the loop whether to retry, how long to wait, whether compaction can help, and
what to tell a person — never a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

RATE_LIMIT = "rate_limit"
TRANSIENT = "transient"
CONTEXT_OVERFLOW = "context_overflow"
AUTH = "auth"
NOT_FOUND = "not_found"
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
)
_AUTH_TEXT = ("authentication", "unauthorized", "invalid x-api-key", "invalid api key", "401")


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
    """Read Retry-After (seconds or ms variants) from the provider response, if any."""
    candidates: list[Any] = []
    for attr in ("response", "litellm_response_headers", "headers"):
        obj = getattr(exc, attr, None)
        if obj is None:
            continue
        headers = getattr(obj, "headers", obj)
        candidates.append(headers)
    for headers in candidates:
        try:
            getter = headers.get
        except AttributeError:
            continue
        for key in ("retry-after-ms", "Retry-After-Ms", "retry-after", "Retry-After"):
            value = getter(key)
            if value in (None, ""):
                continue
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                continue
            return seconds / 1000 if key.lower().endswith("-ms") else seconds
    return None


def _kind_from_class(exc: BaseException) -> str | None:
    try:
        import litellm
    except Exception:  # pragma: no cover - litellm is a hard dependency
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


def classify(exc: BaseException, model: str = "") -> LLMError:
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
    if kind == OTHER and "BadRequest" in type(exc).__name__:
        kind = BAD_REQUEST
    if isinstance(exc, TimeoutError | ConnectionError):
        kind = TRANSIENT
    return LLMError(
        kind=kind,
        message=friendly_message(kind, text, model),
        retry_after=_retry_after_from(exc),
        original=_short(text, 1000),
    )


def friendly_message(kind: str, text: str, model: str = "") -> str:
    """A message a user can act on."""
    who = f" for model `{model}`" if model else ""
    if kind == AUTH:
        return (
            f"The LLM provider rejected the credentials{who}. Check the API key "
            "(HF_TOKEN for Hugging Face router models, OPENAI_API_KEY / ANTHROPIC_API_KEY for "
            "others) and restart the bot."
        )
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
    if kind == BAD_REQUEST:
        return f"The LLM provider refused the request{who}: {_short(text, 240)}"
    return f"The LLM call failed{who}: {_short(text, 240)}"


def backoff_delay(
    kind: str, attempt: int, retry_after: float | None, base: float, cap: float
) -> float:
    """Seconds to wait before retry ``attempt`` (1-based). Retry-After wins when given."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cap) if cap > 0 else retry_after
    factor = 3.0 if kind == RATE_LIMIT else 1.0
    return min(base * factor * (2 ** (attempt - 1)), cap)
