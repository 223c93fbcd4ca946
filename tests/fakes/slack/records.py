"""What the Slack emulator records and stores: ids, messages, calls, acks, files, errors.

Plain data shared by every protocol module (Web API, Socket Mode, webhooks, control) and by
tests asserting on Slack-side state. The ids below are the emulator's one workspace and app.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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

CHANNEL_ID_RE = re.compile(r"^[CDG][A-Z0-9]+$")
USER_ID_RE = re.compile(r"^[UW][A-Z0-9]+$")
TS_RE = re.compile(r"^\d+\.\d+$")
MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


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
            "args": jsonable(self.args),
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
    extra: dict[str, Any] = field(default_factory=dict)
    # Real monotonic times (time.monotonic(), one clock for every process on the host, so an
    # out-of-process benchmark can compare them with its own readings): stored, last changed.
    created_at: float = field(default_factory=time.monotonic)
    changed_at: float = field(default_factory=time.monotonic)
    version_times: list[float] = field(default_factory=lambda: [time.monotonic()])  # ↔ versions

    def first_seen(self, needle: str) -> float | None:
        """When a version of this message first contained ``needle`` (text or blocks)."""
        for version, at in zip(self.versions, self.version_times, strict=True):
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
    owner: str = BOT_USER_ID  # who uploaded it (a person for files shared with the bot)
    mode: str = "hosted"  # "snippet" for a pasted snippet (it then has a ``preview``)


class AckTimeout(TimeoutError):
    """The bot did not ack an envelope in time (Slack would redeliver after 3 s)."""


class SlackError(Exception):
    """Raised inside Web API handlers; becomes ``{"ok": false, "error": …}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class ChangeSignal:
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


def jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def ts_key(ts: str) -> tuple[int, int]:
    """Exact ordering key for Slack ts strings (floats lose the last microsecond digits)."""
    sec, _, frac = ts.partition(".")
    try:
        return int(sec), int((frac + "000000")[:6])
    except ValueError:
        raise SlackError("invalid_ts_latest") from None


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def rich_text_blocks(text: str) -> list[dict[str, Any]]:
    """Human messages carry rich_text blocks; bots that parse blocks need them to exist."""
    elements: list[dict[str, Any]] = []
    pos = 0
    for m in MENTION_RE.finditer(text):
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
