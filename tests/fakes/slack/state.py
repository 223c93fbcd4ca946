"""The emulated workspace: channels, users, messages, views, files, and the traffic record.

Slack-side state and the rules Slack applies to it (channel resolution, thread roots, content
limits, ts ordering) live here, apart from the protocols that change it: the Web API
(``web_api``), Socket Mode (``socket_mode``), incoming webhooks and response_urls (``hooks``)
and the control API (``control``) all receive this object and nothing else of each other.
Tests assert on this state and wait on it (``wait_for*``), never on sleeps.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from tests.fakes import slack_limits as limits
from tests.fakes.slack.records import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    CHANNEL_ID_RE,
    TEAM_ID,
    TS_RE,
    USER_ID_RE,
    Ack,
    Call,
    ChangeSignal,
    FakeFile,
    HookPost,
    Message,
    SlackError,
    rich_text_blocks,
    ts_key,
)


class SlackState:
    """One workspace with the bot installed, plus everything the bot sent or acked."""

    def __init__(
        self,
        *,
        origin: str,
        strict: bool = False,
        clock: Callable[[], float] = time.monotonic,
        trigger_ttl: float = 3.0,
    ) -> None:
        """
        Args:
            origin: ``http://host:port`` the workspace's links (avatars, permalinks, files)
                point at; updated once the server has its port.
            strict: only registered channels/users/webhooks exist (``add_channel`` …),
                unknown socket tickets are refused. Off: any well-formed C…/D…/G…/U… id is
                accepted, which keeps simple tests free of set-up noise.
            clock: time source for rate limits and trigger expiry; inject a fake clock to
                step time in tests instead of sleeping.
            trigger_ttl: trigger_ids expire after this (Slack: 3 s).
        """
        self.origin = origin
        self.strict = strict
        self.clock = clock
        self.trigger_ttl = trigger_ttl

        # recorded traffic
        self.calls: list[Call] = []
        self.acks: list[Ack] = []
        self.envelopes: list[dict[str, Any]] = []  # every envelope pushed to the bot
        self.unexpected_frames: list[str] = []  # frames from the bot that were not acks
        self.webhook_posts: list[HookPost] = []
        self.response_url_posts: list[HookPost] = []
        self.rate_limited: Counter[str] = Counter()  # 429s served (faults + tier mode)

        # Slack-side state
        self.channels_info: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.usergroup_handles: dict[str, str] = {}
        self._messages: dict[str, list[Message]] = {}  # channel -> messages in ts order
        self._by_ts: dict[tuple[str, str], Message] = {}  # indexes keep big runs O(1)
        self._replies: dict[tuple[str, str], list[Message]] = {}  # (channel, root ts) -> replies
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}  # view_id -> view as Slack returns it
        self.files: dict[str, FakeFile] = {}
        self.statuses: list[dict[str, Any]] = []  # assistant.threads.setStatus history
        self.thread_status: dict[tuple[str, str], str] = {}  # (channel, thread_ts) -> status
        self._dm_channels: dict[str, str] = {}
        self._view_meta: dict[str, dict[str, Any]] = {}
        self._triggers: dict[str, dict[str, Any]] = {}

        self._signal = ChangeSignal()
        self._last_ts_us = 0
        self._ids = itertools.count(1)

        self.add_user(BOT_USER_ID, BOT_NAME, is_bot=True)
        self.add_user("U1", "alice", real_name="Alice Example")
        self.add_user("U2", "bob", real_name="Bob Example")

    def new_id(self, prefix: str, digits: int = 8) -> str:
        """A fresh Slack-style id (``D00000001``, ``F0000000002`` …)."""
        return f"{prefix}{next(self._ids):0{digits}d}"

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
                "image_48": f"{self.origin}/avatars/{user_id}.png",
                "team": TEAM_ID,
            },
        }
        if is_bot and user_id == BOT_USER_ID:
            user["profile"]["bot_id"] = BOT_ID
        self.users[user_id] = user
        return user

    def set_usergroup(
        self, usergroup_id: str, users: Iterable[str], *, handle: str | None = None
    ) -> None:
        self.usergroups[usergroup_id] = list(users)
        self.usergroup_handles[usergroup_id] = handle or usergroup_id.lower()

    def dm_channel(self, user: str) -> str:
        """The IM channel id between the bot and ``user`` (created on first use)."""
        if user not in self._dm_channels:
            cid = self.new_id("D")
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

    def has_dm_channel(self, user: str) -> bool:
        return user in self._dm_channels

    def group_dm_channel(self, users: list[str]) -> str:
        """The multi-person IM between the bot and ``users`` (created on first use)."""
        key = ",".join(sorted(users))
        if key not in self._dm_channels:
            cid = self.new_id("G")
            self._dm_channels[key] = cid
            self.add_channel(cid, name=f"mpdm-{'--'.join(users)}-1", is_private=True)
            self.channels_info[cid]["is_mpim"] = True
        return self._dm_channels[key]

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

    def changed(self) -> None:
        self._signal.notify_all()

    def record_call(self, call: Call, status: int, response: Any) -> None:
        """Log an answered request (every protocol records into the one ``calls`` list)."""
        call.status = status
        call.response = response
        call.duration = time.monotonic() - call.time
        self.calls.append(call)
        self.changed()

    # ---- the rules Slack applies (shared by every protocol) ----------------------------

    def next_ts(self) -> str:
        """Unique, increasing Slack ts (wall-clock seconds + microseconds)."""
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def resolve_channel(self, value: Any, *, write: bool = False) -> str:
        if not value or not isinstance(value, str):
            raise SlackError("channel_not_found")
        if value in self.channels_info or value in self._dm_channels.values():
            channel = value
        elif USER_ID_RE.match(value) and (not self.strict or value in self.users):
            channel = self.dm_channel(value)  # posting to a user id goes to the app DM
        else:
            name = value.lstrip("#")
            by_name = [cid for cid, info in self.channels_info.items() if info.get("name") == name]
            if by_name:
                channel = by_name[0]
            elif not self.strict and CHANNEL_ID_RE.match(value):
                channel = value
            else:
                raise SlackError("channel_not_found")
        if write and self.channels_info.get(channel, {}).get("is_member") is False:
            raise SlackError("not_in_channel")
        self._messages.setdefault(channel, [])
        return channel

    def check_user(self, user: Any) -> str:
        if not isinstance(user, str) or not user:
            raise SlackError("user_not_found")
        if user in self.users:
            return user
        if not self.strict and USER_ID_RE.match(user):
            return user
        raise SlackError("user_not_found")

    def user_json(self, user: str) -> dict[str, Any]:
        if user in self.users:
            return self.users[user]
        return self.add_user(user, f"user-{user.lower()}")

    def find_message(self, channel: str, ts: Any) -> Message:
        if not isinstance(ts, str) or not ts:
            raise SlackError("message_not_found")
        msg = self.get_message(channel, ts)
        if msg is None:
            raise SlackError("message_not_found")
        return msg

    @staticmethod
    def check_content(text: Any, blocks: Any, attachments: Any, *, require: bool = True) -> None:
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

    def thread_root(self, channel: str, thread_ts: Any) -> str | None:
        """Replies to a reply land in the parent's thread, as in Slack."""
        if thread_ts in (None, ""):
            return None
        if not isinstance(thread_ts, str) or not TS_RE.match(thread_ts):
            raise SlackError("invalid_thread_ts")
        parent = self.get_message(channel, thread_ts)
        if parent is not None and parent.is_reply:
            return parent.thread_ts
        return thread_ts

    def store_message(self, msg: Message) -> Message:
        if (msg.channel, msg.ts) in self._by_ts:
            raise ValueError(f"duplicate ts {msg.ts} in {msg.channel}")
        self._by_ts[(msg.channel, msg.ts)] = msg
        msgs = self._messages.setdefault(msg.channel, [])
        msgs.append(msg)
        if len(msgs) > 1 and ts_key(msgs[-2].ts) > ts_key(msg.ts):  # explicit, older ts
            msgs.sort(key=lambda m: ts_key(m.ts))
        if msg.is_reply:
            replies = self._replies.setdefault((msg.channel, msg.thread_ts or ""), [])
            replies.append(msg)
            replies.sort(key=lambda m: ts_key(m.ts))
        if msg.thread_ts and msg.is_bot:
            # Slack clears the assistant status when the app replies in the thread.
            self.thread_status.pop((msg.channel, msg.thread_ts), None)
        self.changed()
        return msg

    def remove_message(self, msg: Message) -> None:
        self._messages[msg.channel].remove(msg)
        del self._by_ts[(msg.channel, msg.ts)]
        if msg.is_reply:
            self._replies[(msg.channel, msg.thread_ts or "")].remove(msg)
        self.deleted_messages.append(msg)
        self.changed()

    def message_json(self, msg: Message) -> dict[str, Any]:
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
        link = f"{self.origin}/archives/{channel}/p{ts.replace('.', '')}"
        msg = self.get_message(channel, ts)
        if msg is not None and msg.is_reply:
            link += f"?thread_ts={msg.thread_ts}&cid={channel}"
        return link

    # ---- people ------------------------------------------------------------------------

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
        channel = self.resolve_channel(channel)
        msg = Message(
            channel=channel,
            ts=ts or self.next_ts(),
            text=text,
            user=user,
            bot_id=bot_id,
            blocks=blocks if blocks is not None else rich_text_blocks(text),
            thread_ts=self.thread_root(channel, thread_ts),
            extra={"client_msg_id": str(uuid.uuid4())},
        )
        self.store_message(msg)
        return msg.ts

    # ---- interactivity: triggers and views ---------------------------------------------

    def take_trigger(self, args: dict[str, Any]) -> str:
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

    def new_view(
        self, view: dict[str, Any], user: str, *, previous: str | None, root: str | None
    ) -> dict[str, Any]:
        vid = self.new_id("V")
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
        self.changed()
        return record

    def find_view(self, view: str) -> dict[str, Any]:
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

    def close_view(self, view_id: str) -> None:
        self._view_meta[view_id]["open"] = False

    def close_view_stack(self, root_view_id: str) -> None:
        """``response_action: clear``: every view pushed on the same root closes."""
        for view_id, view in self.views.items():
            if view["root_view_id"] == root_view_id:
                self._view_meta[view_id]["open"] = False
