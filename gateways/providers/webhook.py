"""``webhook`` provider: a signed JSON POST to any URL.

Body: :func:`gateways.render.render_webhook` (``type: "ml_intern.notification"``,
``version: 1``). Headers: ``Content-Type: application/json``, ``X-ML-Intern-Event``,
``X-ML-Intern-Delivery`` and ``Idempotency-Key`` (the same stable key on every retry, so a
receiver can drop duplicates), and with a ``secret`` the ``X-ML-Intern-Timestamp`` /
``X-ML-Intern-Signature`` pair described in :mod:`gateways.signing`.

Answers: 2xx delivered; 408/425/429/5xx and network errors retried (Retry-After honoured);
3xx and other 4xx are permanent (redirects are not followed: configure the final URL).
"""

from __future__ import annotations

import json
import time

import httpx

from agent_core.retry import retry_after_from_headers

from ..config import WebhookDestination
from ..notification import Envelope
from ..render import render_webhook
from ..signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from .base import DeliveryContext, RetryableError, Shared, http_status_error

USER_AGENT = "ml-intern-slack-notifier/1"


class WebhookSender:
    def __init__(self, shared: Shared, config: WebhookDestination) -> None:
        self.shared = shared
        self.config = config

    def build_request(
        self, envelope: Envelope, ctx: DeliveryContext, thread_url: str | None, now: float
    ) -> tuple[bytes, dict[str, str]]:
        """The exact bytes and headers sent (pure, so the signature is testable)."""
        n = envelope.notification
        doc = render_webhook(
            n, delivery_id=ctx.key, destination=ctx.destination, thread_url=thread_url
        )
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            **self.config.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: n.event_type,
            DELIVERY_HEADER: ctx.key,
            "Idempotency-Key": ctx.key,
        }
        if self.config.secret:
            timestamp = str(int(now))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(self.config.secret, body, timestamp)
        return body, headers

    async def deliver(self, envelope: Envelope, ctx: DeliveryContext) -> str | None:
        thread_url = await self.shared.slack.permalink(envelope.notification.origin)
        body, headers = self.build_request(envelope, ctx, thread_url, time.time())
        try:
            resp = await self.shared.http.post(
                self.config.url,
                content=body,
                headers=headers,
                timeout=self.shared.delivery.timeout_s,
            )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise RetryableError(f"network error: {exc!r}") from exc
        if 200 <= resp.status_code < 300:
            return resp.headers.get("X-Request-Id") or None
        if 300 <= resp.status_code < 400:
            location = resp.headers.get("Location", "?")
            raise http_status_error(
                resp.status_code, f"redirected to {location}; configure the final URL", None
            )
        raise http_status_error(resp.status_code, resp.text, retry_after_from_headers(resp.headers))
