"""The Web API methods the bot calls, answered from the playground :class:`Workspace`.

Each method takes the merged request arguments (query string, form and JSON body, as
slack_sdk sends them) and returns the fields of an ``ok: true`` answer, or raises
:class:`ApiError` with the code Slack would send. The rules Slack enforces that the bot could
break are enforced here too (text and block limits, who may edit what, one reaction per
person, single-use trigger ids, streams that are replies), so the playground cannot show a
message Slack would have refused.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from .workspace import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    TEAM_NAME,
    ApiError,
    Ephemeral,
    Message,
    StoredFile,
    Workspace,
)

MAX_TEXT_CHARS = 40_000  # Slack truncates/refuses above this
MAX_BLOCKS = 50  # per message (100 in modals)
MAX_VIEW_BLOCKS = 100
MAX_STREAM_CHARS = 12_000  # markdown_text per streaming call
TRIGGER_TTL_S = 3.0  # trigger_ids expire after 3 s and work once
JSON_ARGS = ("blocks", "attachments", "view", "files", "metadata", "chunks", "loading_messages")

Method = Callable[[dict[str, Any]], dict[str, Any]]


def decode_json_args(args: dict[str, Any]) -> dict[str, Any]:
    """Form-encoded calls carry blocks/view/files as JSON strings; decode them in place."""
    for key in JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in "[{":
            try:
                args[key] = json.loads(value)
            except ValueError:
                raise ApiError(f"invalid_{key}") from None
    return args


def check_blocks(blocks: Any, limit: int = MAX_BLOCKS) -> list[dict[str, Any]] | None:
    """Validate with slack_sdk's own Block Kit models: what they refuse, Slack refuses."""
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format")
    if len(blocks) > limit:
        raise ApiError("invalid_blocks", f"more than {limit} blocks")
    for i, raw in enumerate(blocks):
        if not isinstance(raw, dict):
            raise ApiError("invalid_blocks", f"block {i} is not an object")
        try:
            parsed = Block.parse(raw)
            if parsed is None:
                raise ApiError("invalid_blocks", f"block {i}: unknown type {raw.get('type')!r}")
            parsed.validate_json()
        except SlackObjectFormationError as exc:
            raise ApiError("invalid_blocks", f"block {i}: {exc}") from None
    return blocks


def check_content(text: Any, blocks: Any, *, required: bool = True) -> None:
    if required and not text and not blocks:
        raise ApiError("no_text")
    if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
        raise ApiError("msg_too_long")
    check_blocks(blocks)


class WebApi:
    """``method name → handler`` over one workspace; the server looks methods up here."""

    def __init__(self, ws: Workspace, *, ws_url: Callable[[], str]) -> None:
        self.ws = ws
        self._ws_url = ws_url
        self.triggers: dict[str, tuple[str, float]] = {}  # trigger_id → (user, issued at)
        self.methods: dict[str, Method] = {
            "auth.test": self.auth_test,
            "apps.connections.open": self.connections_open,
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.delete": self.delete,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.getPermalink": self.permalink,
            "chat.startStream": self.start_stream,
            "chat.appendStream": self.append_stream,
            "chat.stopStream": self.stop_stream,
            "reactions.add": self.reactions_add,
            "reactions.remove": self.reactions_remove,
            "conversations.replies": self.replies,
            "conversations.history": self.history,
            "conversations.open": self.conversations_open,
            "conversations.info": self.conversations_info,
            "users.info": self.users_info,
            "usergroups.users.list": self.usergroup_users,
            "usergroups.list": self.usergroups,
            "views.open": self.views_open,
            "views.push": self.views_open,
            "views.update": self.views_update,
            "files.getUploadURLExternal": self.upload_url,
            "files.completeUploadExternal": self.complete_upload,
            "files.info": self.files_info,
            "files.delete": self.files_delete,
            "assistant.threads.setStatus": self.set_status,
        }

    # ------------------------------------------------------------------ identity
    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self.ws.base_url}/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"{self._ws_url()}?ticket={secrets.token_hex(8)}&app_id={APP_ID}"}

    # ------------------------------------------------------------------ messages
    def post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        conv = self.ws.conversation(args.get("channel"))
        check_content(args.get("text"), args.get("blocks"))
        msg = self.ws.add_bot_message(
            conv.id,
            str(args.get("text") or ""),
            blocks=args.get("blocks"),
            thread_ts=self.ws.thread_root(conv.id, args.get("thread_ts")),
            metadata=args.get("metadata") if isinstance(args.get("metadata"), dict) else None,
        )
        return {"channel": conv.id, "ts": msg.ts, "message": self.ws.message_json(msg)}

    def _own_message(self, args: dict[str, Any], error: str) -> Message:
        conv = self.ws.conversation(args.get("channel"))
        msg = self.ws.find(conv.id, args.get("ts"))
        if msg.bot_id != BOT_ID:
            raise ApiError(error)
        return msg

    def update(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._own_message(args, "cant_update_message")
        text, blocks = args.get("text"), args.get("blocks")
        if text is None and blocks is None:
            raise ApiError("no_text")
        check_content(text, blocks, required=False)
        if text is not None:
            msg.text = str(text)
        if blocks is not None:  # omitted blocks are kept; [] removes them (Slack's rule)
            msg.blocks = blocks or None
        if isinstance(args.get("metadata"), dict):
            msg.metadata = args["metadata"]
        msg.edited_ts = self.ws.next_ts()
        self.ws.publish_message(msg)
        return {"channel": msg.channel, "ts": msg.ts, "text": msg.text}

    def delete(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._own_message(args, "cant_delete_message")
        self.ws.remove_message(msg)
        return {"channel": msg.channel, "ts": msg.ts}

    def post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        conv = self.ws.conversation(args.get("channel"))
        user = self.ws.person(args.get("user")).id
        check_content(args.get("text"), args.get("blocks"))
        ts = self.ws.next_ts()
        thread = args.get("thread_ts") or None
        self.ws.add_ephemeral(
            Ephemeral(conv.id, user, ts, str(args.get("text") or ""), args.get("blocks"), thread)
        )
        return {"message_ts": ts}

    def permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        conv = self.ws.conversation(args.get("channel"))
        msg = self.ws.find(conv.id, args.get("message_ts"))
        return {
            "channel": conv.id,
            "permalink": f"{self.ws.base_url}/#/{conv.id}/{msg.thread_ts or msg.ts}/{msg.ts}",
        }

    # ------------------------------------------------------------------ streaming replies
    @staticmethod
    def _stream_text(args: dict[str, Any]) -> str:
        parts = [args["markdown_text"]] if isinstance(args.get("markdown_text"), str) else []
        chunks = args.get("chunks") or []
        if not isinstance(chunks, list):
            raise ApiError("invalid_chunks")
        parts += [str(c.get("text", "")) for c in chunks if c.get("type") == "markdown_text"]
        if any(len(p) > MAX_STREAM_CHARS for p in parts):
            raise ApiError("msg_too_long")
        return "".join(parts)

    def start_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        conv = self.ws.conversation(args.get("channel"))
        if not args.get("thread_ts"):
            raise ApiError("invalid_arguments", "thread_ts is required: streams are replies")
        if not conv.is_im and not args.get("recipient_user_id"):
            raise ApiError("missing_recipient_user_id")
        msg = self.ws.add_bot_message(
            conv.id,
            self._stream_text(args),
            thread_ts=self.ws.thread_root(conv.id, args["thread_ts"]),
            streaming=True,
        )
        return {"channel": conv.id, "ts": msg.ts}

    def _streaming(self, args: dict[str, Any]) -> Message:
        msg = self._own_message(args, "cant_update_message")
        if not msg.streaming:
            raise ApiError("message_not_in_streaming_state")
        return msg

    def append_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._streaming(args)
        msg.text += self._stream_text(args)
        self.ws.publish_message(msg)
        return {"channel": msg.channel, "ts": msg.ts}

    def stop_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._streaming(args)
        msg.text += self._stream_text(args)
        if args.get("blocks") is not None:
            msg.blocks = check_blocks(args["blocks"])
        msg.streaming = False
        self.ws.publish_message(msg)
        return {"channel": msg.channel, "ts": msg.ts}

    # ------------------------------------------------------------------ reactions
    def _reaction(self, args: dict[str, Any]) -> tuple[Message, str]:
        conv = self.ws.conversation(args.get("channel"))
        msg = self.ws.find(conv.id, args.get("timestamp"))
        name = str(args.get("name") or "").strip(":")
        if not name:
            raise ApiError("invalid_name")
        return msg, name

    def reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        msg, name = self._reaction(args)
        users = msg.reactions.setdefault(name, [])
        if BOT_USER_ID in users:
            raise ApiError("already_reacted")
        users.append(BOT_USER_ID)
        self.ws.publish_message(msg)
        return {}

    def reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        msg, name = self._reaction(args)
        users = msg.reactions.get(name) or []
        if BOT_USER_ID not in users:
            raise ApiError("no_reaction")
        users.remove(BOT_USER_ID)
        self.ws.publish_message(msg)
        return {}

    # ------------------------------------------------------------------ conversations, people
    @staticmethod
    def _page(items: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        limit = max(1, min(int(args.get("limit") or 100), 1000))
        start = int(args.get("cursor") or 0)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return {
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def replies(self, args: dict[str, Any]) -> dict[str, Any]:
        conv = self.ws.conversation(args.get("channel"))
        root = self.ws.find(conv.id, args.get("ts"))
        thread = [root, *self.ws.replies(conv.id, root.thread_ts or root.ts)]
        return self._page([self.ws.message_json(m) for m in thread], args)

    def history(self, args: dict[str, Any]) -> dict[str, Any]:
        conv = self.ws.conversation(args.get("channel"))
        newest_first = list(reversed(self.ws.top_level(conv.id)))
        return self._page([self.ws.message_json(m) for m in newest_first], args)

    def conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if len(users) != 1:
            raise ApiError("invalid_arguments", "the playground opens one-to-one DMs only")
        return {"channel": self.ws.dm_with(users[0]).to_slack()}

    def conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self.ws.conversation(args.get("channel")).to_slack()}

    def users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": self.ws.person(args.get("user")).to_slack()}

    def usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        raise ApiError("no_such_subteam")  # the playground has no user groups

    def usergroups(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"usergroups": []}

    # ------------------------------------------------------------------ modals
    def new_trigger(self, user: str) -> str:
        trigger = f"{int(time.time())}.{secrets.token_hex(6)}"
        self.triggers[trigger] = (user, time.monotonic())
        return trigger

    def _parse_view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise ApiError("invalid_arguments", "view must be a modal object")
        check_blocks(view.get("blocks") or [], MAX_VIEW_BLOCKS)
        if not view.get("title"):
            raise ApiError("invalid_arguments", "a modal needs a title")
        return view

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._parse_view(args)
        issued = self.triggers.pop(str(args.get("trigger_id") or ""), None)
        if issued is None or time.monotonic() - issued[1] > TRIGGER_TTL_S:
            raise ApiError("expired_trigger_id" if issued else "invalid_trigger_id")
        record = self.ws.add_view(issued[0], view, secrets.token_hex(8))
        return {"view": self.ws.view_json(record)}

    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._parse_view(args)
        record = self.ws.views.get(str(args.get("view_id") or ""))
        if record is None:
            raise ApiError("not_found")
        if args.get("hash") and args["hash"] != record.hash:
            raise ApiError("hash_conflict")
        record.view, record.hash = view, secrets.token_hex(8)
        self.ws.publish({"type": "view", "view": self.ws.view_json(record)})
        return {"view": self.ws.view_json(record)}

    # ------------------------------------------------------------------ files
    def upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("filename") or "")
        if not name:
            raise ApiError("invalid_arguments", "filename is required")
        try:
            length = int(args.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ApiError("invalid_arguments", "length must be an integer") from None
        f = StoredFile(self.ws.next_id("F"), name, BOT_USER_ID, length)
        self.ws.files[f.id] = f
        return {"upload_url": f"{self.ws.base_url}/upload/v1/{f.id}", "file_id": f.id}

    def complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        items = args.get("files")
        if not isinstance(items, list) or not items:
            raise ApiError("invalid_arguments", "files must be a non-empty JSON array")
        picked: list[StoredFile] = []
        for item in items:
            f = self.ws.files.get(str((item or {}).get("id") or ""))
            if f is None or f.content is None or f.shared:
                raise ApiError("file_not_found")
            f.title = str(item.get("title") or f.name)
            picked.append(f)
        channel = args.get("channel_id") or args.get("channels")
        if channel:
            conv = self.ws.conversation(str(channel).split(",")[0])
            comment = str(args.get("initial_comment") or "")
            check_content(comment, None, required=False)
            for f in picked:
                f.shared = True
            self.ws.add_bot_message(
                conv.id,
                comment,
                thread_ts=self.ws.thread_root(conv.id, args.get("thread_ts")),
                files=[f.id for f in picked],
            )
        return {"files": [{"id": f.id, "title": f.title} for f in picked]}

    def files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        f = self.ws.files.get(str(args.get("file") or ""))
        if f is None or f.content is None:
            raise ApiError("file_not_found")
        return {"file": self.ws.file_json(f), "comments": []}

    def files_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        """The app may delete its own uploads; the messages that shared them lose them."""
        f = self.ws.files.get(str(args.get("file") or ""))
        if f is None:
            raise ApiError("file_not_found")
        if f.user != BOT_USER_ID:
            raise ApiError("cant_delete_file")
        del self.ws.files[f.id]
        for msgs in self.ws.messages.values():
            for msg in msgs:
                if f.id in msg.files:
                    msg.files.remove(f.id)
                    self.ws.publish_message(msg)
        return {}

    # ------------------------------------------------------------------ assistant status
    def set_status(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel_id") or not args.get("thread_ts"):
            raise ApiError("invalid_arguments", "channel_id and thread_ts are required")
        if "status" not in args:
            raise ApiError("invalid_arguments", "status is required ('' clears it)")
        loading = args.get("loading_messages")
        if isinstance(loading, list) and len(loading) > 10:
            raise ApiError("invalid_arguments", "at most 10 loading_messages")
        conv = self.ws.conversation(args.get("channel_id"))
        self.ws.set_status(conv.id, str(args["thread_ts"]), str(args.get("status") or ""))
        return {}
