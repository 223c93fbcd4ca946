"""What people do in Slack, as the bot sees it: mention it, post, DM, click, submit a modal.

Each action stores what Slack would store (the human message) and pushes the envelope Slack
would push over Socket Mode, then returns the bot's :class:`Ack`. A click must hit an element
that exists in the message's *current* blocks, so a bot that removed a button is caught.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Collection, Mapping
from typing import Any

from tests.fakes.slack import payloads
from tests.fakes.slack.hooks import Hooks
from tests.fakes.slack.records import (
    APP_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    VERIFICATION_TOKEN,
    Ack,
)
from tests.fakes.slack.socket_mode import SocketMode
from tests.fakes.slack.state import SlackState


def _route(connection: int | None, avoid: Collection[int]) -> dict[str, Any]:
    """Steering for Socket Mode only: passed on when asked for, so a transport without
    connections (the HTTP Events API fake) is called as before."""
    route: dict[str, Any] = {}
    if connection is not None:
        route["connection"] = connection
    if avoid:
        route["avoid"] = avoid
    return route


class People:
    """Acts for the workspace's humans (U1 alice, U2 bob, or any id in non-strict mode)."""

    def __init__(self, state: SlackState, socket: SocketMode, hooks: Hooks) -> None:
        self.state = state
        self.socket = socket
        self.hooks = hooks

    async def mention(
        self,
        text: str,
        channel: str = "C1",
        user: str = "U1",
        thread_ts: str | None = None,
        *,
        ack_timeout: float | None = None,
        connection: int | None = None,
        avoid: Collection[int] = (),
    ) -> tuple[str, Ack]:
        """A human @-mentions the bot: message stored, ``app_mention`` pushed; returns (ts, ack).

        Only the ``app_mention`` event is sent (real Slack also sends ``message`` when the
        app subscribes to message.channels; push that yourself with ``send_event``).
        ``connection``/``avoid`` steer the envelope (see ``SocketMode.push_envelope``).
        """
        if f"<@{BOT_USER_ID}>" not in text:
            text = f"<@{BOT_USER_ID}> {text}"
        ts = self.state.add_message(channel, user, text, thread_ts)
        channel = self.state.resolve_channel(channel)
        ack = await self.socket.send_event(
            payloads.message_event(self.state, "app_mention", channel, user, ts),
            ack_timeout=ack_timeout,
            **_route(connection, avoid),
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
        ts = self.state.add_message(channel, user, text, thread_ts)
        channel = self.state.resolve_channel(channel)
        event = payloads.message_event(self.state, "message", channel, user, ts)
        event["channel_type"] = channel_type or payloads.channel_type(channel)
        return ts, await self.socket.send_event(event, ack_timeout=ack_timeout)

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
            text,
            self.state.dm_channel(user),
            user,
            thread_ts,
            channel_type="im",
            ack_timeout=ack_timeout,
        )

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
        connection: int | None = None,
        avoid: Collection[int] = (),
    ) -> Ack:
        """A user clicks an element of a stored message (or ephemeral) -> ``block_actions``.

        The element must exist in the message's *current* blocks (LookupError otherwise),
        which catches a bot that removed or renamed a button. ``value`` defaults to the
        element's value.
        """
        msg = self.state.get_message(channel, message_ts)
        ephemeral = None
        if msg is None:
            ephemeral = next(
                (
                    e
                    for e in self.state.ephemerals
                    if e["ts"] == message_ts and e["channel"] == channel
                ),
                None,
            )
            if ephemeral is None:
                raise LookupError(f"no message {channel}/{message_ts} to click on")
        blocks = msg.blocks if msg is not None else ephemeral["blocks"]  # type: ignore[index]
        element, bid, seen = payloads.find_element(blocks, action_id, block_id)
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
            "user": payloads.user_ref(self.state, user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": self.state.new_trigger(user),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {
                "id": channel,
                "name": self.state.channels_info.get(channel, {}).get("name", channel.lower()),
            },
            "state": {"values": {}},
            "response_url": self.hooks.new_response_url(
                channel=channel, message_ts=message_ts, thread_ts=thread_ts, user=user
            ),
            "actions": [action],
        }
        if msg is not None:
            payload["message"] = self.state.message_json(msg)
        envelope = payloads.interactive_envelope(payload, accepts_response_payload=False)
        return await self.socket.push_envelope(
            envelope, ack_timeout=ack_timeout, **_route(connection, avoid)
        )

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
        record = self.state.find_view(view)
        vid = record["id"]
        submitted = json.loads(json.dumps(record))
        submitted["state"] = {"values": payloads.state_values(record, values or {})}
        if private_metadata is not None:
            submitted["private_metadata"] = private_metadata
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": payloads.user_ref(self.state, user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.state.new_trigger(user),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        envelope = payloads.interactive_envelope(payload, accepts_response_payload=True)
        ack = await self.socket.push_envelope(envelope, ack_timeout=ack_timeout)
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
            self.state.new_view(response["view"], user, previous=vid, root=record["root_view_id"])
        elif action == "clear":
            self.state.close_view_stack(record["root_view_id"])
        else:
            self.state.close_view(vid)
        self.state.changed()
        return ack
