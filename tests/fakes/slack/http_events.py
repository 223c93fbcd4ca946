"""The HTTP Events API side of Slack: signed POSTs to the app's request URL, and retries.

What Slack does, and this fake reproduces (sources beside each rule):

* Every request is signed (docs.slack.dev, "Verifying requests from Slack"): the base string
  ``v0:{X-Slack-Request-Timestamp}:{raw body}`` is HMAC-SHA256'd with the app's signing
  secret; the hex digest, prefixed ``v0=``, is the ``X-Slack-Signature`` header. Apps must
  refuse timestamps more than five minutes from their clock (replays).
* Events (``event_callback``) and the ``url_verification`` handshake are JSON bodies
  (docs.slack.dev, "The Events API" → "Receiving events"; the ``url_verification`` event
  reference: ``{"token", "challenge", "type": "url_verification"}``, answered with the
  challenge). Interactivity payloads (``block_actions``, ``view_submission``) are
  ``application/x-www-form-urlencoded`` with a single ``payload`` field holding the JSON
  (docs.slack.dev, "Handling user interaction" → "Preparing your app for user interactions").
  Slash commands are form-encoded too, one field per key of the command's data (``command``,
  ``text``, ``user_id``, ``channel_id``, ``response_url``, ``trigger_id``, …) with no
  ``payload`` wrapper (docs.slack.dev, "Implementing slash commands" → "Preparing your app").
* An event whose request did not get a 2xx within 3 seconds, or got a 5xx, is retried up
  to 3 times (nearly immediately, after 1 minute, after 5 minutes) with
  ``X-Slack-Retry-Num: 1..3`` and ``X-Slack-Retry-Reason`` (``http_timeout``,
  ``http_error``, …) (docs.slack.dev, "The Events API" → "Failure conditions"; the delays
  are scaled by ``retry_delays`` so tests do not wait minutes). Interactivity is not retried:
  the person sees an error instead.

The body of each delivery is the ``payload`` of the Socket Mode envelope built by
:mod:`tests.fakes.slack.payloads`: Slack sends the same JSON over both transports
(api.slack.com/apis/socket-mode: "the payload is the same as the HTTP request body").
:class:`HttpEvents` offers ``push_envelope`` / ``send_event`` / ``redeliver`` with the Socket
Mode part's signatures, so :class:`~tests.fakes.slack.people.People` acts the same way over
either transport; ``post`` sends any raw body for the adversarial tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack.event_delivery import EventDelivery
from tests.fakes.slack.records import VERIFICATION_TOKEN, Ack, AckTimeout
from tests.fakes.slack.state import SlackState

RESPONSE_TIMEOUT_S = 3.0  # Slack's limit for the app's HTTP response
MAX_RETRIES = 3
# Slack waits ~0 s, 60 s and 300 s before retries 1..3; tests scale this down.
SLACK_RETRY_DELAYS_S = (0.0, 60.0, 300.0)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Slack-Signature`` for ``body`` sent at ``timestamp`` (unix seconds, as a string)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """One HTTP request the fake sent, and what the app answered (status 0: no answer in
    time, Slack's ``http_timeout``)."""

    kind: str  # event_callback, url_verification, block_actions, view_submission, raw
    retry_num: int
    status: int
    body: str
    latency_s: float
    event_id: str | None
    url: str = ""  # which request URL (replica) got it
    sent: tuple[bytes, dict[str, str]] = (b"", {})  # the request as sent (to replay it)


class DeliveryFailed(AckTimeout):
    """Slack gave up: every attempt timed out or was answered with an error status."""


class HttpEvents(EventDelivery):
    """Delivers what Slack sends to ``request_url`` over HTTP, signed with ``signing_secret``.

    ``request_url`` may be a list: the replicas behind a load balancer, which gets each request
    (a retry included) in turn, round robin — so a retry usually lands on another replica.
    """

    def __init__(
        self,
        state: SlackState,
        request_url: str | Sequence[str],
        signing_secret: str,
        *,
        response_timeout: float = RESPONSE_TIMEOUT_S,
        retry_delays: tuple[float, ...] = (0.0, 0.0, 0.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.request_urls = [request_url] if isinstance(request_url, str) else list(request_url)
        self._next_url = 0
        self.signing_secret = signing_secret
        self.response_timeout = response_timeout
        self.retry_delays = retry_delays
        self.clock = clock  # the wall clock the timestamps come from (step it for replays)
        self.deliveries: list[Delivery] = []

    # ------------------------------------------------------------------ raw requests
    def headers(
        self, body: bytes, content_type: str, *, timestamp: str | None = None
    ) -> dict[str, str]:
        """The headers Slack sends with ``body``: content type, timestamp, signature."""
        ts = timestamp if timestamp is not None else str(int(self.clock()))
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(self.signing_secret, ts, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    async def post(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float | None = None,
        kind: str = "raw",
        retry_num: int = 0,
        event_id: str | None = None,
    ) -> Delivery:
        """POST ``body`` as given (no signing here: adversarial tests forge headers)."""
        started = time.monotonic()
        url = self._pick_url()
        limit = self.response_timeout if timeout is None else timeout
        status, text = 0, ""
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    url,
                    data=body,
                    headers=dict(headers),
                    timeout=aiohttp.ClientTimeout(total=limit),
                ) as response,
            ):
                status, text = response.status, await response.text()
        except (TimeoutError, aiohttp.ServerTimeoutError):
            status = 0
        delivery = Delivery(
            kind,
            retry_num,
            status,
            text,
            time.monotonic() - started,
            event_id,
            url,
            (body, dict(headers)),
        )
        self.deliveries.append(delivery)
        self.state.changed()
        return delivery

    def _pick_url(self) -> str:
        url = self.request_urls[self._next_url % len(self.request_urls)]
        self._next_url += 1
        return url

    # ------------------------------------------------------------------ what Slack sends
    async def push_envelope(
        self,
        envelope: dict[str, Any],
        *,
        ack_timeout: float | None = None,
        connection: int | None = None,
        avoid: Collection[int] = (),
    ) -> Ack:
        """Deliver a Socket Mode-shaped envelope's payload as Slack's HTTP request would
        carry it; retries events like Slack. Returns the successful answer as an :class:`Ack`
        (its ``payload``: the JSON body the app answered, e.g. a ``response_action``).

        ``connection`` / ``avoid`` (Socket Mode's steering) have no meaning over HTTP, where
        the load balancer picks the replica: a pinned connection is refused."""
        if connection is not None:
            raise ValueError("HTTP delivery has no connections to pin (the load balancer picks)")
        payload = envelope["payload"]
        self.state.envelopes.append(envelope)
        if envelope.get("type") == "interactive":
            body = urlencode({"payload": json.dumps(payload)}).encode()
            content_type = "application/x-www-form-urlencoded"
            attempts = 1  # Slack does not retry interactivity
        elif envelope.get("type") == "slash_commands":
            body = urlencode({k: str(v) for k, v in payload.items()}).encode()
            content_type = "application/x-www-form-urlencoded"
            attempts = 1
        else:
            body = json.dumps(payload).encode()
            content_type = "application/json"
            attempts = 1 + MAX_RETRIES
        kind = str(payload.get("type") or envelope.get("type"))  # slash_commands: no "type"
        event_id = payload.get("event_id")
        first_retry = int(envelope.get("retry_attempt") or 0)
        reason = str(envelope.get("retry_reason") or "")
        last: Delivery | None = None
        for attempt in range(attempts):
            retry_num = first_retry + attempt
            if attempt:
                await asyncio.sleep(self.retry_delays[min(attempt, len(self.retry_delays)) - 1])
            headers = self.headers(body, content_type)
            if retry_num:
                headers["X-Slack-Retry-Num"] = str(retry_num)
                headers["X-Slack-Retry-Reason"] = reason or "http_timeout"
            last = await self.post(
                body,
                headers,
                timeout=ack_timeout,
                kind=kind,
                retry_num=retry_num,
                event_id=event_id,
            )
            if 200 <= last.status < 300:
                return self._ack(envelope, last)
            reason = "http_timeout" if last.status == 0 else "http_error"
            if retry_num >= MAX_RETRIES:
                break
        assert last is not None
        raise DeliveryFailed(
            f"{kind} {event_id or envelope.get('envelope_id')}: no 2xx after "
            f"{len([d for d in self.deliveries if d.event_id == event_id])} attempt(s) "
            f"(last status {last.status or 'timeout'}: {last.body[:200]!r})"
        )

    def _ack(self, envelope: dict[str, Any], delivery: Delivery) -> Ack:
        answer: dict[str, Any] | None = None
        if delivery.body.strip().startswith("{"):
            try:
                answer = json.loads(delivery.body)
            except ValueError:
                answer = None
        ack = Ack(
            str(envelope.get("envelope_id") or uuid.uuid4()),
            delivery.latency_s,
            answer,
            envelope,
            time.monotonic(),
        )
        self.state.acks.append(ack)
        self.state.changed()
        return ack

    async def redeliver(
        self,
        envelope: dict[str, Any] | Ack,
        retry_attempt: int = 1,
        retry_reason: str = "http_timeout",
        *,
        ack_timeout: float | None = None,
        connection: int | None = None,
        avoid: Collection[int] = (),
    ) -> Ack:
        """Send an event again as Slack's retry does: same body, ``X-Slack-Retry-Num``."""
        if isinstance(envelope, Ack):
            if envelope.envelope is None:
                raise ValueError("this Ack has no envelope")
            envelope = envelope.envelope
        again = json.loads(json.dumps(envelope))
        again["retry_attempt"] = retry_attempt
        again["retry_reason"] = retry_reason
        return await self.push_envelope(
            again, ack_timeout=ack_timeout, connection=connection, avoid=avoid
        )

    async def url_verification(self, challenge: str | None = None) -> Delivery:
        """The handshake Slack sends when the request URL is saved in the app settings."""
        body = json.dumps(
            {
                "token": VERIFICATION_TOKEN,
                "challenge": challenge or uuid.uuid4().hex,
                "type": "url_verification",
            }
        ).encode()
        return await self.post(
            body, self.headers(body, "application/json"), kind="url_verification"
        )

    def answered(self, event_id: str) -> list[Delivery]:
        """The deliveries of one event that got a 2xx."""
        return [d for d in self.deliveries if d.event_id == event_id and 200 <= d.status < 300]
