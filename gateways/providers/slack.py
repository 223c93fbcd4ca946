"""``slack`` provider: ``chat.postMessage`` to a channel, a user's DM, or the requester's DM.

Calls go through slack_sdk's ``AsyncWebClient(base_url=SLACK_API_BASE_URL)`` with its built-in
retry handlers switched off: retries belong to the durable outbox, which honours Retry-After
across restarts and never blocks other destinations while one waits. Both rate-limit shapes
count — HTTP 429 and HTTP 200 ``{"ok": false, "error": "ratelimited"}``.

:class:`SlackDirectory` holds the per-token clients (on one shared HTTP session), the
workspace URL and the DM channels (``conversations.open``), each looked up once. The thread
link is built in Slack's documented permalink form, ``<workspace url>archives/<channel>/p<ts
without the dot>``, from the workspace URL ``auth.test`` returns — one call per process
instead of a ``chat.getPermalink`` per thread (issue 18: fewer Web API calls per turn).
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
    """Web API clients per token plus the workspace URL and cached DM channels."""

    def __init__(self, *, base_url: str, bot_token: str | None, timeout_s: float) -> None:
        self.base_url = base_url
        self.bot_token = bot_token
        self.timeout = max(int(timeout_s), 1)
        self._clients: dict[str, AsyncWebClient] = {}
        self._http: aiohttp.ClientSession | None = None
        self._workspace_url: str | None = None
        self._dms: dict[tuple[str, str], str] = {}

    def client(self, token: str) -> AsyncWebClient:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()  # one connection pool for every token
            self._clients.clear()
        if token not in self._clients:
            self._clients[token] = AsyncWebClient(
                token=token,
                base_url=self.base_url,
                timeout=self.timeout,
                retry_handlers=[],
                session=self._http,
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
        base = await self.workspace_url()
        if base is None:
            return None
        return thread_permalink(base, str(channel), str(ts))

    async def workspace_url(self) -> str | None:
        """``auth.test``'s ``url`` (``https://<team>.slack.com/``), asked once per process;
        None while Slack cannot tell (asked again next time)."""
        if self._workspace_url is None and self.bot_token:
            try:
                resp = await self.client(self.bot_token).auth_test()
            except (SlackClientError, *_NETWORK_ERRORS) as exc:
                log.info("auth.test failed, notifications go without a thread link: %s", exc)
                return None
            url = resp.get("url")
            self._workspace_url = str(url) if url else None
        return self._workspace_url

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
        if self._http is not None:
            await self._http.close()
            self._http = None


def thread_permalink(workspace_url: str, channel: str, thread_ts: str) -> str:
    """The permalink of a thread's root message, in the form ``chat.getPermalink`` returns
    (``https://ghostbusters.slack.com/archives/C1H9RESGA/p135854651500008`` in its docs)."""
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{thread_ts.replace('.', '')}"


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
