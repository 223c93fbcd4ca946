"""Retry timing, decided in one place for every layer (LLM client, Slack sender, gateways).

Two questions only: "how long did the server ask us to wait?" (:func:`parse_retry_after`,
:func:`retry_after_from_headers`) and "how long do we wait before attempt N?"
(:func:`backoff_delay`). *Whether* an error is worth retrying stays with the code that knows
the protocol (litellm's error classes, Slack's error codes, HTTP statuses); *when* is here.

A server's ``Retry-After`` is a floor that is never shortened — retrying earlier only earns
another refusal — but it is capped, so a bogus "retry in a week" cannot park a caller forever.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

_RETRY_AFTER_MS_KEYS = ("retry-after-ms",)
_RETRY_AFTER_KEYS = ("retry-after",)


def parse_retry_after(value: Any, *, now: float | None = None) -> float | None:
    """Seconds to wait from one ``Retry-After`` value: delta-seconds, a number, or an HTTP date.

    Lists (some clients give header values as lists) use their first element. Anything
    unreadable is ``None`` — the caller then falls back to its own backoff.
    """
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(float(value), 0.0)
    text = str(value).strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(when - (time.time() if now is None else now), 0.0)


def retry_after_from_headers(headers: Mapping[str, Any] | None) -> float | None:
    """The wait a response's headers ask for, in seconds (any capitalisation).

    ``retry-after-ms`` (OpenAI, Anthropic) wins over ``retry-after`` because it is more precise.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in dict(headers).items()}
    for key in _RETRY_AFTER_MS_KEYS:
        ms = parse_retry_after(lowered.get(key))
        if ms is not None:
            return ms / 1000.0
    for key in _RETRY_AFTER_KEYS:
        seconds = parse_retry_after(lowered.get(key))
        if seconds is not None:
            return seconds
    return None


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    retry_after_cap: float | None = None,
    jitter: bool = True,
) -> float:
    """Seconds to wait before retrying, ``attempt`` being the number of tries already made (≥ 1).

    Exponential from ``base`` up to ``cap``, with ±20 % jitter so many callers that failed
    together do not retry together; a server's ``retry_after`` is the floor (capped by
    ``retry_after_cap``, default ``cap``).
    """
    delay = min(base * (2 ** max(attempt - 1, 0)), cap) if base > 0 else 0.0
    if jitter and delay > 0:
        delay *= random.uniform(0.8, 1.2)
    if retry_after is not None and retry_after >= 0:
        ceiling = cap if retry_after_cap is None else retry_after_cap
        delay = max(delay, min(retry_after, ceiling) if ceiling > 0 else retry_after)
    return delay
