"""The playground workspace: people, channels, messages, files, modals — in memory.

This is Slack's side of the conversation, kept as plain data so both faces of the playground
read one truth: the Web API (:mod:`.web_api`, what the bot calls) and the page
(:mod:`.page_routes`, what a person sees). Every change is published to subscribers (the
page's live-update sockets) as a small JSON event; nothing here knows about HTTP.

The workspace forgets everything when the process exits, on purpose: it is a sandbox. The
bot's own store is a separate, playground-specific SQLite file (see :mod:`.launch`).
"""

from __future__ import annotations

import asyncio
import itertools
import mimetypes
import time
from dataclasses import dataclass, field
from typing import Any

TEAM_ID = "T0PLAYGRND"
TEAM_NAME = "Playground"
APP_ID = "A0PLAYGRND"
BOT_USER_ID = "U0INTERN"
BOT_ID = "B0INTERN"
BOT_NAME = "ml-intern"


class ApiError(Exception):
    """A Slack error code (``ok: false``), raised where Slack would refuse the call."""

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail


@dataclass
class Person:
    id: str
    name: str
    real_name: str
    role: str  # what this person is for in the playground: requester, approver, bystander
    is_bot: bool = False

    def to_slack(self) -> dict[str, Any]:
        """A ``users.info`` user object (the fields the bot and Bolt read)."""
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.real_name,
            "is_bot": self.is_bot,
            "deleted": False,
            "tz": "UTC",
            "profile": {"real_name": self.real_name, "display_name": self.name},
        }


@dataclass
class Conversation:
    id: str
    name: str
    is_im: bool = False
    dm_user: str | None = None

    def to_slack(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_im,
            "is_im": self.is_im,
            "is_private": self.is_im,
            "is_member": True,
        }
        if self.dm_user:
            data["user"] = self.dm_user
        return data


@dataclass
class StoredFile:
    id: str
    name: str
    user: str
    length: int
    title: str = ""
    content: bytes | None = None
    shared: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def mimetype(self) -> str:
        return mimetypes.guess_type(self.name)[0] or "text/plain"


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    bot_id: str | None = None
    files: list[str] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    edited_ts: str | None = None
    streaming: bool = False
    metadata: dict[str, Any] | None = None
    client_msg_id: str | None = None

    @property
    def is_reply(self) -> bool:
        return bool(self.thread_ts) and self.thread_ts != self.ts


@dataclass
class Ephemeral:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None


@dataclass
class OpenView:
    id: str
    user: str
    view: dict[str, Any]
    hash: str
    is_open: bool = True


class Workspace:
    """All Slack-side state of one playground run, with a change feed for the page."""

    def __init__(self, base_url: str = "") -> None:
        self.base_url = base_url  # http://127.0.0.1:PORT, set once the server is bound
        self.people: dict[str, Person] = {}
        self.conversations: dict[str, Conversation] = {}
        self.messages: dict[str, list[Message]] = {}
        self.files: dict[str, StoredFile] = {}
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, OpenView] = {}
        self.statuses: dict[tuple[str, str], str] = {}
        self.notices: list[dict[str, Any]] = []  # what the page shows about modes (real/sim)
        self.bot_connected = False  # set by the Socket Mode side; shown on the page
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._ids = itertools.count(1)
        self._last_ts_us = 0

    # ------------------------------------------------------------------ identities
    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def next_ts(self) -> str:
        """Unique, increasing ts: wall-clock seconds + microseconds, as Slack's."""
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def add_person(self, person: Person) -> Person:
        self.people[person.id] = person
        return person

    def add_channel(self, conv_id: str, name: str) -> Conversation:
        conv = Conversation(conv_id, name)
        self.conversations[conv_id] = conv
        self.messages.setdefault(conv_id, [])
        return conv

    def dm_with(self, user: str) -> Conversation:
        """The bot's DM with ``user`` (created on first use, like conversations.open)."""
        self.person(user)
        for conv in self.conversations.values():
            if conv.is_im and conv.dm_user == user:
                return conv
        conv = Conversation(f"D{user[1:]}", f"dm-{self.people[user].name}", True, user)
        self.conversations[conv.id] = conv
        self.messages.setdefault(conv.id, [])
        self.publish({"type": "conversation", "conversation": self.conversation_json(conv)})
        return conv

    def person(self, user: Any) -> Person:
        found = self.people.get(user) if isinstance(user, str) else None
        if found is None:
            raise ApiError("user_not_found")
        return found

    def conversation(self, channel: Any) -> Conversation:
        """A conversation by id, ``#name`` or (as chat.postMessage allows) a user id → DM."""
        if isinstance(channel, str) and channel:
            if channel in self.conversations:
                return self.conversations[channel]
            if channel in self.people:
                return self.dm_with(channel)
            name = channel.lstrip("#")
            for conv in self.conversations.values():
                if conv.name == name:
                    return conv
        raise ApiError("channel_not_found")

    # ------------------------------------------------------------------ messages
    def find(self, channel: str, ts: Any) -> Message:
        for msg in self.messages.get(channel, []):
            if msg.ts == ts:
                return msg
        raise ApiError("message_not_found")

    def thread_root(self, channel: str, thread_ts: Any) -> str | None:
        """Replies to a reply land in the parent's thread, as in Slack."""
        if not thread_ts:
            return None
        try:
            parent = self.find(channel, thread_ts)
        except ApiError:
            raise ApiError("thread_not_found") from None
        return parent.thread_ts if parent.is_reply else parent.ts

    def add_message(self, msg: Message) -> Message:
        self.messages.setdefault(msg.channel, []).append(msg)
        if msg.thread_ts and msg.bot_id:
            # Slack clears the assistant status when the app replies in the thread.
            self.set_status(msg.channel, msg.thread_ts, "")
        self.publish_message(msg)
        if msg.is_reply and msg.thread_ts:
            self.publish_message(self.find(msg.channel, msg.thread_ts))  # reply count
        return msg

    def add_bot_message(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        files: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        streaming: bool = False,
    ) -> Message:
        """A message from the app (posted, streamed, uploaded or sent through respond())."""
        msg = Message(
            channel=channel,
            ts=self.next_ts(),
            user=BOT_USER_ID,
            bot_id=BOT_ID,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            files=files or [],
            metadata=metadata,
            streaming=streaming,
        )
        return self.add_message(msg)

    def remove_message(self, msg: Message) -> None:
        self.messages[msg.channel].remove(msg)
        self.publish({"type": "message_deleted", "channel": msg.channel, "ts": msg.ts})

    def replies(self, channel: str, root_ts: str) -> list[Message]:
        return [m for m in self.messages.get(channel, []) if m.thread_ts == root_ts and m.is_reply]

    def top_level(self, channel: str) -> list[Message]:
        return [m for m in self.messages.get(channel, []) if not m.is_reply]

    # ------------------------------------------------------------------ statuses, ephemerals, views
    def set_status(self, channel: str, thread_ts: str, status: str) -> None:
        key = (channel, thread_ts)
        if status == self.statuses.get(key, ""):
            return
        if status:
            self.statuses[key] = status
        else:
            self.statuses.pop(key, None)
        self.publish(
            {"type": "status", "channel": channel, "thread_ts": thread_ts, "status": status}
        )

    def add_ephemeral(self, eph: Ephemeral) -> None:
        self.ephemerals.append(eph)
        self.publish({"type": "ephemeral", "ephemeral": self.ephemeral_json(eph)})

    def add_view(self, user: str, view: dict[str, Any], hash_: str) -> OpenView:
        record = OpenView(self.next_id("V"), user, view, hash_)
        self.views[record.id] = record
        self.publish({"type": "view", "view": self.view_json(record)})
        return record

    def close_view(self, record: OpenView) -> None:
        record.is_open = False
        self.publish({"type": "view_closed", "id": record.id, "user": record.user})

    # ------------------------------------------------------------------ change feed
    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def publish(self, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stalled page: drop it; it reloads on reconnect
                self._subscribers.discard(queue)

    def publish_message(self, msg: Message) -> None:
        self.publish({"type": "message", "message": self.message_json(msg)})

    # ------------------------------------------------------------------ JSON for the page
    def file_json(self, f: StoredFile) -> dict[str, Any]:
        url = f"{self.base_url}/files-pri/{TEAM_ID}-{f.id}/{f.name}"
        return {
            "id": f.id,
            "name": f.name,
            "title": f.title or f.name,
            "mimetype": f.mimetype,
            "filetype": f.name.rsplit(".", 1)[-1].lower() if "." in f.name else "binary",
            "size": len(f.content) if f.content is not None else f.length,
            "user": f.user,
            "created": f.created,
            "url_private": url,
            "url_private_download": url,
            "permalink": f"{self.base_url}/files/{f.user}/{f.id}/{f.name}",
            "mode": "hosted",
            "is_external": False,
        }

    def message_json(self, msg: Message) -> dict[str, Any]:
        """The message as Slack's API returns it (conversations.replies, the page)."""
        data: dict[str, Any] = {"type": "message", "ts": msg.ts, "text": msg.text, "team": TEAM_ID}
        data["user"] = msg.user
        data["channel"] = msg.channel
        if msg.bot_id:
            data["bot_id"] = msg.bot_id
            data["app_id"] = APP_ID
        if msg.blocks is not None:
            data["blocks"] = msg.blocks
        if msg.files:
            data["files"] = [self.file_json(self.files[f]) for f in msg.files if f in self.files]
            data["upload"] = True
        if msg.edited_ts:
            data["edited"] = {"user": msg.user, "ts": msg.edited_ts}
        if msg.metadata:
            data["metadata"] = msg.metadata
        if msg.client_msg_id:
            data["client_msg_id"] = msg.client_msg_id
        reactions = [
            {"name": n, "users": list(u), "count": len(u)} for n, u in msg.reactions.items() if u
        ]
        if reactions:
            data["reactions"] = reactions
        if msg.is_reply:
            data["thread_ts"] = msg.thread_ts
        else:
            replies = self.replies(msg.channel, msg.ts)
            if replies:
                users = list(dict.fromkeys(r.user for r in replies))
                data.update(
                    thread_ts=msg.ts,
                    reply_count=len(replies),
                    reply_users=users,
                    reply_users_count=len(users),
                    latest_reply=replies[-1].ts,
                )
        return data

    def ephemeral_json(self, eph: Ephemeral) -> dict[str, Any]:
        return {
            "channel": eph.channel,
            "user": eph.user,
            "ts": eph.ts,
            "text": eph.text,
            "blocks": eph.blocks,
            "thread_ts": eph.thread_ts,
        }

    def view_json(self, record: OpenView) -> dict[str, Any]:
        return {"id": record.id, "user": record.user, "hash": record.hash, **record.view}

    def conversation_json(self, conv: Conversation) -> dict[str, Any]:
        return conv.to_slack()

    def snapshot(self) -> dict[str, Any]:
        """Everything the page needs to draw itself from scratch (on load and reconnect)."""
        return {
            "team": {"id": TEAM_ID, "name": TEAM_NAME},
            "bot": {"user_id": BOT_USER_ID, "name": BOT_NAME},
            "people": [vars(p) for p in self.people.values()],
            "conversations": [self.conversation_json(c) for c in self.conversations.values()],
            "messages": [self.message_json(m) for msgs in self.messages.values() for m in msgs],
            "statuses": [
                {"channel": c, "thread_ts": t, "status": s} for (c, t), s in self.statuses.items()
            ],
            "ephemerals": [self.ephemeral_json(e) for e in self.ephemerals],
            "views": [self.view_json(v) for v in self.views.values() if v.is_open],
            "notices": list(self.notices),
            "bot_connected": self.bot_connected,
        }
