"""``slack`` provider: ``chat.postMessage`` to a channel, a user's DM, or the requester's DM.

Calls go through slack_sdk's ``AsyncWebClient(base_url=SLACK_API_BASE_URL)`` with its built-in
retry handlers switched off: retries belong to the durable outbox, which honours Retry-After
across restarts and never blocks other destinations while one waits. Both rate-limit shapes
count — HTTP 429 and HTTP 200 ``{"ok": false, "error": "ratelimited"}``.

:class:`SlackDirectory` holds the per-token clients and two caches — thread permalinks
(``chat.getPermalink``) and DM channels (``conversations.open``) — so a burst of notifications
about one thread costs one lookup.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from agent_core.retry import retry_after_from_headers

from ..notification import Envelope
from ..render import render_slack, to_mrkdwn
from .base import DeliveryContext, DeliveryError, PermanentError, RetryableError, Shared
from .slack_errors import RATE_LIMITED, error_code, is_retryable
from .slack_mrkdwn import escape

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://slack.com/api/"
_NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, OSError)


def classify_slack_error(exc: SlackApiError) -> DeliveryError:
    """SlackApiError → retryable (429/5xx/ratelimited…) or permanent (invalid_auth, …)."""
    resp = exc.response
    status = int(getattr(resp, "status_code", 0) or 0)
    error = error_code(resp)
    retry_after = retry_after_from_headers(getattr(resp, "headers", None))
    if status == 429 or error in RATE_LIMITED:
        return RetryableError(f"rate limited ({error or 'HTTP 429'})", retry_after)
    if is_retryable(status, error):
        return RetryableError(error or f"HTTP {status}", retry_after)
    return PermanentError(error or f"HTTP {status}")


class SlackDirectory:
    """Web API clients per token plus cached permalinks and DM channels."""

    def __init__(self, *, base_url: str, bot_token: str | None, timeout_s: float) -> None:
        self.base_url = base_url
        self.bot_token = bot_token
        self.timeout = max(int(timeout_s), 1)
        self._clients: dict[str, AsyncWebClient] = {}
        self._permalinks: dict[tuple[str, str], str] = {}
        self._dms: dict[tuple[str, str], str] = {}

    def client(self, token: str) -> AsyncWebClient:
        if token not in self._clients:
            self._clients[token] = AsyncWebClient(
                token=token, base_url=self.base_url, timeout=self.timeout, retry_handlers=[]
            )
        return self._clients[token]

    async def permalink(self, origin: dict[str, Any]) -> str | None:
        """The thread's permalink, or None (no Slack origin, no token, or lookup failed).

        A failed lookup only costs the link, never the notification.
        """
        channel, ts = origin.get("channel"), origin.get("thread_ts")
        if not (channel and ts and self.bot_token):
            return None
        if origin.get("platform") not in (None, "slack"):
            return None
        key = (str(channel), str(ts))
        if key not in self._permalinks:
            try:
                resp = await self.client(self.bot_token).chat_getPermalink(
                    channel=key[0], message_ts=key[1]
                )
            except (SlackClientError, *_NETWORK_ERRORS) as exc:
                log.info("chat.getPermalink failed for %s/%s: %s", key[0], key[1], exc)
                return None
            link = resp.get("permalink")
            if not link:
                return None
            self._permalinks[key] = str(link)
        return self._permalinks[key]

    async def open_dm(self, token: str, user: str) -> str:
        """The DM channel id with ``user`` (``conversations.open``), cached per token."""
        key = (token, user)
        if key not in self._dms:
            try:
                resp = await self.client(token).conversations_open(users=user)
            except SlackApiError as exc:
                raise classify_slack_error(exc) from exc
            except _NETWORK_ERRORS as exc:
                raise RetryableError(f"network error: {exc!r}") from exc
            channel = (resp.get("channel") or {}).get("id")
            if not channel:
                raise PermanentError(f"conversations.open returned no channel for {user}")
            self._dms[key] = str(channel)
        return self._dms[key]

    async def close(self) -> None:
        self._clients.clear()


def _is_user_id(channel: str) -> bool:
    return channel[:1] in ("U", "W") and channel[1:].isalnum() and channel.isupper()


class SlackSender:
    """One ``slack`` destination. ``channel=None`` means "the notification's requester" (DM)."""

    def __init__(
        self,
        shared: Shared,
        *,
        channel: str | None,
        token: str,
        username: str | None = None,
        icon_emoji: str | None = None,
    ) -> None:
        self.shared = shared
        self.channel = channel
        self.token = token
        self.username = username
        self.icon_emoji = icon_emoji

    async def _target(self, envelope: Envelope) -> tuple[str, bool]:
        """(channel id to post in, whether it is the requester's own DM)."""
        requester = envelope.notification.requester
        if self.channel is None:
            if not requester:
                raise PermanentError("the session has no requester to DM")
            return await self.shared.slack.open_dm(self.token, requester), True
        if _is_user_id(self.channel):
            dm = await self.shared.slack.open_dm(self.token, self.channel)
            return dm, self.channel == requester
        return self.channel, False

    async def deliver(self, envelope: Envelope, ctx: DeliveryContext) -> str | None:
        n = envelope.notification
        channel, is_requester_dm = await self._target(envelope)
        mention = n.requester if envelope.mention_requester and not is_requester_dm else None
        permalink = await self.shared.slack.permalink(n.origin)
        payload = render_slack(n, permalink=permalink, mention=mention)
        extra: dict[str, Any] = {}
        if self.username:
            extra["username"] = self.username
        if self.icon_emoji:
            extra["icon_emoji"] = self.icon_emoji
        client = self.shared.slack.client(self.token)
        try:
            try:
                resp = await client.chat_postMessage(
                    channel=channel,
                    text=payload["text"],
                    blocks=payload["blocks"],
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata={
                        "event_type": "ml_intern_notification",
                        "event_payload": {"key": ctx.key},
                    },
                    **extra,
                )
            except SlackApiError as exc:
                if classify_slack_error(exc).reason not in (
                    "invalid_blocks",
                    "msg_blocks_too_long",
                ):
                    raise
                # Blocks rejected: still tell the person, in plain mrkdwn.
                log.warning(
                    "%s: Slack rejected the blocks (%s); sending text only", ctx.destination, exc
                )
                text = payload["text"] + ("\n" + to_mrkdwn(n.message) if n.message else "")
                if permalink:
                    text += f"\n<{permalink}|{escape('Open thread')}>"
                resp = await client.chat_postMessage(
                    channel=channel, text=text[:3900], unfurl_links=False, **extra
                )
        except SlackApiError as exc:
            raise classify_slack_error(exc) from exc
        except _NETWORK_ERRORS as exc:
            raise RetryableError(f"network error: {exc!r}") from exc
        return str(resp.get("ts") or "") or None
