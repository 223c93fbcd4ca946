"""The payloads Slack pushes over Socket Mode, shaped as Slack documents them.

Events API envelopes (``events_api`` with ``event_callback``: ``app_mention``, ``message``),
interactive envelopes (``block_actions``, ``view_submission``) and their parts. Shapes follow
the examples on api.slack.com's reference pages (Socket Mode envelopes, the ``app_mention``
and ``message`` events, the ``block_actions`` and ``view_submission`` payloads). New inbound
shapes (file shares, edits, other
subtypes) go here; ``people`` uses them to act as a person would.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

from tests.fakes.slack.records import APP_ID, BOT_USER_ID, TEAM_ID, VERIFICATION_TOKEN
from tests.fakes.slack.state import SlackState


def event_envelope(
    event: dict[str, Any],
    *,
    fallback_ts: str,
    event_id: str | None = None,
    retry_attempt: int = 0,
    retry_reason: str = "",
) -> dict[str, Any]:
    """An ``events_api`` envelope as Slack sends it (also usable with ``async_dispatch``)."""
    event = dict(event)
    event.setdefault("event_ts", event.get("ts") or fallback_ts)
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


def message_event(
    state: SlackState, event_type: str, channel: str, user: str, ts: str
) -> dict[str, Any]:
    msg = state.get_message(channel, ts)
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
        root = state.get_message(channel, msg.thread_ts or "")
        if root is not None and root.user:
            event["parent_user_id"] = root.user
    return event


def channel_type(channel: str) -> str:
    return {"C": "channel", "D": "im", "G": "group"}.get(channel[:1], "channel")


def find_element(
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


def user_ref(state: SlackState, user: str) -> dict[str, Any]:
    name = state.user_json(user)["name"]
    return {"id": user, "username": name, "name": name, "team_id": TEAM_ID}


def state_values(view: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
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
                None if v is None else {"text": {"type": "plain_text", "text": str(v)}, "value": v}
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


def interactive_envelope(
    payload: dict[str, Any], *, accepts_response_payload: bool
) -> dict[str, Any]:
    """An ``interactive`` envelope (block_actions, view_submission …)."""
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "interactive",
        "accepts_response_payload": accepts_response_payload,
        "payload": payload,
    }
