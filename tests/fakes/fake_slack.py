"""A local, strict Slack emulator: Web API + Socket Mode + webhooks on one aiohttp server.

Why it exists
-------------
The bot is a slack_bolt ``AsyncApp`` driven over Socket Mode. Unit tests with mocks
cannot tell us whether the *real* Bolt/slack_sdk stack, talking the real wire format,
produces the right Slack-side outcome (threaded reply, edited message, shared file,
acked envelope). This emulator lets tests run the real stack against
``http://127.0.0.1:<port>/api/`` and assert on Slack-side *state*, with no network.

It is strict on purpose: wrong tokens, missing arguments, oversize text/blocks, unknown
timestamps and rate limits fail the way Slack fails (``ok:false`` + error code, or
HTTP 429 + ``Retry-After``), so code that passes here does not blow up in production.

Bot side: the only requirement is an injectable base URL::

    client = AsyncWebClient(token=fake.bot_token, base_url=fake.base_url)
    app = AsyncApp(client=client)
    handler = AsyncSocketModeHandler(app, app_token=fake.app_token)  # build inside the loop
    await handler.connect_async()

Test side::

    async with FakeSlack() as fake:
        ...                                   # connect the bot as above
        ts, ack = await fake.mention("train bert", channel="C1")
        reply = await fake.wait_for_message("C1", thread_ts=ts, predicate=lambda m: m.is_bot)
        ack = await fake.click_button("C1", reply.ts, "approve")
        await fake.wait_for_call("chat.update")
        fake.fail_next("chat.postMessage", status=429, retry_after=1)
        fake.enable_rate_limits()             # Slack tiers, off by default

Endpoints served (all on one port)
----------------------------------
``/api/<method>``            Web API (query string + form + JSON bodies merged)
``/link/?ticket=…``          Socket Mode WebSocket (``hello`` on connect, autoping on)
``/upload/v1/<file_id>``     upload URL handed out by files.getUploadURLExternal (no auth)
``/files-pri/…``             file download (bot token required)
``/services/<id…>``          incoming webhooks (text ``ok``)
``/response_url/<id>``       response_url of interactive payloads (applies replace/delete)
``/archives/<C>/p<ts>``      permalink target
``/_control/…``              control API for out-of-process drivers (see below)

Control API (CLI / benchmark mode)
----------------------------------
``python -m tests.fakes.fake_slack --port 0`` prints ``READY http://127.0.0.1:PORT/api/``
and serves until SIGINT/SIGTERM. The control base is the same origin + ``/_control``.
All bodies are JSON; every answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": …}``.

=========================  =================================================================
``GET  /_control/health``  ``{base_url, ws_connections}``
``POST /_control/mention`` ``{text, channel?, user?, thread_ts?}`` -> ``{ts, ack}``
``POST /_control/message`` ``{text, channel?, user?, thread_ts?, channel_type?}`` -> ``{ts, ack}``
``POST /_control/dm``      ``{text, user?}`` -> ``{ts, channel, ack}``
``POST /_control/event``   ``{event, event_id?, retry_attempt?, retry_reason?}`` -> ``{ack}``
``POST /_control/click``   ``{channel, message_ts, action_id, value?, user?, block_id?}``
``POST /_control/submit_view`` ``{view, values?, user?, private_metadata?}``
``POST /_control/add_message`` ``{channel, user, text, thread_ts?}`` -> ``{ts}``
``POST /_control/reconnect``   ``{reason?}``
``POST /_control/fail_next``   ``{method, error?, status?, retry_after?, count?, delay?}``
``POST /_control/rate_limits`` ``{enabled, methods?, overrides?: {m: {per_minute, burst, per_channel?}}}``
``POST /_control/wait_call``   ``{method, count?, timeout?}`` -> ``{call}``
``POST /_control/reset_counters`` clear calls / acks / rate_limited (state is kept)
``GET  /_control/calls?method=&since=`` -> ``{calls, total}``
``GET  /_control/acks``        -> ``{acks}``
``GET  /_control/messages?channel=&thread_ts=`` -> ``{messages}``
``GET  /_control/stats``       -> ``{calls_by_method, rate_limited, ws_connections, acks, ack_latency_s}``
``POST /_control/wait_message``   ``{channel, thread_ts?, contains?, bot_only?, timeout?}`` -> ``{message}``
``POST /_control/wait_connected`` ``{min_opened?, timeout?}`` -> ``{connected_at, connections_opened}``
``POST /_control/find_messages``  ``{queries: [{channel, thread_ts?, contains}]}`` -> ``{found}``
=========================  =================================================================

Timestamps for out-of-process benchmarks: acks returned by the control API carry
``sent_at``/``acked_at`` and messages carry ``created_at``/``changed_at`` (``changed_at``: the
last post/edit/stream append). They are ``time.monotonic()`` values, i.e. Linux
``CLOCK_MONOTONIC``, which is one clock for every process on the host, so a driver process can
subtract them from its own ``time.monotonic()`` readings. They are real time even when a fake
``clock`` is injected (that clock only drives rate limits, trigger expiry and streams).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import mimetypes
import re
import secrets
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import WSMsgType, web

try:  # imported as part of the ``tests`` package (pytest, ``python -m``)
    from tests.fakes import slack_limits as limits
except ImportError:  # pragma: no cover - loaded by path
    import slack_limits as limits  # type: ignore[no-redef]

log = logging.getLogger("fake_slack")

TEAM_ID = "T111"
TEAM_DOMAIN = "fake-team"
TEAM_NAME = "Fake Team"
APP_ID = "A111"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_NAME = "ml-intern"
WEBHOOK_BOT_ID = "B0HOOK"
VERIFICATION_TOKEN = "fake-verification-token"
OAUTH_SCOPES = (
    "app_mentions:read,assistant:write,channels:history,chat:write,files:read,files:write,"
    "groups:history,im:history,im:write,reactions:write,usergroups:read,users:read"
)
MAX_WEBSOCKETS = 10  # Slack refuses an 11th concurrent Socket Mode connection

_CHANNEL_ID_RE = re.compile(r"^[CDG][A-Z0-9]+$")
_USER_ID_RE = re.compile(r"^[UW][A-Z0-9]+$")
_TS_RE = re.compile(r"^\d+\.\d+$")
_MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata", "chunks", "loading_messages")


# --------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request the bot made, as the emulator saw it (after it was answered).

    ``encoding`` ("json", "form", "query", "raw", combined with "+") documents what the
    SDK actually put on the wire, which is the point of asserting against a fake.
    """

    method: str
    args: dict[str, Any]
    token: str | None
    time: float  # time.monotonic() at arrival
    http_method: str = "POST"
    encoding: str = ""
    status: int = 200
    response: Any = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        if isinstance(self.response, dict):
            return self.response.get("ok") is True
        return self.status == 200

    @property
    def error(self) -> str | None:
        if isinstance(self.response, dict):
            return self.response.get("error")
        return None if self.status == 200 else str(self.response)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "args": _jsonable(self.args),
            "time": self.time,
            "http_method": self.http_method,
            "encoding": self.encoding,
            "status": self.status,
            "ok": self.ok,
            "error": self.error,
            "duration": self.duration,
        }


@dataclass
class Message:
    """A message in a channel. Bot messages have ``bot_id``; human ones only ``user``."""

    channel: str
    ts: str
    text: str = ""
    user: str | None = None
    bot_id: str | None = None
    blocks: list[dict[str, Any]] | None = None
    attachments: list[Any] | None = None
    thread_ts: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)  # name -> user ids
    edits: list[dict[str, Any]] = field(default_factory=list)  # previous versions, oldest first
    edited_ts: str | None = None
    metadata: dict[str, Any] | None = None
    subtype: str | None = None
    reply_broadcast: bool = False
    streaming: bool = False  # between chat.startStream and chat.stopStream
    stream_started: float | None = None
    stream_stopped_by_user: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # Real monotonic times (see the module docstring): stored, and last changed.
    created_at: float = field(default_factory=time.monotonic)
    changed_at: float = field(default_factory=time.monotonic)
    version_times: list[float] = field(default_factory=lambda: [time.monotonic()])  # ↔ versions

    def first_seen(self, needle: str) -> float | None:
        """When a version of this message first contained ``needle`` (text or blocks)."""
        times = self.version_times
        versions = self.versions
        if len(times) != len(versions):  # stream appends change text in place
            times = [self.created_at] * (len(versions) - 1) + [self.changed_at]
        for version, at in zip(versions, times, strict=True):
            if needle in (version.get("text") or "") or needle in json.dumps(
                version.get("blocks") or []
            ):
                return at
        return None

    @property
    def is_bot(self) -> bool:
        return self.bot_id is not None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def versions(self) -> list[dict[str, Any]]:
        """Every text/blocks version, oldest first, current last (edit-history assertions)."""
        return [*self.edits, {"text": self.text, "blocks": self.blocks, "ts": self.edited_ts}]


class Ack(NamedTuple):
    """The bot's ack of one Socket Mode envelope."""

    envelope_id: str
    latency_s: float
    payload: dict[str, Any] | None
    envelope: dict[str, Any] | None = None
    acked_at: float = float("nan")  # time.monotonic() when the ack frame arrived

    def to_dict(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "latency_s": self.latency_s,
            "payload": self.payload,
            "type": (self.envelope or {}).get("type"),
            "sent_at": self.acked_at - self.latency_s,
            "acked_at": self.acked_at,
        }


@dataclass
class HookPost:
    """A POST to an incoming webhook or a response_url."""

    hook_id: str
    payload: dict[str, Any]
    time: float
    status: int = 200


@dataclass
class FakeFile:
    id: str
    filename: str
    length: int
    title: str | None = None
    content: bytes | None = None
    uploaded: bool = False
    completed: bool = False
    alt_txt: str | None = None
    snippet_type: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    shares: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


@dataclass
class Fault:
    """A scripted failure (or slowdown) for the next ``remaining`` matching calls."""

    method: str
    error: str | None
    status: int
    retry_after: int | None = None
    remaining: int = 1
    delay: float = 0.0
    match: Callable[[dict[str, Any]], bool] | None = None
    body: str | None = None
    passthrough: bool = False  # delay only, then answer normally


class AckTimeout(TimeoutError):
    """The bot did not ack an envelope in time (Slack would redeliver after 3 s)."""


class SlackError(Exception):
    """Raised inside Web API handlers; becomes ``{"ok": false, "error": …}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class _ChangeSignal:
    """Wake-all notification for "state changed" with timeout-bounded predicate waits.

    Same semantics as ``asyncio.Condition.wait_for`` + ``notify_all``, but ``notify_all``
    is synchronous: state is mutated from plain methods (``add_message``) as well as
    from handlers, and ``Condition.notify_all`` would require holding its lock there.
    """

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify_all(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.add(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                pass  # re-check once more, then raise above
            finally:
                self._waiters.discard(fut)


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    number: int
    ticket: str | None
    opened_at: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def open(self) -> bool:
        return not self.ws.closed

    async def send(self, obj: Mapping[str, Any]) -> None:
        async with self.lock:  # aiohttp writers must not interleave frames
            await self.ws.send_str(json.dumps(obj))


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _ts_key(ts: str) -> tuple[int, int]:
    """Exact ordering key for Slack ts strings (floats lose the last microsecond digits)."""
    sec, _, frac = ts.partition(".")
    try:
        return int(sec), int((frac + "000000")[:6])
    except ValueError:
        raise SlackError("invalid_ts_latest") from None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _rich_text_blocks(text: str) -> list[dict[str, Any]]:
    """Human messages carry rich_text blocks; bots that parse blocks need them to exist."""
    elements: list[dict[str, Any]] = []
    pos = 0
    for m in _MENTION_RE.finditer(text):
        if m.start() > pos:
            elements.append({"type": "text", "text": text[pos : m.start()]})
        elements.append({"type": "user", "user_id": m.group(1)})
        pos = m.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    return [
        {
            "type": "rich_text",
            "block_id": secrets.token_hex(3),
            "elements": [{"type": "rich_text_section", "elements": elements}],
        }
    ]


# --------------------------------------------------------------------------------------
# the emulator
# --------------------------------------------------------------------------------------


class FakeSlack:
    """One aiohttp server emulating the Slack Web API, Socket Mode and webhooks.

    Run it in the test's own event loop (``await FakeSlack().start()`` or ``async with``)
    so the bot, the fake and the test share one loop: no threads, no sleeps, and
    ``wait_for*`` helpers wake on state changes.
    """

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-1-A111-test",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        strict: bool = False,
        rate_limits: bool = False,
        clock: Callable[[], float] = time.monotonic,
        ack_timeout: float = 5.0,
        trigger_ttl: float = 3.0,
        stream_lifetime: float = 306.0,
    ) -> None:
        """
        Args:
            strict: only registered channels/users/webhooks exist (``add_channel`` …),
                unknown socket tickets are refused. Off: any well-formed C…/D…/G…/U… id is
                accepted, which keeps simple tests free of set-up noise.
            rate_limits: enforce Slack's tiers (see ``slack_limits.DEFAULT_RATE_LIMITS``).
            clock: time source for rate limits, trigger expiry and stream lifetime; inject
                a fake clock to step time in tests instead of sleeping.
            trigger_ttl: trigger_ids expire after this (Slack: 3 s).
            stream_lifetime: seconds after chat.startStream when appends start failing
                with message_not_in_streaming_state (observed ~306 s).
        """
        if not bot_token.startswith("xoxb-"):
            log.warning(
                "bot token %r does not start with xoxb-: Bolt will not set bot_user_id", bot_token
            )
        self.bot_token = bot_token
        self.app_token = app_token
        self.host = host
        self.strict = strict
        self._clock = clock
        self.ack_timeout = ack_timeout
        self.trigger_ttl = trigger_ttl
        self.stream_lifetime = stream_lifetime
        self.port: int = port
        self._runner: web.AppRunner | None = None

        # recorded traffic
        self.calls: list[Call] = []
        self.acks: list[Ack] = []
        self.envelopes: list[dict[str, Any]] = []  # every envelope pushed to the bot
        self.unexpected_frames: list[str] = []  # frames from the bot that were not acks
        self.webhook_posts: list[HookPost] = []
        self.response_url_posts: list[HookPost] = []
        self.rate_limited: Counter[str] = Counter()  # 429s served (faults + tier mode)
        self.connections_opened = 0

        # Slack-side state
        self.channels_info: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self._messages: dict[str, list[Message]] = {}  # channel -> messages in ts order
        self._by_ts: dict[tuple[str, str], Message] = {}  # indexes keep big runs O(1)
        self._replies: dict[tuple[str, str], list[Message]] = {}  # (channel, root ts) -> replies
        self.deleted_messages: list[Message] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}  # view_id -> view as Slack returns it
        self.home_views: dict[str, str] = {}  # user -> view_id
        self.files: dict[str, FakeFile] = {}
        self.statuses: list[dict[str, Any]] = []  # assistant.threads.setStatus history
        self.thread_status: dict[tuple[str, str], str] = {}  # (channel, thread_ts) -> status
        self._dm_channels: dict[str, str] = {}
        self._view_meta: dict[str, dict[str, Any]] = {}
        self._triggers: dict[str, dict[str, Any]] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}
        self._webhooks: dict[str, dict[str, Any]] = {}
        self._tickets: set[str] = set()

        # machinery
        self._faults: list[Fault] = []
        self._limiter = limits.RateLimiter(clock=clock)
        self.rate_limits_enabled = rate_limits
        self._conns: list[_Conn] = []
        self._pending_acks: dict[str, tuple[asyncio.Future[Ack], float, dict[str, Any]]] = {}
        self._signal = _ChangeSignal()
        self._last_ts_us = 0
        self._ids = itertools.count(1)

        self.add_user(BOT_USER_ID, BOT_NAME, is_bot=True)
        self.add_user("U1", "alice", real_name="Alice Example")
        self.add_user("U2", "bob", real_name="Bob Example")

        self._api: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": lambda a: {"args": a},
            "auth.test": self._api_auth_test,
            "apps.connections.open": self._api_connections_open,
            "chat.postMessage": self._api_post_message,
            "chat.update": self._api_update,
            "chat.delete": self._api_delete,
            "chat.postEphemeral": self._api_post_ephemeral,
            "chat.getPermalink": self._api_permalink,
            "chat.startStream": self._api_start_stream,
            "chat.appendStream": self._api_append_stream,
            "chat.stopStream": self._api_stop_stream,
            "reactions.add": self._api_reactions_add,
            "reactions.remove": self._api_reactions_remove,
            "reactions.get": self._api_reactions_get,
            "conversations.replies": self._api_replies,
            "conversations.history": self._api_history,
            "conversations.open": self._api_conversations_open,
            "conversations.info": self._api_conversations_info,
            "users.info": self._api_users_info,
            "usergroups.users.list": self._api_usergroup_users,
            "views.open": lambda a: self._api_views_open(a, push=False),
            "views.push": lambda a: self._api_views_open(a, push=True),
            "views.update": self._api_views_update,
            "views.publish": self._api_views_publish,
            "files.getUploadURLExternal": self._api_get_upload_url,
            "files.completeUploadExternal": self._api_complete_upload,
            "files.info": self._api_files_info,
            "assistant.threads.setStatus": self._api_set_status,
        }

    @property
    def clock(self) -> Callable[[], float]:
        """Time source for rate limits, trigger expiry and stream lifetime."""
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._limiter.clock = clock

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        """Bind a random port on 127.0.0.1 in the current loop; returns self."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/link", self._handle_link)
        app.router.add_get("/link/", self._handle_link)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{team_file}/{name}", self._handle_file_download)
        app.router.add_post("/services/{hook_id:.+}", self._handle_webhook)
        app.router.add_post("/response_url/{hook_id}", self._handle_response_url)
        app.router.add_get("/archives/{channel}/{p}", self._handle_permalink_page)
        self._add_control_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, shutdown_timeout=1.0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("fake slack listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        """Close sockets, fail pending ack waits, release the port."""
        for fut, _, _ in self._pending_acks.values():
            if not fut.done():
                fut.cancel()
        self._pending_acks.clear()
        await asyncio.gather(
            *(c.ws.close(code=1001, message=b"server shutdown") for c in list(self._conns)),
            return_exceptions=True,
        )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Web API base URL to give ``AsyncWebClient(base_url=…)``."""
        return f"{self.http_url}/api/"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/link/"

    @property
    def control_url(self) -> str:
        return f"{self.http_url}/_control/"

    # ---- directory set-up ------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_private: bool = False,
        is_member: bool = True,
    ) -> str:
        """Register a channel (needed in strict mode; gives names/membership otherwise)."""
        self.channels_info[channel_id] = {
            "id": channel_id,
            "name": name or channel_id.lower(),
            "is_channel": channel_id.startswith("C"),
            "is_group": channel_id.startswith("G"),
            "is_im": channel_id.startswith("D"),
            "is_mpim": False,
            "is_private": is_private or not channel_id.startswith("C"),
            "is_member": is_member,
            "is_archived": False,
            "created": int(time.time()),
            "context_team_id": TEAM_ID,
        }
        self._messages.setdefault(channel_id, [])
        return channel_id

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        *,
        real_name: str | None = None,
        is_bot: bool = False,
        tz: str = "UTC",
        email: str | None = None,
    ) -> dict[str, Any]:
        name = name or user_id.lower()
        real = real_name or name
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": real,
            "deleted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "is_admin": False,
            "tz": tz,
            "tz_offset": 0,
            "profile": {
                "real_name": real,
                "display_name": name,
                "email": email or f"{name}@example.com",
                "image_48": f"{self.http_url}/avatars/{user_id}.png",
                "team": TEAM_ID,
            },
        }
        if is_bot and user_id == BOT_USER_ID:
            user["profile"]["bot_id"] = BOT_ID
        self.users[user_id] = user
        return user

    def set_usergroup(self, usergroup_id: str, users: Iterable[str]) -> None:
        self.usergroups[usergroup_id] = list(users)

    def add_webhook(self, hook_id: str, channel: str | None = None) -> str:
        """Register an incoming webhook; returns its URL. With a channel, posts become messages."""
        self._webhooks[hook_id] = {"channel": channel}
        return f"{self.http_url}/services/{hook_id}"

    def webhook_url(self, hook_id: str = "T111/B111/xxxx") -> str:
        return f"{self.http_url}/services/{hook_id}"

    def dm_channel(self, user: str) -> str:
        """The IM channel id between the bot and ``user`` (created on first use)."""
        if user not in self._dm_channels:
            cid = f"D{next(self._ids):08d}"
            self._dm_channels[user] = cid
            self.channels_info.setdefault(
                cid,
                {
                    "id": cid,
                    "is_im": True,
                    "is_channel": False,
                    "is_group": False,
                    "is_private": True,
                    "is_member": True,
                    "user": user,
                    "created": int(time.time()),
                },
            )
            self._messages.setdefault(cid, [])
        return self._dm_channels[user]

    def new_trigger(self, user: str = "U1") -> str:
        """Issue a trigger_id as Slack does with every interaction (valid ``trigger_ttl`` s)."""
        trigger = f"{next(self._ids)}.{int(time.time())}.{secrets.token_hex(16)}"
        self._triggers[trigger] = {"user": user, "created": self.clock(), "used": False}
        return trigger

    # ---- state queries ---------------------------------------------------------------

    def messages(self, channel: str, *, include_replies: bool = True) -> list[Message]:
        msgs = self._messages.get(channel, [])
        return [m for m in msgs if include_replies or not m.is_reply]

    def get_message(self, channel: str, ts: str) -> Message | None:
        return self._by_ts.get((channel, ts))

    def thread_messages(
        self, channel: str, thread_ts: str, *, include_root: bool = True
    ) -> list[Message]:
        """Root (if stored and wanted) + replies in ts order."""
        root = self._by_ts.get((channel, thread_ts)) if include_root else None
        return ([root] if root is not None else []) + list(
            self._replies.get((channel, thread_ts), [])
        )

    def bot_messages(self, channel: str | None = None) -> list[Message]:
        chans = [channel] if channel is not None else list(self._messages)
        return [m for c in chans for m in self._messages.get(c, []) if m.bot_id == BOT_ID]

    def calls_for(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def calls_by_method(self) -> Counter[str]:
        return Counter(c.method for c in self.calls)

    def open_views(self, user: str | None = None) -> list[dict[str, Any]]:
        return [
            self.views[vid]
            for vid, meta in self._view_meta.items()
            if meta["open"] and (user is None or meta["user"] == user)
        ]

    @property
    def ws_connections(self) -> int:
        return sum(1 for c in self._conns if c.open)

    def reset_counters(self) -> None:
        """Forget recorded traffic (calls, acks, 429 counts) but keep Slack-side state."""
        self.calls.clear()
        self.acks.clear()
        self.envelopes.clear()
        self.rate_limited.clear()
        self.webhook_posts.clear()
        self.response_url_posts.clear()

    # ---- waiting ---------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every state change)."""
        return await self._signal.wait_for(predicate, timeout)

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> Call:
        """Wait until ``count`` answered calls of ``method`` (matching ``predicate``) exist.

        Counts every call recorded so far, not only those after the wait started; returns
        the ``count``-th match. State changes from that call are visible on return.
        """

        def found() -> Call | None:
            matching = [
                c for c in self.calls if c.method == method and (predicate is None or predicate(c))
            ]
            return matching[count - 1] if len(matching) >= count else None

        try:
            return await self._signal.wait_for(found, timeout)
        except TimeoutError:
            seen = self.calls_by_method()
            raise TimeoutError(
                f"waited {timeout}s for {count} x {method}; calls so far: {dict(seen)}"
            ) from None

    async def wait_for_message(
        self,
        channel: str,
        predicate: Callable[[Message], bool] | None = None,
        *,
        thread_ts: str | None = None,
        timeout: float = 5.0,
    ) -> Message:
        """Wait for a message in ``channel`` (optionally a reply in ``thread_ts``)."""

        def found() -> Message | None:
            pool = (
                self.thread_messages(channel, thread_ts, include_root=False)
                if thread_ts
                else self.messages(channel)
            )
            for m in pool:
                if predicate is None or predicate(m):
                    return m
            return None

        return await self._signal.wait_for(found, timeout)

    async def wait_connected(self, timeout: float = 5.0) -> int:
        """Wait for at least one open Socket Mode connection; returns the count."""
        return await self._signal.wait_for(lambda: self.ws_connections, timeout)

    def _changed(self) -> None:
        self._signal.notify_all()

    # ---- fault injection and rate limits ---------------------------------------------

    def fail_next(
        self,
        method: str,
        error: str | None = None,
        *,
        status: int = 200,
        retry_after: int | None = None,
        count: int = 1,
        delay: float = 0.0,
        match: Callable[[dict[str, Any]], bool] | None = None,
        body: str | None = None,
    ) -> Fault:
        """Make the next ``count`` calls of ``method`` fail.

        ``method`` is a Web API method, or ``"webhook"``, ``"response_url"``,
        ``"upload_url"`` for the non-API endpoints. Defaults for ``error``: HTTP 200/429 ->
        ``ratelimited`` (webhooks: ``rate_limited``), 5xx -> ``internal_error``, 404 ->
        ``no_service``. HTTP 429 always carries ``Retry-After`` (default 1). ``body``
        replaces the JSON body with raw text (e.g. an HTML 503 page).
        """
        fault = Fault(
            method=method,
            error=error,
            status=status,
            retry_after=retry_after,
            remaining=count,
            delay=delay,
            match=match,
            body=body,
        )
        self._faults.append(fault)
        return fault

    def slow_next(self, method: str, delay: float, *, count: int = 1) -> Fault:
        """Delay the next ``count`` calls of ``method``, then answer normally (timeouts)."""
        fault = Fault(
            method=method, error=None, status=200, remaining=count, delay=delay, passthrough=True
        )
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, method: str, args: dict[str, Any]) -> Fault | None:
        for fault in self._faults:
            if (
                fault.method == method
                and fault.remaining > 0
                and (fault.match is None or fault.match(args))
            ):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def enable_rate_limits(
        self,
        methods: Iterable[str] | None = None,
        overrides: Mapping[str, limits.RateLimit] | None = None,
    ) -> None:
        """Turn on tier enforcement (all known methods, or only ``methods``)."""
        self._limiter.configure(methods, overrides)
        self.rate_limits_enabled = True

    def disable_rate_limits(self) -> None:
        self.rate_limits_enabled = False

    # ---- helpers for handlers --------------------------------------------------------

    def _next_ts(self) -> str:
        """Unique, increasing Slack ts (wall-clock seconds + microseconds)."""
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _resolve_channel(self, value: Any, *, write: bool = False) -> str:
        if not value or not isinstance(value, str):
            raise SlackError("channel_not_found")
        if value in self.channels_info or value in self._dm_channels.values():
            channel = value
        elif _USER_ID_RE.match(value) and (not self.strict or value in self.users):
            channel = self.dm_channel(value)  # posting to a user id goes to the app DM
        else:
            name = value.lstrip("#")
            by_name = [cid for cid, info in self.channels_info.items() if info.get("name") == name]
            if by_name:
                channel = by_name[0]
            elif not self.strict and _CHANNEL_ID_RE.match(value):
                channel = value
            else:
                raise SlackError("channel_not_found")
        if write and self.channels_info.get(channel, {}).get("is_member") is False:
            raise SlackError("not_in_channel")
        self._messages.setdefault(channel, [])
        return channel

    def _check_user(self, user: Any) -> str:
        if not isinstance(user, str) or not user:
            raise SlackError("user_not_found")
        if user in self.users:
            return user
        if not self.strict and _USER_ID_RE.match(user):
            return user
        raise SlackError("user_not_found")

    def _user_json(self, user: str) -> dict[str, Any]:
        if user in self.users:
            return self.users[user]
        return self.add_user(user, f"user-{user.lower()}")

    def _find_message(self, channel: str, ts: Any) -> Message:
        if not isinstance(ts, str) or not ts:
            raise SlackError("message_not_found")
        msg = self.get_message(channel, ts)
        if msg is None:
            raise SlackError("message_not_found")
        return msg

    @staticmethod
    def _check_content(text: Any, blocks: Any, attachments: Any, *, require: bool = True) -> None:
        if blocks is not None and not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        if require and not text and not blocks and not attachments:
            raise SlackError("no_text")
        if isinstance(text, str) and len(text) > limits.MAX_TEXT_CHARS:
            raise SlackError("msg_too_long")
        if blocks:
            errors = limits.validate_blocks(blocks)
            if errors:
                raise SlackError(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )

    def _thread_root(self, channel: str, thread_ts: Any) -> str | None:
        """Replies to a reply land in the parent's thread, as in Slack."""
        if thread_ts in (None, ""):
            return None
        if not isinstance(thread_ts, str) or not _TS_RE.match(thread_ts):
            raise SlackError("invalid_thread_ts")
        parent = self.get_message(channel, thread_ts)
        if parent is not None and parent.is_reply:
            return parent.thread_ts
        return thread_ts

    def _store(self, msg: Message) -> Message:
        if (msg.channel, msg.ts) in self._by_ts:
            raise ValueError(f"duplicate ts {msg.ts} in {msg.channel}")
        self._by_ts[(msg.channel, msg.ts)] = msg
        msgs = self._messages.setdefault(msg.channel, [])
        msgs.append(msg)
        if len(msgs) > 1 and _ts_key(msgs[-2].ts) > _ts_key(msg.ts):  # explicit, older ts
            msgs.sort(key=lambda m: _ts_key(m.ts))
        if msg.is_reply:
            replies = self._replies.setdefault((msg.channel, msg.thread_ts or ""), [])
            replies.append(msg)
            replies.sort(key=lambda m: _ts_key(m.ts))
        if msg.thread_ts and msg.is_bot:
            # Slack clears the assistant status when the app replies in the thread.
            self.thread_status.pop((msg.channel, msg.thread_ts), None)
        self._changed()
        return msg

    def _remove(self, msg: Message) -> None:
        self._messages[msg.channel].remove(msg)
        del self._by_ts[(msg.channel, msg.ts)]
        if msg.is_reply:
            self._replies[(msg.channel, msg.thread_ts or "")].remove(msg)
        self.deleted_messages.append(msg)
        self._changed()

    def _message_json(self, msg: Message) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "message", "ts": msg.ts, "text": msg.text, "team": TEAM_ID}
        if msg.subtype:
            d["subtype"] = msg.subtype
        if msg.user:
            d["user"] = msg.user
        if msg.bot_id:
            d["bot_id"] = msg.bot_id
            d["app_id"] = APP_ID
            d["bot_profile"] = {
                "id": msg.bot_id,
                "app_id": APP_ID,
                "name": BOT_NAME,
                "team_id": TEAM_ID,
            }
        if msg.blocks is not None:
            d["blocks"] = msg.blocks
        if msg.attachments:
            d["attachments"] = msg.attachments
        if msg.metadata:
            d["metadata"] = msg.metadata
        if msg.files:
            d["files"] = msg.files
            d["upload"] = True
        if msg.edited_ts:
            d["edited"] = {"user": msg.user or BOT_USER_ID, "ts": msg.edited_ts}
        if msg.reactions:
            d["reactions"] = [
                {"name": n, "users": list(u), "count": len(u)}
                for n, u in msg.reactions.items()
                if u
            ]
        if msg.is_reply:
            d["thread_ts"] = msg.thread_ts
            root = self.get_message(msg.channel, msg.thread_ts or "")
            if root is not None and root.user:
                d["parent_user_id"] = root.user
            if msg.reply_broadcast:
                d["subtype"] = "thread_broadcast"
        else:
            replies = self.thread_messages(msg.channel, msg.ts, include_root=False)
            if replies:
                users = list(dict.fromkeys(r.user or r.bot_id or "" for r in replies))
                d.update(
                    thread_ts=msg.ts,
                    reply_count=len(replies),
                    reply_users=users,
                    reply_users_count=len(users),
                    latest_reply=replies[-1].ts,
                )
            elif msg.thread_ts:
                d["thread_ts"] = msg.thread_ts
        return d

    def permalink(self, channel: str, ts: str) -> str:
        link = f"{self.http_url}/archives/{channel}/p{ts.replace('.', '')}"
        msg = self.get_message(channel, ts)
        if msg is not None and msg.is_reply:
            link += f"?thread_ts={msg.thread_ts}&cid={channel}"
        return link

    # ---- Web API handlers ------------------------------------------------------------

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self.http_url}/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _api_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        return {"url": f"{self.ws_url}?ticket={ticket}&app_id={APP_ID}"}

    def _api_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"), write=True)
        text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
        self._check_content(text, blocks, attachments)
        thread_ts = self._thread_root(channel, args.get("thread_ts"))
        msg = self._store(
            Message(
                channel=channel,
                ts=self._next_ts(),
                text=text or "",
                user=BOT_USER_ID,
                bot_id=BOT_ID,
                blocks=blocks,
                attachments=attachments,
                thread_ts=thread_ts,
                metadata=args.get("metadata") if isinstance(args.get("metadata"), dict) else None,
                reply_broadcast=_truthy(args.get("reply_broadcast", False)),
                extra={
                    k: args[k]
                    for k in (
                        "username",
                        "icon_emoji",
                        "icon_url",
                        "unfurl_links",
                        "unfurl_media",
                        "mrkdwn",
                    )
                    if k in args
                },
            )
        )
        return {"channel": channel, "ts": msg.ts, "message": self._message_json(msg)}

    def _api_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        msg = self._find_message(channel, args.get("ts"))
        if msg.bot_id != BOT_ID:
            raise SlackError("cant_update_message")
        text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
        if text is None and blocks is None and attachments is None:
            raise SlackError("no_text")
        self._check_content(text, blocks, attachments, require=False)
        msg.edits.append({"text": msg.text, "blocks": msg.blocks, "ts": msg.edited_ts})
        if text is not None:
            msg.text = text
        if blocks is not None:  # omitted blocks are retained, [] removes them (Slack docs)
            msg.blocks = blocks or None
        if attachments is not None:
            msg.attachments = attachments or None
        if isinstance(args.get("metadata"), dict):
            msg.metadata = args["metadata"]
        msg.edited_ts = self._next_ts()
        msg.changed_at = time.monotonic()
        msg.version_times.append(msg.changed_at)
        self._changed()
        return {
            "channel": channel,
            "ts": msg.ts,
            "text": msg.text,
            "message": self._message_json(msg),
        }

    def _api_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        msg = self._find_message(channel, args.get("ts"))
        if msg.bot_id != BOT_ID:
            raise SlackError("cant_delete_message")
        self._remove(msg)
        return {"channel": channel, "ts": msg.ts}

    def _api_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"), write=True)
        user = args.get("user")
        if not user:
            raise SlackError("user_not_in_channel")
        self._check_user(user)
        text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
        self._check_content(text, blocks, attachments)
        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": user,
                "ts": ts,
                "text": text or "",
                "blocks": blocks,
                "thread_ts": args.get("thread_ts"),
                "bot_id": BOT_ID,
            }
        )
        self._changed()
        return {"message_ts": ts}

    def _api_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        msg = self._find_message(channel, args.get("message_ts"))
        return {"channel": channel, "permalink": self.permalink(channel, msg.ts)}

    def _api_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        msg, name = self._reaction_target(args)
        users = msg.reactions.setdefault(name, [])
        if BOT_USER_ID in users:
            raise SlackError("already_reacted")
        users.append(BOT_USER_ID)
        self._changed()
        return {}

    def _api_reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        msg, name = self._reaction_target(args)
        users = msg.reactions.get(name, [])
        if BOT_USER_ID not in users:
            raise SlackError("no_reaction")
        users.remove(BOT_USER_ID)
        if not users:
            del msg.reactions[name]
        self._changed()
        return {}

    def _reaction_target(self, args: dict[str, Any]) -> tuple[Message, str]:
        if not args.get("channel") or not args.get("timestamp"):
            raise SlackError("no_item_specified")
        channel = self._resolve_channel(args.get("channel"))
        msg = self._find_message(channel, args.get("timestamp"))
        name = str(args.get("name") or "").strip(":")
        if not name or not re.match(r"^[a-z0-9_+'\-]+(::skin-tone-\d)?$", name):
            raise SlackError("invalid_name")
        return msg, name

    def _api_reactions_get(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        msg = self._find_message(channel, args.get("timestamp"))
        return {"type": "message", "channel": channel, "message": self._message_json(msg)}

    @staticmethod
    def _page(
        items: list[Any], args: dict[str, Any], default_limit: int
    ) -> tuple[list[Any], dict[str, Any]]:
        try:
            limit = int(args.get("limit") or default_limit)
            offset = int(str(args.get("cursor") or "offset_0").removeprefix("offset_"))
        except ValueError:
            raise SlackError("invalid_cursor") from None
        limit = max(1, min(limit, 1000))
        page = items[offset : offset + limit]
        has_more = offset + limit < len(items)
        meta = {"has_more": has_more}
        meta["response_metadata"] = {"next_cursor": f"offset_{offset + limit}" if has_more else ""}
        return page, meta

    @staticmethod
    def _in_window(msg: Message, args: dict[str, Any]) -> bool:
        ts = _ts_key(msg.ts)
        inclusive = _truthy(args.get("inclusive", False))
        if args.get("oldest"):
            oldest = _ts_key(str(args["oldest"]))
            if ts < oldest or (ts == oldest and not inclusive):
                return False
        if args.get("latest"):
            latest = _ts_key(str(args["latest"]))
            if ts > latest or (ts == latest and not inclusive):
                return False
        return True

    def _api_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        ts = args.get("ts")
        if not ts:
            raise SlackError("thread_not_found")
        msg = self.get_message(channel, ts)
        if msg is None:
            raise SlackError("thread_not_found")
        root_ts = msg.thread_ts if msg.is_reply else msg.ts
        thread = [
            m for m in self.thread_messages(channel, root_ts or ts) if self._in_window(m, args)
        ]
        page, meta = self._page(thread, args, default_limit=1000)
        return {"messages": [self._message_json(m) for m in page], **meta}

    def _api_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        top = [
            m
            for m in reversed(self._messages.get(channel, []))
            if (not m.is_reply or m.reply_broadcast) and self._in_window(m, args)
        ]
        page, meta = self._page(top, args, default_limit=100)
        return {"messages": [self._message_json(m) for m in page], **meta}

    def _api_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users_arg, channel_arg = args.get("users"), args.get("channel")
        if channel_arg:
            channel = self._resolve_channel(channel_arg)
            return {"channel": {"id": channel}, "no_op": True, "already_open": True}
        if not users_arg:
            raise SlackError("users_list_not_supplied")
        users = users_arg if isinstance(users_arg, list) else str(users_arg).split(",")
        users = [self._check_user(u.strip()) for u in users if u.strip()]
        if len(users) > 8:
            raise SlackError("too_many_users")
        if len(users) == 1:
            existed = users[0] in self._dm_channels
            cid = self.dm_channel(users[0])
            channel: dict[str, Any] = {"id": cid}
            if _truthy(args.get("return_im", False)):
                channel.update(self.channels_info[cid])
            return {"channel": channel, "no_op": existed, "already_open": existed}
        key = ",".join(sorted(users))
        if key not in self._dm_channels:
            cid = f"G{next(self._ids):08d}"
            self._dm_channels[key] = cid
            self.add_channel(cid, name=f"mpdm-{'--'.join(users)}-1", is_private=True)
            self.channels_info[cid]["is_mpim"] = True
        return {"channel": {"id": self._dm_channels[key]}}

    def _api_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        info = self.channels_info.get(channel)
        if info is None:
            prefix = channel[0]
            info = {
                "id": channel,
                "name": channel.lower(),
                "is_channel": prefix == "C",
                "is_group": prefix == "G",
                "is_im": prefix == "D",
                "is_private": prefix != "C",
                "is_member": True,
            }
        return {"channel": info}

    def _api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._check_user(args.get("user"))
        return {"user": self._user_json(user)}

    def _api_usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup")
        if not group or group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _take_trigger(self, args: dict[str, Any]) -> str:
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            raise SlackError("invalid_arguments", detail="trigger_id is required")
        info = self._triggers.get(trigger)
        if info is None:
            raise SlackError("invalid_trigger_id")
        if info["used"]:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - info["created"] > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        info["used"] = True
        return info["user"]

    def _parse_view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if view is None:
            raise SlackError("invalid_arguments", detail="view is required")
        errors = limits.validate_view(view)
        if errors:
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        return view

    def _new_view(
        self, view: dict[str, Any], user: str, *, previous: str | None, root: str | None
    ) -> dict[str, Any]:
        vid = f"V{next(self._ids):08d}"
        record = {
            "id": vid,
            "team_id": TEAM_ID,
            "type": view.get("type"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": secrets.token_hex(8),
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous,
            "root_view_id": root or vid,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        self.views[vid] = record
        self._view_meta[vid] = {"user": user, "open": view.get("type") == "modal"}
        self._changed()
        return record

    def _api_views_open(self, args: dict[str, Any], *, push: bool) -> dict[str, Any]:
        view = self._parse_view(args)
        user = self._take_trigger(args)
        previous = root = None
        if push:
            stack = [v for v in self.open_views(user) if v["type"] == "modal"]
            if stack:
                previous, root = stack[-1]["id"], stack[-1]["root_view_id"]
                depth = sum(1 for v in stack if v["root_view_id"] == root)
                if depth >= 3:
                    raise SlackError("push_limit_reached")
        ext = view.get("external_id")
        if ext and any(v["external_id"] == ext for v in self.views.values()):
            raise SlackError("duplicate_external_id")
        return {"view": self._new_view(view, user, previous=previous, root=root)}

    def _api_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._parse_view(args)
        vid, ext = args.get("view_id"), args.get("external_id")
        if not vid and not ext:
            raise SlackError("invalid_arguments", detail="view_id or external_id is required")
        record = self.views.get(vid) if vid else None
        if record is None and ext:
            record = next((v for v in self.views.values() if v["external_id"] == ext), None)
        if record is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != record["hash"]:
            raise SlackError("hash_conflict")
        for key in ("blocks", "private_metadata", "callback_id", "title", "close", "submit"):
            if key in view:
                record[key] = view[key]
        record["hash"] = secrets.token_hex(8)
        self._changed()
        return {"view": record}

    def _api_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._check_user(args.get("user_id"))
        view = self._parse_view(args)
        if view.get("type") != "home":
            raise SlackError("invalid_arguments", detail="views.publish needs a home view")
        record = self._new_view(view, user, previous=None, root=None)
        self.home_views[user] = record["id"]
        return {"view": record}

    def _api_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        if not filename:
            raise SlackError("invalid_arguments", detail="filename is required")
        try:
            length = int(args.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments", detail="length must be an integer") from None
        if length < 0:
            raise SlackError("invalid_arguments", detail="length must be >= 0")
        fid = f"F{next(self._ids):010d}"
        self.files[fid] = FakeFile(
            id=fid,
            filename=filename,
            length=length,
            alt_txt=args.get("alt_txt"),
            snippet_type=args.get("snippet_type"),
        )
        return {"upload_url": f"{self.http_url}/upload/v1/{fid}", "file_id": fid}

    def _file_json(self, f: FakeFile) -> dict[str, Any]:
        ext = f.filename.rsplit(".", 1)[-1].lower() if "." in f.filename else ""
        filetype = {"txt": "text", "log": "text", "py": "python", "md": "markdown"}.get(
            ext, ext or "binary"
        )
        mimetype = mimetypes.guess_type(f.filename)[0] or "text/plain"
        size = len(f.content) if f.content is not None else f.length
        channels = sorted({c for scope in f.shares.values() for c in scope})
        return {
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.filename,
            "title": f.title or f.filename,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.capitalize(),
            "user": BOT_USER_ID,
            "user_team": TEAM_ID,
            "editable": False,
            "size": size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": any(c.startswith("C") for c in channels),
            "public_url_shared": False,
            "display_as_bot": False,
            "url_private": f"{self.http_url}/files-pri/{TEAM_ID}-{f.id}/{f.filename}",
            "url_private_download": f"{self.http_url}/files-pri/{TEAM_ID}-{f.id}/{f.filename}",
            "permalink": f"{self.http_url}/files/{BOT_USER_ID}/{f.id}/{f.filename}",
            "alt_txt": f.alt_txt,
            "comments_count": 0,
            "is_starred": False,
            "shares": f.shares,
            "channels": [c for c in channels if c.startswith("C")],
            "groups": [c for c in channels if c.startswith("G")],
            "ims": [c for c in channels if c.startswith("D")],
            "has_more_shares": False,
            "file_access": "visible",
        }

    def _api_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files_arg = args.get("files")
        if not isinstance(files_arg, list) or not files_arg:
            raise SlackError("invalid_arguments", detail="files must be a non-empty JSON array")
        targets: list[str] = []
        if args.get("channel_id"):
            targets.append(args["channel_id"])
        if args.get("channels"):
            targets.extend(c.strip() for c in str(args["channels"]).split(",") if c.strip())
        if args.get("thread_ts") and len(targets) != 1:
            raise SlackError("invalid_arguments", detail="thread_ts needs exactly one channel")
        channels = [self._resolve_channel(c, write=True) for c in targets]
        picked: list[FakeFile] = []
        for item in files_arg:
            fid = item.get("id") if isinstance(item, dict) else None
            f = self.files.get(fid or "")
            if f is None:
                raise SlackError("file_not_found", detail=f"unknown file id {fid!r}")
            if not f.uploaded:
                raise SlackError(
                    "file_not_found", detail=f"{fid} was never POSTed to its upload_url"
                )
            if f.completed:
                raise SlackError("file_not_found", detail=f"{fid} was already completed")
            f.title = item.get("title") or f.filename
            picked.append(f)
        comment = args.get("initial_comment")
        if isinstance(comment, str) and len(comment) > limits.MAX_TEXT_CHARS:
            raise SlackError("msg_too_long")
        for f in picked:
            f.completed = True
        for channel in channels:
            thread_ts = self._thread_root(channel, args.get("thread_ts"))
            ts = self._next_ts()
            scope = "public" if channel.startswith("C") else "private"
            for f in picked:
                share = {
                    "ts": ts,
                    "channel_name": channel.lower(),
                    "team_id": TEAM_ID,
                    "share_user_id": BOT_USER_ID,
                }
                if thread_ts:
                    share["thread_ts"] = thread_ts
                f.shares.setdefault(scope, {}).setdefault(channel, []).append(share)
            blocks = (
                args.get("blocks") if not comment and isinstance(args.get("blocks"), list) else None
            )
            self._store(
                Message(
                    channel=channel,
                    ts=ts,
                    text=comment or "",
                    user=BOT_USER_ID,
                    bot_id=BOT_ID,
                    blocks=blocks,
                    thread_ts=thread_ts,
                    files=[self._file_json(f) for f in picked],
                )
            )
        return {"files": [{"id": f.id, "title": f.title} for f in picked]}

    def _api_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        f = self.files.get(args.get("file") or "")
        if f is None or not f.completed:
            raise SlackError("file_not_found")
        return {
            "file": self._file_json(f),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _api_set_status(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id, thread_ts = args.get("channel_id"), args.get("thread_ts")
        if not channel_id or not thread_ts:
            raise SlackError("invalid_arguments", detail="channel_id and thread_ts are required")
        if "status" not in args:
            raise SlackError("invalid_arguments", detail="status is required ('' clears it)")
        channel = self._resolve_channel(channel_id)
        loading = args.get("loading_messages")
        if isinstance(loading, list) and len(loading) > limits.MAX_LOADING_MESSAGES:
            raise SlackError("invalid_arguments", detail="at most 10 loading_messages")
        status = str(args.get("status") or "")
        self.statuses.append(
            {
                "channel_id": channel,
                "thread_ts": thread_ts,
                "status": status,
                "loading_messages": loading,
            }
        )
        if status:
            self.thread_status[(channel, thread_ts)] = status
        else:
            self.thread_status.pop((channel, thread_ts), None)
        self._changed()
        return {}

    @staticmethod
    def _stream_text(args: dict[str, Any]) -> str:
        """markdown_text plus any markdown_text chunks, each held to the per-call cap."""
        parts: list[str] = []
        md = args.get("markdown_text")
        if md is not None:
            if not isinstance(md, str):
                raise SlackError("invalid_arguments", detail="markdown_text must be a string")
            parts.append(md)
        chunks = args.get("chunks")
        if chunks is not None:
            if not isinstance(chunks, list):
                raise SlackError("invalid_chunks")
            for chunk in chunks:
                if not isinstance(chunk, dict) or "type" not in chunk:
                    raise SlackError("invalid_chunks")
                if chunk["type"] == "markdown_text":
                    parts.append(str(chunk.get("text", "")))
        for p in parts:
            if len(p) > limits.MAX_STREAM_MARKDOWN:
                raise SlackError("msg_too_long")
        return "".join(parts)

    def _api_start_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"), write=True)
        if not args.get("thread_ts"):
            raise SlackError(
                "invalid_arguments", detail="thread_ts is required: streams are replies"
            )
        if not channel.startswith("D"):
            if not args.get("recipient_user_id"):
                raise SlackError("missing_recipient_user_id")
            if not args.get("recipient_team_id"):
                raise SlackError("missing_recipient_team_id")
        text = self._stream_text(args)
        msg = self._store(
            Message(
                channel=channel,
                ts=self._next_ts(),
                text=text,
                user=BOT_USER_ID,
                bot_id=BOT_ID,
                thread_ts=self._thread_root(channel, args["thread_ts"]),
                streaming=True,
                stream_started=self.clock(),
                extra={"chunks": list(args.get("chunks") or [])},
            )
        )
        return {"channel": channel, "ts": msg.ts}

    def _streaming_message(self, args: dict[str, Any]) -> Message:
        channel = self._resolve_channel(args.get("channel"))
        msg = self._find_message(channel, args.get("ts"))
        if msg.stream_stopped_by_user:
            raise SlackError("stopped_by_user")
        if not msg.streaming or (
            msg.stream_started is not None
            and self.clock() - msg.stream_started > self.stream_lifetime
        ):
            msg.streaming = False
            raise SlackError("message_not_in_streaming_state")
        return msg

    def _api_append_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._streaming_message(args)
        msg.text += self._stream_text(args)
        msg.extra.setdefault("chunks", []).extend(args.get("chunks") or [])
        msg.changed_at = time.monotonic()
        self._changed()
        return {"channel": msg.channel, "ts": msg.ts}

    def _api_stop_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._streaming_message(args)
        msg.text += self._stream_text(args)
        blocks = args.get("blocks")
        if blocks is not None:
            self._check_content(None, blocks, None, require=False)
            msg.blocks = blocks
        if isinstance(args.get("metadata"), dict):
            msg.metadata = args["metadata"]
        msg.streaming = False
        msg.changed_at = time.monotonic()
        self._changed()
        return {"channel": msg.channel, "ts": msg.ts, "message": self._message_json(msg)}

    def user_stops_stream(self, channel: str, ts: str) -> None:
        """Simulate the user pressing Stop: later stream calls fail with ``stopped_by_user``."""
        msg = self.get_message(channel, ts)
        if msg is None:
            raise LookupError(f"no message {channel}/{ts}")
        msg.stream_stopped_by_user = True
        msg.streaming = False

    # ---- HTTP plumbing ---------------------------------------------------------------

    async def _read_args(self, request: web.Request) -> tuple[dict[str, Any], str]:
        args: dict[str, Any] = dict(request.query)
        parts = ["query"] if args else []
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    args.update(body)
                parts.append("json")
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    args[key] = value.file.read() if isinstance(value, web.FileField) else value
                parts.append("form" if ctype.startswith("application") else "multipart")
            else:
                raw = await request.read()
                if raw:
                    args["_raw"] = raw
                    parts.append("raw")
        for key in _JSON_FIELDS:
            value = args.get(key)
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)
        return args, "+".join(parts)

    def _fault_response(self, fault: Fault, *, api: bool, method: str) -> web.Response:
        status = fault.status
        error = fault.error
        if error is None:
            if status in (200, 429):
                error = "ratelimited" if api else "rate_limited"
            elif status >= 500:
                error = "internal_error"
            elif status == 404:
                error = "no_service" if not api else "not_found"
            else:
                error = "fatal_error"
        headers = {}
        if status == 429 or fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
        if status == 429:
            self.rate_limited[method] += 1
        if fault.body is not None:
            return web.Response(
                status=status, text=fault.body, content_type="text/html", headers=headers
            )
        if api:
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        return web.Response(status=status, text=error, headers=headers)

    def _record(self, call: Call, status: int, response: Any) -> None:
        call.status = status
        call.response = response
        call.duration = time.monotonic() - call.time
        self.calls.append(call)
        self._changed()

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        t0 = time.monotonic()
        method = request.match_info["method"]
        args, encoding = await self._read_args(request)
        token = None
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer ") :].strip()
        elif "token" in args:
            token = str(args.pop("token"))
        args.pop("token", None)
        call = Call(method, args, token, t0, request.method, encoding)
        headers = {"x-oauth-scopes": OAUTH_SCOPES, "x-accepted-oauth-scopes": ""}

        def answer(body: dict[str, Any], status: int = 200) -> web.Response:
            self._record(call, status, body)
            return web.json_response(body, status=status, headers=headers)

        handler = self._api.get(method)
        if handler is None:
            return answer({"ok": False, "error": "unknown_method", "req_method": method})
        if token is None:
            return answer({"ok": False, "error": "not_authed"})
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            wrong_type = token in (self.app_token, self.bot_token)
            return answer(
                {"ok": False, "error": "not_allowed_token_type" if wrong_type else "invalid_auth"}
            )
        fault = self._take_fault(method, args)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)  # server-side latency, not a test wait
            if not fault.passthrough:
                resp = self._fault_response(fault, api=True, method=method)
                self._record(
                    call,
                    resp.status,
                    json.loads(resp.text) if resp.content_type == "application/json" else resp.text,
                )
                return resp
        if self.rate_limits_enabled:
            retry_after = self._limiter.check(method, args.get("channel") or args.get("channel_id"))
            if retry_after is not None:
                self.rate_limited[method] += 1
                headers["Retry-After"] = str(retry_after)
                return answer({"ok": False, "error": "ratelimited"}, 429)
        try:
            result = handler(args)
        except SlackError as e:
            return answer({"ok": False, "error": e.error, **e.extra})
        return answer({"ok": True, **result})

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        """The pre-signed upload URL: no Authorization (slack_sdk sends none), raw or multipart."""
        fid = request.match_info["file_id"]
        call = Call("upload_url", {"file_id": fid}, None, time.monotonic(), "POST")
        f = self.files.get(fid)
        if f is None:
            self._record(call, 404, "not_found")
            return web.Response(status=404, text="not_found")
        fault = self._take_fault("upload_url", call.args)
        if fault is not None and not fault.passthrough:
            resp = self._fault_response(fault, api=False, method="upload_url")
            self._record(call, resp.status, resp.text)
            return resp
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field_ = form.get("file") or next(
                (v for v in form.values() if isinstance(v, web.FileField)), None
            )
            data = (
                field_.file.read()
                if isinstance(field_, web.FileField)
                else str(field_ or "").encode()
            )
            call.encoding = "multipart"
        else:
            data = await request.read()
            call.encoding = "raw"
        call.args.update(bytes=len(data), content_type=request.content_type)
        f.content = data
        f.uploaded = True
        if len(data) != f.length:
            log.warning("upload %s: %d bytes, declared length %d", fid, len(data), f.length)
            call.args["length_mismatch"] = True
        self._record(call, 200, f"OK - {len(data)}")
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_file_download(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.bot_token}":
            return web.Response(status=302, headers={"Location": f"{self.http_url}/?redir=login"})
        fid = request.match_info["team_file"].removeprefix(f"{TEAM_ID}-")
        f = self.files.get(fid)
        if f is None or f.content is None:
            return web.Response(status=404, text="file_not_found")
        return web.Response(
            body=f.content, content_type=mimetypes.guess_type(f.filename)[0] or "text/plain"
        )

    async def _read_hook_payload(self, request: web.Request) -> dict[str, Any] | None:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return None
            return body if isinstance(body, dict) else None
        form = await request.post()
        raw = form.get("payload")
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
                return body if isinstance(body, dict) else None
        return None

    async def _handle_webhook(self, request: web.Request) -> web.StreamResponse:
        hook_id = request.match_info["hook_id"]
        payload = await self._read_hook_payload(request)
        call = Call(
            "webhook", {"hook_id": hook_id, **(payload or {})}, None, time.monotonic(), "POST"
        )
        post = HookPost(hook_id, payload or {}, call.time)

        def answer(status: int, text: str) -> web.Response:
            post.status = status
            self.webhook_posts.append(post)
            self._record(call, status, text)
            return web.Response(status=status, text=text, content_type="text/html")

        fault = self._take_fault("webhook", call.args)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if not fault.passthrough:
                resp = self._fault_response(fault, api=False, method="webhook")
                post.status = resp.status
                self.webhook_posts.append(post)
                self._record(call, resp.status, resp.text)
                return resp
        hook = self._webhooks.get(hook_id)
        if hook is None and self.strict:
            return answer(404, "no_service")
        if payload is None:
            return answer(400, "invalid_payload")
        text, blocks = payload.get("text"), payload.get("blocks")
        try:
            self._check_content(text, blocks, payload.get("attachments"))
        except SlackError as e:
            return answer(400, e.error)
        if self.rate_limits_enabled:
            retry_after = self._limiter.check("chat.postMessage", f"webhook:{hook_id}")
            if retry_after is not None:
                self.rate_limited["webhook"] += 1
                post.status = 429
                self.webhook_posts.append(post)
                self._record(call, 429, "rate_limited")
                return web.Response(
                    status=429, text="rate_limited", headers={"Retry-After": str(retry_after)}
                )
        if hook and hook.get("channel"):
            channel = self._resolve_channel(hook["channel"])
            self._store(
                Message(
                    channel=channel,
                    ts=self._next_ts(),
                    text=text or "",
                    bot_id=WEBHOOK_BOT_ID,
                    blocks=blocks,
                    thread_ts=payload.get("thread_ts"),
                    subtype="bot_message",
                )
            )
        return answer(200, "ok")

    def _new_response_url(self, **context: Any) -> str:
        hook_id = secrets.token_hex(8)
        self._response_urls[hook_id] = context
        return f"{self.http_url}/response_url/{hook_id}"

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        """Apply respond(): replace/delete the source message, in_channel post, or ephemeral."""
        hook_id = request.match_info["hook_id"]
        payload = await self._read_hook_payload(request) or {}
        call = Call("response_url", {"hook_id": hook_id, **payload}, None, time.monotonic(), "POST")
        post = HookPost(hook_id, payload, call.time)
        self.response_url_posts.append(post)
        fault = self._take_fault("response_url", call.args)
        if fault is not None and not fault.passthrough:
            resp = self._fault_response(fault, api=False, method="response_url")
            post.status = resp.status
            self._record(call, resp.status, resp.text)
            return resp
        ctx = self._response_urls.get(hook_id)
        if ctx is None:
            post.status = 404
            self._record(call, 404, "no_service")
            return web.Response(status=404, text="no_service")
        channel, message_ts = ctx.get("channel"), ctx.get("message_ts")
        source = self.get_message(channel, message_ts) if channel and message_ts else None
        text, blocks = payload.get("text"), payload.get("blocks")
        try:
            if _truthy(payload.get("delete_original", False)):
                if source is not None:
                    self._remove(source)
            elif _truthy(payload.get("replace_original", False)) and source is not None:
                self._check_content(text, blocks, payload.get("attachments"))
                source.edits.append(
                    {"text": source.text, "blocks": source.blocks, "ts": source.edited_ts}
                )
                source.text, source.blocks = text or "", blocks
                source.edited_ts = self._next_ts()
                source.changed_at = time.monotonic()
                source.version_times.append(source.changed_at)
            elif payload.get("response_type") == "in_channel" and channel:
                self._check_content(text, blocks, payload.get("attachments"))
                self._store(
                    Message(
                        channel=channel,
                        ts=self._next_ts(),
                        text=text or "",
                        user=BOT_USER_ID,
                        bot_id=BOT_ID,
                        blocks=blocks,
                        thread_ts=payload.get("thread_ts") or ctx.get("thread_ts"),
                    )
                )
            else:
                self._check_content(text, blocks, payload.get("attachments"))
                self.ephemerals.append(
                    {
                        "channel": channel,
                        "user": ctx.get("user"),
                        "ts": self._next_ts(),
                        "text": text or "",
                        "blocks": blocks,
                        "thread_ts": payload.get("thread_ts") or ctx.get("thread_ts"),
                        "via": "response_url",
                    }
                )
        except SlackError as e:
            post.status = 400
            self._record(call, 400, e.error)
            return web.json_response({"ok": False, "error": e.error}, status=400)
        self._record(call, 200, {"ok": True})
        return web.json_response({"ok": True})

    async def _handle_permalink_page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"fake permalink {request.path_qs}", content_type="text/html")

    # ---- Socket Mode -----------------------------------------------------------------

    def _current_conn(self) -> _Conn | None:
        """Newest open socket: the websockets adapter opens the new socket before closing the old."""
        for conn in reversed(self._conns):
            if conn.open:
                return conn
        return None

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket")
        if self.strict and ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        self.connections_opened += 1
        conn = _Conn(
            ws=ws, number=self.connections_opened, ticket=ticket, opened_at=time.monotonic()
        )
        if self.ws_connections >= MAX_WEBSOCKETS:
            await conn.send({"type": "disconnect", "reason": "too_many_websockets"})
            await ws.close()
            return ws
        self._conns.append(conn)
        await conn.send(
            {
                "type": "hello",
                "num_connections": self.ws_connections,
                "debug_info": {
                    "host": "fake-slack",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        )
        self._changed()
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_frame(frame.data)
                elif frame.type == WSMsgType.ERROR:
                    break
        finally:
            if conn in self._conns:
                self._conns.remove(conn)
            self._changed()
        return ws

    def _on_frame(self, data: str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            self.unexpected_frames.append(data)
            return
        envelope_id = msg.get("envelope_id") if isinstance(msg, dict) else None
        if not envelope_id:
            self.unexpected_frames.append(data)
            return
        pending = self._pending_acks.pop(envelope_id, None)
        now = time.monotonic()
        latency = now - pending[1] if pending else float("nan")
        ack = Ack(envelope_id, latency, msg.get("payload"), pending[2] if pending else None, now)
        self.acks.append(ack)
        if pending and not pending[0].done():
            pending[0].set_result(ack)
        self._changed()

    async def push_envelope(
        self, envelope: dict[str, Any], *, ack_timeout: float | None = None
    ) -> Ack:
        """Send any envelope to the newest connection and wait for the bot's ack."""
        timeout = self.ack_timeout if ack_timeout is None else ack_timeout
        try:
            await self.wait_connected(timeout)
        except TimeoutError:
            raise AckTimeout(
                "no Socket Mode connection: did the bot call connect_async()?"
            ) from None
        conn = self._current_conn()
        assert conn is not None
        envelope_id = envelope["envelope_id"]
        fut: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = (fut, time.monotonic(), envelope)
        self.envelopes.append(envelope)
        await conn.send(envelope)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise AckTimeout(
                f"bot did not ack {envelope.get('type')} envelope {envelope_id} within {timeout}s"
            ) from None

    def build_event_envelope(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> dict[str, Any]:
        """An ``events_api`` envelope as Slack sends it (also usable with ``async_dispatch``)."""
        event = dict(event)
        event.setdefault("event_ts", event.get("ts") or self._next_ts())
        return {
            "envelope_id": str(uuid.uuid4()),
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
            "payload": {
                "token": VERIFICATION_TOKEN,
                "team_id": TEAM_ID,
                "context_team_id": TEAM_ID,
                "context_enterprise_id": None,
                "api_app_id": APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": TEAM_ID,
                        "user_id": BOT_USER_ID,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "is_ext_shared_channel": False,
                "event_context": f"4-{secrets.token_hex(12)}",
            },
        }

    async def send_event(
        self,
        event: dict[str, Any],
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        *,
        ack_timeout: float | None = None,
    ) -> Ack:
        """Push an Events API event; returns once the bot acked (``Ack.envelope`` to redeliver)."""
        envelope = self.build_event_envelope(
            event, event_id=event_id, retry_attempt=retry_attempt, retry_reason=retry_reason
        )
        return await self.push_envelope(envelope, ack_timeout=ack_timeout)

    async def redeliver(
        self,
        envelope: dict[str, Any] | Ack,
        retry_attempt: int = 1,
        retry_reason: str = "timeout",
        *,
        ack_timeout: float | None = None,
    ) -> Ack:
        """Resend an event as Slack's retry does: new envelope_id, same event_id."""
        if isinstance(envelope, Ack):
            if envelope.envelope is None:
                raise ValueError("this Ack has no envelope (late or unknown ack)")
            envelope = envelope.envelope
        again = json.loads(json.dumps(envelope))
        again["envelope_id"] = str(uuid.uuid4())
        again["retry_attempt"] = retry_attempt
        again["retry_reason"] = retry_reason
        return await self.push_envelope(again, ack_timeout=ack_timeout)

    def add_message(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        *,
        ts: str | None = None,
        bot_id: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> str:
        """Store a human (or other bot's) message so history/replies return it; returns ts."""
        channel = self._resolve_channel(channel)
        msg = Message(
            channel=channel,
            ts=ts or self._next_ts(),
            text=text,
            user=user,
            bot_id=bot_id,
            blocks=blocks if blocks is not None else _rich_text_blocks(text),
            thread_ts=self._thread_root(channel, thread_ts),
            extra={"client_msg_id": str(uuid.uuid4())},
        )
        self._store(msg)
        return msg.ts

    def _human_event(self, event_type: str, channel: str, user: str, ts: str) -> dict[str, Any]:
        msg = self.get_message(channel, ts)
        assert msg is not None
        event: dict[str, Any] = {
            "type": event_type,
            "client_msg_id": msg.extra.get("client_msg_id"),
            "text": msg.text,
            "user": user,
            "ts": ts,
            "team": TEAM_ID,
            "blocks": msg.blocks,
            "channel": channel,
            "event_ts": ts,
        }
        if msg.is_reply:
            event["thread_ts"] = msg.thread_ts
            root = self.get_message(channel, msg.thread_ts or "")
            if root is not None and root.user:
                event["parent_user_id"] = root.user
        return event

    @staticmethod
    def _channel_type(channel: str) -> str:
        return {"C": "channel", "D": "im", "G": "group"}.get(channel[:1], "channel")

    async def mention(
        self,
        text: str,
        channel: str = "C1",
        user: str = "U1",
        thread_ts: str | None = None,
        *,
        ack_timeout: float | None = None,
    ) -> tuple[str, Ack]:
        """A human @-mentions the bot: message stored, ``app_mention`` pushed; returns (ts, ack).

        Only the ``app_mention`` event is sent (real Slack also sends ``message`` when the
        app subscribes to message.channels; push that yourself with ``send_event``).
        """
        if f"<@{BOT_USER_ID}>" not in text:
            text = f"<@{BOT_USER_ID}> {text}"
        ts = self.add_message(channel, user, text, thread_ts)
        channel = self._resolve_channel(channel)
        ack = await self.send_event(
            self._human_event("app_mention", channel, user, ts), ack_timeout=ack_timeout
        )
        return ts, ack

    async def message(
        self,
        text: str,
        channel: str = "C1",
        user: str = "U1",
        thread_ts: str | None = None,
        *,
        channel_type: str | None = None,
        ack_timeout: float | None = None,
    ) -> tuple[str, Ack]:
        """A human posts a plain message; a ``message`` event is pushed; returns (ts, ack)."""
        ts = self.add_message(channel, user, text, thread_ts)
        channel = self._resolve_channel(channel)
        event = self._human_event("message", channel, user, ts)
        event["channel_type"] = channel_type or self._channel_type(channel)
        return ts, await self.send_event(event, ack_timeout=ack_timeout)

    async def dm(
        self,
        text: str,
        user: str = "U1",
        thread_ts: str | None = None,
        *,
        ack_timeout: float | None = None,
    ) -> tuple[str, Ack]:
        """A human DMs the bot (channel = ``dm_channel(user)``, channel_type ``im``)."""
        return await self.message(
            text, self.dm_channel(user), user, thread_ts, channel_type="im", ack_timeout=ack_timeout
        )

    @staticmethod
    def _find_element(
        blocks: list[dict[str, Any]] | None, action_id: str, block_id: str | None
    ) -> tuple[dict[str, Any] | None, str | None, list[str]]:
        seen: list[str] = []
        for i, block in enumerate(blocks or []):
            bid = block.get("block_id") or f"auto{i}"
            candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
            if isinstance(block.get("accessory"), dict):
                candidates.append(block["accessory"])
            if block.get("type") == "input" and isinstance(block.get("element"), dict):
                candidates.append(block["element"])
            for el in candidates:
                if not isinstance(el, dict) or "action_id" not in el:
                    continue
                seen.append(el["action_id"])
                if el["action_id"] == action_id and (block_id is None or block_id == bid):
                    return el, bid, seen
        return None, None, seen

    def _user_ref(self, user: str) -> dict[str, Any]:
        name = self._user_json(user)["name"]
        return {"id": user, "username": name, "name": name, "team_id": TEAM_ID}

    async def click_button(
        self,
        channel: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        user: str = "U1",
        block_id: str | None = None,
        *,
        ack_timeout: float | None = None,
    ) -> Ack:
        """A user clicks an element of a stored message (or ephemeral) -> ``block_actions``.

        The element must exist in the message's *current* blocks (LookupError otherwise),
        which catches a bot that removed or renamed a button. ``value`` defaults to the
        element's value.
        """
        msg = self.get_message(channel, message_ts)
        ephemeral = None
        if msg is None:
            ephemeral = next(
                (e for e in self.ephemerals if e["ts"] == message_ts and e["channel"] == channel),
                None,
            )
            if ephemeral is None:
                raise LookupError(f"no message {channel}/{message_ts} to click on")
        blocks = msg.blocks if msg is not None else ephemeral["blocks"]  # type: ignore[index]
        element, bid, seen = self._find_element(blocks, action_id, block_id)
        if element is None:
            raise LookupError(
                f"no element with action_id={action_id!r} in {channel}/{message_ts}; have {seen}"
            )
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": bid,
            "type": element.get("type", "button"),
            "action_ts": f"{time.time():.6f}",
        }
        if "text" in element:
            action["text"] = element["text"]
        if value is not None or "value" in element:
            action["value"] = value if value is not None else element.get("value")
        if "style" in element:
            action["style"] = element["style"]
        thread_ts = (msg.thread_ts if msg is not None else ephemeral.get("thread_ts")) or None  # type: ignore[union-attr]
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": ephemeral is not None,
        }
        if thread_ts and thread_ts != message_ts:
            container["thread_ts"] = thread_ts
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_ref(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": self.new_trigger(user),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {
                "id": channel,
                "name": self.channels_info.get(channel, {}).get("name", channel.lower()),
            },
            "state": {"values": {}},
            "response_url": self._new_response_url(
                channel=channel, message_ts=message_ts, thread_ts=thread_ts, user=user
            ),
            "actions": [action],
        }
        if msg is not None:
            payload["message"] = self._message_json(msg)
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "type": "interactive",
            "accepts_response_payload": False,
            "payload": payload,
        }
        return await self.push_envelope(envelope, ack_timeout=ack_timeout)

    def _find_view(self, view: str) -> dict[str, Any]:
        if view in self.views:
            return self.views[view]
        matches = [
            v
            for vid, v in self.views.items()
            if v["callback_id"] == view and self._view_meta[vid]["open"]
        ]
        if not matches:
            raise LookupError(
                f"no open view with id or callback_id {view!r}; views: {list(self.views)}"
            )
        return matches[-1]

    @staticmethod
    def _state_values(view: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """Build ``state.values`` the way Slack shapes it: {block_id: {action_id: {type, value}}}.

        ``values`` may be already Slack-shaped, ``{block_id: {action_id: "text"}}`` or
        ``{block_id: "text"}`` (action_id/type taken from the view's input block).
        Input blocks not mentioned appear with a ``None`` value, as in Slack.
        """
        inputs: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks") or []:
            if block.get("type") == "input" and isinstance(block.get("element"), dict):
                inputs[block.get("block_id", "")] = block["element"]

        def entry(etype: str, v: Any) -> dict[str, Any]:
            if isinstance(v, dict) and "type" in v:
                return v
            if etype.endswith("_select") and etype != "multi_static_select":
                opt = (
                    None
                    if v is None
                    else {"text": {"type": "plain_text", "text": str(v)}, "value": v}
                )
                return {"type": etype, "selected_option": opt}
            return {"type": etype, "value": v}

        state: dict[str, Any] = {
            bid: {el.get("action_id", ""): entry(el.get("type", "plain_text_input"), None)}
            for bid, el in inputs.items()
        }
        for bid, v in values.items():
            element = inputs.get(bid, {})
            if isinstance(v, dict) and "type" not in v:
                state[bid] = {
                    aid: entry(
                        element.get("type", "plain_text_input")
                        if element.get("action_id") == aid
                        else "plain_text_input",
                        av,
                    )
                    for aid, av in v.items()
                }
            else:
                if not element:
                    raise LookupError(
                        f"view has no input block {bid!r}; give {{block_id: {{action_id: value}}}}"
                    )
                state[bid] = {
                    element.get("action_id", ""): entry(element.get("type", "plain_text_input"), v)
                }
        return state

    async def submit_view(
        self,
        view: str,
        values: Mapping[str, Any] | None = None,
        user: str = "U1",
        private_metadata: str | None = None,
        *,
        ack_timeout: float | None = None,
    ) -> Ack:
        """Submit an open modal (by view id or callback_id) -> ``view_submission``.

        The ack's ``response_action`` is applied: ``errors`` keeps the view open (errors
        stored in ``fake.views[id]["last_errors"]``), ``update``/``push`` change the stack,
        ``clear`` closes all, nothing closes this view.
        """
        record = self._find_view(view)
        vid = record["id"]
        submitted = json.loads(json.dumps(record))
        submitted["state"] = {"values": self._state_values(record, values or {})}
        if private_metadata is not None:
            submitted["private_metadata"] = private_metadata
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self._user_ref(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.new_trigger(user),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "type": "interactive",
            "accepts_response_payload": True,
            "payload": payload,
        }
        ack = await self.push_envelope(envelope, ack_timeout=ack_timeout)
        response = ack.payload or {}
        action = response.get("response_action")
        record["state"] = submitted["state"]
        if action == "errors":
            record["last_errors"] = response.get("errors")
        elif action == "update" and isinstance(response.get("view"), dict):
            for key in ("blocks", "private_metadata", "callback_id", "title", "close", "submit"):
                if key in response["view"]:
                    record[key] = response["view"][key]
            record["hash"] = secrets.token_hex(8)
        elif action == "push" and isinstance(response.get("view"), dict):
            self._new_view(response["view"], user, previous=vid, root=record["root_view_id"])
        elif action == "clear":
            for other_id, other in self.views.items():
                if other["root_view_id"] == record["root_view_id"]:
                    self._view_meta[other_id]["open"] = False
        else:
            self._view_meta[vid]["open"] = False
        self._changed()
        return ack

    async def request_reconnect(
        self, reason: str = "refresh_requested", *, timeout: float = 5.0, close_old: bool = False
    ) -> None:
        """Ask the bot to reconnect (as Slack does periodically) and wait for the new socket."""
        await self.wait_connected(timeout)
        old = self._current_conn()
        assert old is not None
        before = self.connections_opened
        await old.send(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
        )
        await self.wait_for(
            lambda: (
                self.connections_opened > before
                and (c := self._current_conn()) is not None
                and c is not old
            ),
            timeout,
        )
        if close_old and old.open:
            await old.ws.close(code=1000, message=b"refreshed")

    async def drop_connections(self, code: int = 1011) -> None:
        """Close every socket from the server side (abrupt loss; tests auto-reconnect)."""
        await asyncio.gather(
            *(c.ws.close(code=code) for c in list(self._conns)), return_exceptions=True
        )

    # ---- control API -----------------------------------------------------------------

    def _add_control_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/_control/health", self._ctl_health)
        r.add_post("/_control/mention", self._ctl_mention)
        r.add_post("/_control/message", self._ctl_message)
        r.add_post("/_control/dm", self._ctl_dm)
        r.add_post("/_control/event", self._ctl_event)
        r.add_post("/_control/click", self._ctl_click)
        r.add_post("/_control/submit_view", self._ctl_submit_view)
        r.add_post("/_control/add_message", self._ctl_add_message)
        r.add_post("/_control/reconnect", self._ctl_reconnect)
        r.add_post("/_control/fail_next", self._ctl_fail_next)
        r.add_post("/_control/rate_limits", self._ctl_rate_limits)
        r.add_post("/_control/wait_call", self._ctl_wait_call)
        r.add_post("/_control/reset_counters", self._ctl_reset)
        r.add_get("/_control/calls", self._ctl_calls)
        r.add_get("/_control/acks", self._ctl_acks)
        r.add_get("/_control/messages", self._ctl_messages)
        r.add_get("/_control/stats", self._ctl_stats)
        r.add_post("/_control/wait_message", self._ctl_wait_message)
        r.add_post("/_control/wait_connected", self._ctl_wait_connected)
        r.add_post("/_control/find_messages", self._ctl_find_messages)

    @staticmethod
    async def _ctl_body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    async def _ctl(
        self, request: web.Request, action: Callable[[dict[str, Any]], Any]
    ) -> web.Response:
        try:
            body = await self._ctl_body(request)
            result = await action(body)
        except AckTimeout as e:
            return web.json_response(
                {"ok": False, "error": "ack_timeout", "detail": str(e)}, status=504
            )
        except TimeoutError as e:
            return web.json_response(
                {"ok": False, "error": "timeout", "detail": str(e)}, status=504
            )
        except (KeyError, LookupError, ValueError, TypeError) as e:
            return web.json_response(
                {"ok": False, "error": type(e).__name__, "detail": str(e)}, status=400
            )
        return web.json_response({"ok": True, **result})

    async def _ctl_health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": True, "base_url": self.base_url, "ws_connections": self.ws_connections}
        )

    async def _ctl_mention(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            ts, ack = await self.mention(
                b["text"],
                b.get("channel", "C1"),
                b.get("user", "U1"),
                b.get("thread_ts"),
                ack_timeout=b.get("ack_timeout"),
            )
            return {"ts": ts, "ack": ack.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_message(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            ts, ack = await self.message(
                b["text"],
                b.get("channel", "C1"),
                b.get("user", "U1"),
                b.get("thread_ts"),
                channel_type=b.get("channel_type"),
                ack_timeout=b.get("ack_timeout"),
            )
            return {"ts": ts, "ack": ack.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_dm(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            user = b.get("user", "U1")
            ts, ack = await self.dm(
                b["text"], user, b.get("thread_ts"), ack_timeout=b.get("ack_timeout")
            )
            return {"ts": ts, "channel": self.dm_channel(user), "ack": ack.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_event(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            ack = await self.send_event(
                b["event"],
                b.get("event_id"),
                int(b.get("retry_attempt", 0)),
                b.get("retry_reason", ""),
                ack_timeout=b.get("ack_timeout"),
            )
            return {"ack": ack.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_click(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            ack = await self.click_button(
                b["channel"],
                b["message_ts"],
                b["action_id"],
                b.get("value"),
                b.get("user", "U1"),
                b.get("block_id"),
                ack_timeout=b.get("ack_timeout"),
            )
            return {"ack": ack.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_submit_view(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            ack = await self.submit_view(
                b["view"],
                b.get("values"),
                b.get("user", "U1"),
                b.get("private_metadata"),
                ack_timeout=b.get("ack_timeout"),
            )
            return {"ack": ack.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_add_message(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            return {
                "ts": self.add_message(
                    b["channel"], b.get("user", "U1"), b["text"], b.get("thread_ts")
                )
            }

        return await self._ctl(request, act)

    async def _ctl_reconnect(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            await self.request_reconnect(
                b.get("reason", "refresh_requested"), timeout=float(b.get("timeout", 5))
            )
            return {"connections_opened": self.connections_opened}

        return await self._ctl(request, act)

    async def _ctl_fail_next(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            self.fail_next(
                b["method"],
                b.get("error"),
                status=int(b.get("status", 200)),
                retry_after=b.get("retry_after"),
                count=int(b.get("count", 1)),
                delay=float(b.get("delay", 0.0)),
                body=b.get("body"),
            )
            return {}

        return await self._ctl(request, act)

    async def _ctl_rate_limits(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            if not b.get("enabled", True):
                self.disable_rate_limits()
                return {"enabled": False}
            overrides = {
                m: limits.RateLimit(**spec) for m, spec in (b.get("overrides") or {}).items()
            }
            self.enable_rate_limits(b.get("methods"), overrides)
            return {"enabled": True, "methods": sorted(self._limiter.limits)}

        return await self._ctl(request, act)

    async def _ctl_wait_call(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            call = await self.wait_for_call(
                b["method"], count=int(b.get("count", 1)), timeout=float(b.get("timeout", 5))
            )
            return {"call": call.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            self.reset_counters()
            return {}

        return await self._ctl(request, act)

    async def _ctl_calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method")
        since = int(request.query.get("since", 0))
        calls = [c.to_dict() for c in self.calls[since:] if method is None or c.method == method]
        return web.json_response({"ok": True, "calls": calls, "total": len(self.calls)})

    async def _ctl_acks(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "acks": [a.to_dict() for a in self.acks]})

    async def _ctl_messages(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel", "C1")
        thread_ts = request.query.get("thread_ts")
        msgs = self.thread_messages(channel, thread_ts) if thread_ts else self.messages(channel)
        return web.json_response({"ok": True, "messages": [self._timed_json(m) for m in msgs]})

    def _timed_json(self, msg: Message) -> dict[str, Any]:
        """A message as the control API shows it: Slack's JSON plus real monotonic times."""
        return {
            **self._message_json(msg),
            "created_at": msg.created_at,
            "changed_at": msg.changed_at,
        }

    async def _ctl_wait_message(self, request: web.Request) -> web.Response:
        """Block until a message in ``channel`` (optionally a reply in ``thread_ts``, optionally
        only from the bot) contains ``contains`` in its text or blocks.

        Lets an out-of-process driver time "mention → answer posted" from the emulator's own
        record of when the message appeared, instead of polling ``messages``.
        """

        async def act(b: dict[str, Any]) -> dict[str, Any]:
            channel, thread_ts = b["channel"], b.get("thread_ts")
            needle, bot_only = b.get("contains"), bool(b.get("bot_only", True))

            def matches(m: Message) -> bool:
                if bot_only and not m.is_bot:
                    return False
                if thread_ts and m.ts == thread_ts:
                    return False  # the root is the question, not an answer
                if needle is None:
                    return True
                return needle in m.text or needle in json.dumps(m.blocks or [])

            msg = await self.wait_for_message(
                channel, matches, thread_ts=thread_ts, timeout=float(b.get("timeout", 5))
            )
            return {"message": self._timed_json(msg)}

        return await self._ctl(request, act)

    async def _ctl_find_messages(self, request: web.Request) -> web.Response:
        """Non-blocking lookup of many answers at once: per query, the first bot reply that
        contains ``contains`` (``{ts, at, count}``, ``at`` = when a version of it first did,
        ``count`` = how many replies contain it) or null.

        For hundreds of concurrent sessions a driver polls this instead of holding one
        ``wait_message`` per session: those waiters are all re-checked on every state change,
        which would load the emulator — and so the machine the bot is measured on.
        """

        async def act(b: dict[str, Any]) -> dict[str, Any]:
            found: list[dict[str, Any] | None] = []
            for q in b["queries"]:
                channel, thread_ts, needle = q["channel"], q.get("thread_ts"), q["contains"]
                pool = (
                    self.thread_messages(channel, thread_ts, include_root=False)
                    if thread_ts
                    else self.messages(channel)
                )
                hits = [(m, at) for m in pool if m.is_bot and (at := m.first_seen(needle))]
                if not hits:
                    found.append(None)
                    continue
                first, at = min(hits, key=lambda h: h[1])
                found.append({"ts": first.ts, "at": at, "count": len(hits)})
            return {"found": found}

        return await self._ctl(request, act)

    async def _ctl_wait_connected(self, request: web.Request) -> web.Response:
        """Block until a Socket Mode connection numbered ``min_opened`` or later is open;
        ``connected_at`` is when its ``hello`` went out (a restarted bot: pass the count
        seen before the restart + 1)."""

        async def act(b: dict[str, Any]) -> dict[str, Any]:
            wanted = int(b.get("min_opened", 1))

            def current() -> _Conn | None:
                conn = self._current_conn()
                return conn if conn is not None and conn.number >= wanted else None

            conn = await self.wait_for(current, float(b.get("timeout", 5)))
            return {"connected_at": conn.opened_at, "connections_opened": self.connections_opened}

        return await self._ctl(request, act)

    async def _ctl_stats(self, request: web.Request) -> web.Response:
        lat = sorted(a.latency_s for a in self.acks if a.latency_s == a.latency_s)

        def pct(p: float) -> float | None:
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None

        return web.json_response(
            {
                "ok": True,
                "calls_by_method": dict(self.calls_by_method()),
                "rate_limited": dict(self.rate_limited),
                "ws_connections": self.ws_connections,
                "connections_opened": self.connections_opened,
                "acks": len(self.acks),
                "ack_latency_s": {
                    "p50": pct(0.5),
                    "p95": pct(0.95),
                    "max": lat[-1] if lat else None,
                },
            }
        )


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeSlack(
        bot_token=args.bot_token,
        app_token=args.app_token,
        host=args.host,
        port=args.port,
        strict=args.strict,
        rate_limits=args.rate_limits,
        ack_timeout=args.ack_timeout,
    )
    await fake.start()
    print(f"READY {fake.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Slack emulator (Web API + Socket Mode).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = random free port")
    parser.add_argument("--bot-token", default="xoxb-test")
    parser.add_argument("--app-token", default="xapp-1-A111-test")
    parser.add_argument(
        "--strict", action="store_true", help="only registered channels/users exist"
    )
    parser.add_argument("--rate-limits", action="store_true", help="enforce Slack rate-limit tiers")
    parser.add_argument("--ack-timeout", type=float, default=5.0)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
