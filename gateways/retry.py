"""When to try a failed delivery again — the one place retry timing is decided.

Transient failures (timeouts, 5xx, 429, Slack ``ratelimited``) back off exponentially with a
little jitter; a ``Retry-After`` from the server is a floor, never shortened, only capped so a
bogus "retry in a week" cannot park a destination forever.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

from .config import DeliveryConfig


def parse_retry_after(value: str | float | int | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None or value == "":
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


def backoff_delay(
    attempts: int, cfg: DeliveryConfig, retry_after: float | None = None, *, jitter: bool = True
) -> float:
    """Delay before attempt ``attempts + 1``; ``attempts`` counts tries already made (≥ 1)."""
    delay = min(cfg.backoff_base_s * (2 ** max(attempts - 1, 0)), cfg.backoff_max_s)
    if jitter and delay > 0:
        delay *= random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cfg.retry_after_cap_s))
    return delay
