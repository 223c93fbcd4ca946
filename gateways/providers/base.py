"""What a provider is: something that delivers one :class:`Envelope` and says how it went.

A provider raises :class:`RetryableError` (try later, maybe after ``retry_after`` seconds) or
:class:`PermanentError` (trying again cannot help: bad token, unknown channel, a 4xx). The
outbox worker turns those into row states; providers never sleep or loop themselves, so a
Retry-After wait survives a restart and never holds up another destination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx

    from ..config import DeliveryConfig
    from ..notification import Envelope
    from .slack import SlackDirectory


class DeliveryError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryableError(DeliveryError):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    pass


@dataclass
class DeliveryContext:
    """Per-attempt facts a provider may use."""

    key: str  # the idempotency key: stable across retries and restarts
    destination: str
    attempt: int


@dataclass
class Shared:
    """Process-wide resources the providers share (one HTTP pool, one Slack directory)."""

    http: httpx.AsyncClient
    slack: SlackDirectory
    delivery: DeliveryConfig


class Provider(Protocol):
    async def deliver(self, envelope: Envelope, ctx: DeliveryContext) -> str | None:
        """Send once. Returns the provider's id for the message (Slack ts) if it has one."""
        ...


def http_status_error(status: int, body: str, retry_after: float | None) -> DeliveryError:
    """Classify an HTTP answer the same way for every HTTP-speaking provider."""
    snippet = " ".join((body or "").split())[:200]
    reason = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 429:
        return RetryableError(f"rate limited ({reason})", retry_after)
    if status in (408, 425) or status >= 500:
        return RetryableError(reason, retry_after)
    return PermanentError(reason)
