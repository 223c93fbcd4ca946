"""What both of Slack's delivery transports share: turning an event into an envelope.

Slack delivers one Events API envelope either over a Socket Mode connection
(:mod:`.socket_mode`) or as a signed HTTP request (:mod:`.http_events`); building the envelope
(``event_id``, ``event_time``, ``retry_attempt``/``retry_reason``) is the same for both, so it
lives here and each transport only says how an envelope travels (``push_envelope``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tests.fakes.slack import payloads
from tests.fakes.slack.records import Ack
from tests.fakes.slack.state import SlackState


class EventDelivery:
    """Base of the two transports: ``send_event`` on top of the transport's ``push_envelope``."""

    state: SlackState

    async def push_envelope(
        self,
        envelope: dict[str, Any],
        *,
        ack_timeout: float | None = None,
        connection: int | None = None,
        avoid: Collection[int] = (),
    ) -> Ack:
        raise NotImplementedError

    async def send_event(
        self,
        event: dict[str, Any],
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        *,
        ack_timeout: float | None = None,
        connection: int | None = None,
        avoid: Collection[int] = (),
    ) -> Ack:
        """Deliver an Events API event; returns once the app acked (``Ack.envelope`` to
        redeliver). ``connection``/``avoid`` pick a Socket Mode connection or an HTTP URL."""
        envelope = payloads.event_envelope(
            event,
            fallback_ts=self.state.next_ts(),
            event_id=event_id,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
        return await self.push_envelope(
            envelope, ack_timeout=ack_timeout, connection=connection, avoid=avoid
        )
