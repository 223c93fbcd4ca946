"""What a person does on the page, turned into what Slack would send the bot.

A message becomes a stored message plus the Events API events Slack delivers for it
(``app_mention`` *and* ``message`` for a mention in a channel — the bot dedupes them by
channel+ts, as it must with real Slack); a click becomes ``block_actions`` with a
``response_url``; a modal submit becomes ``view_submission`` whose ack decides whether the
modal closes or shows errors; ``/ml-intern`` becomes a ``slash_commands`` envelope. The
``response_url`` the bot answers through (``respond()``) is served here too.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from .socket_mode import SocketModeHub, event_callback
from .web_api import WebApi, check_content
from .workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    ApiError,
    Ephemeral,
    Message,
    StoredFile,
    Workspace,
)

SLASH_COMMAND = "/ml-intern"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")


def rich_text(text: str) -> list[dict[str, Any]]:
    """The ``rich_text`` block Slack's client attaches to what a person types."""
    # re.split with a group alternates text, user id, text, user id, …
    parts = _MENTION.split(text)
    elements = [
        {"type": "user", "user_id": part} if i % 2 else {"type": "text", "text": part}
        for i, part in enumerate(parts)
        if part
    ]
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": secrets.token_hex(3), "elements": [section]}]


class People:
    """The page's actions, each one delivered to the bot over Socket Mode."""

    def __init__(self, ws: Workspace, api: WebApi, socket: SocketModeHub) -> None:
        self.ws = ws
        self.api = api
        self.socket = socket
        self._response_urls: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ messages and files
    def upload(self, user: str, name: str, content: bytes) -> StoredFile:
        self.ws.person(user)
        if not name or "/" in name or name.startswith("."):
            raise ApiError("invalid_arguments", "give the file a plain name")
        if len(content) > MAX_UPLOAD_BYTES:
            raise ApiError("file_too_large", "the playground takes files up to 20 MB")
        f = StoredFile(self.ws.next_id("F"), name, user, len(content), content=content)
        self.ws.files[f.id] = f
        return f

    async def post(
        self,
        user: str,
        channel: str,
        text: str,
        thread_ts: str | None = None,
        files: list[str] | None = None,
    ) -> Message:
        person = self.ws.person(user)
        conv = self.ws.conversation(channel)
        check_content(text, None, required=not files)
        attached = []
        for fid in files or []:
            f = self.ws.files.get(fid)
            if f is None or f.user != person.id or f.shared:
                raise ApiError("file_not_found")
            f.shared = True
            attached.append(fid)
        msg = self.ws.add_message(
            Message(
                channel=conv.id,
                ts=self.ws.next_ts(),
                user=person.id,
                text=text,
                blocks=rich_text(text) if text else None,
                thread_ts=self.ws.thread_root(conv.id, thread_ts),
                files=attached,
                client_msg_id=str(uuid.uuid4()),
            )
        )
        event = {
            "type": "message",
            "client_msg_id": msg.client_msg_id,
            "text": msg.text,
            "user": person.id,
            "ts": msg.ts,
            "team": TEAM_ID,
            "blocks": msg.blocks or [],
            "channel": conv.id,
            "event_ts": msg.ts,
            "channel_type": "im" if conv.is_im else "channel",
        }
        if msg.is_reply:
            event["thread_ts"] = msg.thread_ts
            event["parent_user_id"] = self.ws.find(conv.id, msg.thread_ts).user
        if attached:
            event["subtype"] = "file_share"
            event["files"] = [self.ws.file_json(self.ws.files[f]) for f in attached]
        if f"<@{BOT_USER_ID}>" in text and not conv.is_im:
            mention = {k: v for k, v in event.items() if k not in ("channel_type", "subtype")}
            await self.socket.deliver(
                "events_api", event_callback({**mention, "type": "app_mention"})
            )
        await self.socket.deliver("events_api", event_callback(event))
        return msg

    async def react(self, user: str, channel: str, ts: str, name: str) -> None:
        """Toggle a person's reaction; Slack sends ``reaction_added``/``reaction_removed``."""
        person = self.ws.person(user)
        msg = self.ws.find(self.ws.conversation(channel).id, ts)
        users = msg.reactions.setdefault(name, [])
        added = person.id not in users
        if added:
            users.append(person.id)
        else:
            users.remove(person.id)
        self.ws.publish_message(msg)
        event = {
            "type": "reaction_added" if added else "reaction_removed",
            "user": person.id,
            "reaction": name,
            "item_user": msg.user,
            "item": {"type": "message", "channel": msg.channel, "ts": msg.ts},
            "event_ts": self.ws.next_ts(),
        }
        await self.socket.deliver("events_api", event_callback(event))

    # ------------------------------------------------------------------ interactivity
    def _user_ref(self, user: str) -> dict[str, Any]:
        person = self.ws.person(user)
        return {"id": person.id, "username": person.name, "name": person.name, "team_id": TEAM_ID}

    def _response_url(self, **context: Any) -> str:
        hook = secrets.token_hex(10)
        self._response_urls[hook] = context
        return f"{self.ws.base_url}/response_url/{hook}"

    @staticmethod
    def _element(blocks: list[dict[str, Any]] | None, action_id: str, block_id: str | None) -> Any:
        for i, block in enumerate(blocks or []):
            bid = block.get("block_id") or f"auto{i}"
            elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
            if isinstance(block.get("accessory"), dict):
                elements.append(block["accessory"])
            for el in elements:
                if el.get("action_id") == action_id and block_id in (None, bid):
                    return el, bid
        raise ApiError("element_not_found", f"no element {action_id!r} on that message any more")

    async def click(
        self,
        user: str,
        channel: str,
        message_ts: str,
        action_id: str,
        block_id: str | None = None,
    ) -> None:
        """A button on a message (or on an ephemeral the person sees) → ``block_actions``."""
        conv = self.ws.conversation(channel)
        ephemeral = next(
            (e for e in self.ws.ephemerals if e.ts == message_ts and e.user == user), None
        )
        msg = None if ephemeral else self.ws.find(conv.id, message_ts)
        blocks = ephemeral.blocks if ephemeral else msg.blocks  # type: ignore[union-attr]
        element, bid = self._element(blocks, action_id, block_id)
        thread_ts = ephemeral.thread_ts if ephemeral else msg.thread_ts  # type: ignore[union-attr]
        action = {
            "action_id": action_id,
            "block_id": bid,
            "type": element.get("type", "button"),
            "action_ts": self.ws.next_ts(),
            **{k: element[k] for k in ("text", "value", "style", "url") if k in element},
        }
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": conv.id,
            "is_ephemeral": ephemeral is not None,
        }
        if thread_ts and thread_ts != message_ts:
            container["thread_ts"] = thread_ts
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_ref(user),
            "api_app_id": APP_ID,
            "token": "playground-verification-token",
            "container": container,
            "trigger_id": self.api.new_trigger(user),
            "team": {"id": TEAM_ID, "domain": "playground"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": conv.id, "name": conv.name},
            "state": {"values": {}},
            "response_url": self._response_url(
                channel=conv.id, message_ts=message_ts, thread_ts=thread_ts, user=user
            ),
            "actions": [action],
        }
        if msg is not None:
            payload["message"] = self.ws.message_json(msg)
        await self.socket.deliver("interactive", payload)

    async def submit_view(self, user: str, view_id: str, values: dict[str, str]) -> dict[str, Any]:
        """Submit a modal; returns the errors to show (``{}`` when the modal closed)."""
        record = self.ws.views.get(view_id)
        if record is None or not record.is_open or record.user != user:
            raise ApiError("not_found", "that dialog is not open for you")
        state: dict[str, Any] = {}
        for block in record.view.get("blocks") or []:
            element = block.get("element") if block.get("type") == "input" else None
            if isinstance(element, dict):
                value = values.get(block.get("block_id", ""))
                if not value and not block.get("optional"):
                    return {block.get("block_id", ""): "This field is required."}
                state[block.get("block_id", "")] = {
                    element.get("action_id", ""): {
                        "type": element.get("type", "plain_text_input"),
                        "value": value or None,
                    }
                }
        submitted = {**self.ws.view_json(record), "state": {"values": state}}
        submitted.update(team_id=TEAM_ID, app_id=APP_ID, bot_id=BOT_ID)
        ack = await self.socket.deliver(
            "interactive",
            {
                "type": "view_submission",
                "team": {"id": TEAM_ID, "domain": "playground"},
                "user": self._user_ref(user),
                "api_app_id": APP_ID,
                "token": "playground-verification-token",
                "trigger_id": self.api.new_trigger(user),
                "view": submitted,
                "response_urls": [],
                "is_enterprise_install": False,
            },
        )
        if ack.get("response_action") == "errors":
            return dict(ack.get("errors") or {"": "The app refused this input."})
        if ack.get("response_action") == "update" and isinstance(ack.get("view"), dict):
            record.view = ack["view"]
            self.ws.publish({"type": "view", "view": self.ws.view_json(record)})
            return {}
        self.ws.close_view(record)
        return {}

    async def close_view(self, user: str, view_id: str) -> None:
        """Cancel a modal; Slack tells the app (``view_closed``) only if it asked to know."""
        record = self.ws.views.get(view_id)
        if record is None or record.user != user or not record.is_open:
            return
        self.ws.close_view(record)
        if record.view.get("notify_on_close"):
            await self.socket.deliver(
                "interactive",
                {
                    "type": "view_closed",
                    "team": {"id": TEAM_ID, "domain": "playground"},
                    "user": self._user_ref(user),
                    "api_app_id": APP_ID,
                    "view": self.ws.view_json(record),
                    "is_cleared": False,
                },
            )

    async def slash(self, user: str, channel: str, text: str) -> None:
        person = self.ws.person(user)
        conv = self.ws.conversation(channel)
        await self.socket.deliver(
            "slash_commands",
            {
                "token": "playground-verification-token",
                "team_id": TEAM_ID,
                "team_domain": "playground",
                "channel_id": conv.id,
                "channel_name": conv.name,
                "user_id": person.id,
                "user_name": person.name,
                "command": SLASH_COMMAND,
                "text": text,
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": self._response_url(channel=conv.id, user=person.id),
                "trigger_id": self.api.new_trigger(person.id),
            },
        )

    def respond(self, hook: str, body: dict[str, Any]) -> None:
        """What ``respond()`` posted to a response_url: replace, delete, post, or ephemeral."""
        ctx = self._response_urls.get(hook)
        if ctx is None:
            raise ApiError("no_service")
        text, blocks = body.get("text"), body.get("blocks")
        source = None
        if ctx.get("message_ts"):
            try:
                source = self.ws.find(ctx["channel"], ctx["message_ts"])
            except ApiError:
                source = None
        if body.get("delete_original") in (True, "true") and source is not None:
            self.ws.remove_message(source)
            return
        check_content(text, blocks)
        if body.get("replace_original") in (True, "true") and source is not None:
            source.text, source.blocks = str(text or ""), blocks
            source.edited_ts = self.ws.next_ts()
            self.ws.publish_message(source)
        elif body.get("response_type") == "in_channel":
            self.ws.add_bot_message(
                ctx["channel"],
                str(text or ""),
                blocks=blocks,
                thread_ts=body.get("thread_ts") or ctx.get("thread_ts"),
            )
        else:
            self.ws.add_ephemeral(
                Ephemeral(
                    ctx["channel"],
                    ctx["user"],
                    self.ws.next_ts(),
                    str(text or ""),
                    blocks,
                    body.get("thread_ts") or ctx.get("thread_ts"),
                )
            )
