"""``slack_webhook`` provider: POST the Slack rendering to an incoming-webhook URL.

Incoming webhooks answer ``200 ok`` or an HTTP error with a short text reason
(``invalid_payload``, ``no_service``, ``channel_not_found``, ``channel_is_archived``…);
429 carries Retry-After. A rejected block payload is re-sent once as plain text.
"""

from __future__ import annotations

import logging

import httpx

from agent_core.retry import retry_after_from_headers

from ..config import SlackWebhookDestination
from ..notification import Envelope
from ..render import render_slack, to_mrkdwn
from .base import DeliveryContext, RetryableError, Shared, http_status_error

log = logging.getLogger(__name__)


class SlackWebhookSender:
    def __init__(self, shared: Shared, config: SlackWebhookDestination) -> None:
        self.shared = shared
        self.config = config

    async def _post(self, body: dict) -> httpx.Response:
        try:
            return await self.shared.http.post(
                self.config.url, json=body, timeout=self.shared.delivery.timeout_s
            )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise RetryableError(f"network error: {exc!r}") from exc

    async def deliver(self, envelope: Envelope, ctx: DeliveryContext) -> str | None:
        n = envelope.notification
        permalink = await self.shared.slack.permalink(n.origin)
        mention = n.requester if envelope.mention_requester else None
        payload = render_slack(n, permalink=permalink, mention=mention)
        resp = await self._post({**payload, "unfurl_links": False, "unfurl_media": False})
        if resp.status_code == 400 and "invalid_blocks" in resp.text:
            log.warning("%s: webhook rejected the blocks; sending text only", ctx.destination)
            text = payload["text"] + ("\n" + to_mrkdwn(n.message) if n.message else "")
            resp = await self._post({"text": text[:3900], "unfurl_links": False})
        if 200 <= resp.status_code < 300:
            return None
        raise http_status_error(resp.status_code, resp.text, retry_after_from_headers(resp.headers))
