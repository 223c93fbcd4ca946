"""The Web API methods the bot calls, answered as Slack answers them.

Each method is a function ``(state, args) -> result`` over the one workspace state; errors are
raised as :class:`SlackError` and become ``{"ok": false, "error": …}`` in ``web_api``. Only
methods the product (``bot/``, ``gateways/``, slack_sdk underneath them) calls are emulated:
a method nobody calls is a method nobody checks. Files (``files.*`` and the upload/download
URLs) are in ``files``; ``apps.connections.open`` is in ``socket_mode``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from tests.fakes import slack_limits as limits
from tests.fakes.slack.records import (
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    TEAM_NAME,
    Message,
    SlackError,
    truthy,
    ts_key,
)
from tests.fakes.slack.state import SlackState

Method = Callable[[SlackState, dict[str, Any]], dict[str, Any]]


def auth_test(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": f"{state.origin}/",
        "team": TEAM_NAME,
        "user": BOT_NAME,
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def chat_post_message(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel = state.resolve_channel(args.get("channel"), write=True)
    text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
    state.check_content(text, blocks, attachments)
    thread_ts = state.thread_root(channel, args.get("thread_ts"))
    msg = state.store_message(
        Message(
            channel=channel,
            ts=state.next_ts(),
            text=text or "",
            user=BOT_USER_ID,
            bot_id=BOT_ID,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            metadata=args.get("metadata") if isinstance(args.get("metadata"), dict) else None,
            reply_broadcast=truthy(args.get("reply_broadcast", False)),
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
    return {"channel": channel, "ts": msg.ts, "message": state.message_json(msg)}


def chat_update(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel = state.resolve_channel(args.get("channel"))
    msg = state.find_message(channel, args.get("ts"))
    if msg.bot_id != BOT_ID:
        raise SlackError("cant_update_message")
    text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
    if text is None and blocks is None and attachments is None:
        raise SlackError("no_text")
    state.check_content(text, blocks, attachments, require=False)
    msg.edits.append({"text": msg.text, "blocks": msg.blocks, "ts": msg.edited_ts})
    if text is not None:
        msg.text = text
    if blocks is not None:  # omitted blocks are retained, [] removes them (Slack docs)
        msg.blocks = blocks or None
    if attachments is not None:
        msg.attachments = attachments or None
    if isinstance(args.get("metadata"), dict):
        msg.metadata = args["metadata"]
    msg.edited_ts = state.next_ts()
    msg.changed_at = time.monotonic()
    msg.version_times.append(msg.changed_at)
    state.changed()
    return {
        "channel": channel,
        "ts": msg.ts,
        "text": msg.text,
        "message": state.message_json(msg),
    }


def chat_post_ephemeral(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel = state.resolve_channel(args.get("channel"), write=True)
    user = args.get("user")
    if not user:
        raise SlackError("user_not_in_channel")
    state.check_user(user)
    text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
    state.check_content(text, blocks, attachments)
    ts = state.next_ts()
    state.ephemerals.append(
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
    state.changed()
    return {"message_ts": ts}


def chat_get_permalink(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel = state.resolve_channel(args.get("channel"))
    msg = state.find_message(channel, args.get("message_ts"))
    return {"channel": channel, "permalink": state.permalink(channel, msg.ts)}


def reactions_add(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    msg, name = _reaction_target(state, args)
    users = msg.reactions.setdefault(name, [])
    if BOT_USER_ID in users:
        raise SlackError("already_reacted")
    users.append(BOT_USER_ID)
    state.changed()
    return {}


def reactions_remove(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    msg, name = _reaction_target(state, args)
    users = msg.reactions.get(name, [])
    if BOT_USER_ID not in users:
        raise SlackError("no_reaction")
    users.remove(BOT_USER_ID)
    if not users:
        del msg.reactions[name]
    state.changed()
    return {}


def _reaction_target(state: SlackState, args: dict[str, Any]) -> tuple[Message, str]:
    if not args.get("channel") or not args.get("timestamp"):
        raise SlackError("no_item_specified")
    channel = state.resolve_channel(args.get("channel"))
    msg = state.find_message(channel, args.get("timestamp"))
    name = str(args.get("name") or "").strip(":")
    if not name or not re.match(r"^[a-z0-9_+'\-]+(::skin-tone-\d)?$", name):
        raise SlackError("invalid_name")
    return msg, name


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


def _in_window(msg: Message, args: dict[str, Any]) -> bool:
    ts = ts_key(msg.ts)
    inclusive = truthy(args.get("inclusive", False))
    if args.get("oldest"):
        oldest = ts_key(str(args["oldest"]))
        if ts < oldest or (ts == oldest and not inclusive):
            return False
    if args.get("latest"):
        latest = ts_key(str(args["latest"]))
        if ts > latest or (ts == latest and not inclusive):
            return False
    return True


def conversations_replies(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel = state.resolve_channel(args.get("channel"))
    ts = args.get("ts")
    if not ts:
        raise SlackError("thread_not_found")
    msg = state.get_message(channel, ts)
    if msg is None:
        raise SlackError("thread_not_found")
    root_ts = msg.thread_ts if msg.is_reply else msg.ts
    thread = [m for m in state.thread_messages(channel, root_ts or ts) if _in_window(m, args)]
    page, meta = _page(thread, args, default_limit=1000)
    return {"messages": [state.message_json(m) for m in page], **meta}


def conversations_open(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    users_arg, channel_arg = args.get("users"), args.get("channel")
    if channel_arg:
        channel = state.resolve_channel(channel_arg)
        return {"channel": {"id": channel}, "no_op": True, "already_open": True}
    if not users_arg:
        raise SlackError("users_list_not_supplied")
    users = users_arg if isinstance(users_arg, list) else str(users_arg).split(",")
    users = [state.check_user(u.strip()) for u in users if u.strip()]
    if len(users) > 8:
        raise SlackError("too_many_users")
    if len(users) == 1:
        existed = state.has_dm_channel(users[0])
        cid = state.dm_channel(users[0])
        channel: dict[str, Any] = {"id": cid}
        if truthy(args.get("return_im", False)):
            channel.update(state.channels_info[cid])
        return {"channel": channel, "no_op": existed, "already_open": existed}
    return {"channel": {"id": state.group_dm_channel(users)}}


def usergroups_users_list(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    group = args.get("usergroup")
    if not group or group not in state.usergroups:
        raise SlackError("no_such_subteam")
    return {"users": list(state.usergroups[group])}


def users_info(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    """Display names for mentions and message authors (``users:read``)."""
    return {"user": state.user_json(state.check_user(args.get("user")))}


def conversations_info(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    """``#name`` for channel mentions (``channels:read`` / ``groups:read``)."""
    channel = str(args.get("channel") or "")
    info = state.channels_info.get(channel)
    if info is None:
        if state.strict or not re.match(r"^[CGD][A-Z0-9]+$", channel):
            raise SlackError("channel_not_found")
        info = {"id": channel, "name": channel.lower(), "is_channel": channel.startswith("C")}
    return {"channel": dict(info)}


def usergroups_list(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    """``@handle`` for user-group mentions (``usergroups:read``)."""
    return {
        "usergroups": [
            {"id": gid, "team_id": TEAM_ID, "handle": state.usergroup_handles.get(gid, gid.lower()),
             "name": state.usergroup_handles.get(gid, gid), "user_count": len(users)}
            for gid, users in state.usergroups.items()
        ]
    }  # fmt: skip


def _parse_view(args: dict[str, Any]) -> dict[str, Any]:
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


def views_open(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    view = _parse_view(args)
    user = state.take_trigger(args)
    ext = view.get("external_id")
    if ext and any(v["external_id"] == ext for v in state.views.values()):
        raise SlackError("duplicate_external_id")
    return {"view": state.new_view(view, user, previous=None, root=None)}


def assistant_threads_set_status(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel_id, thread_ts = args.get("channel_id"), args.get("thread_ts")
    if not channel_id or not thread_ts:
        raise SlackError("invalid_arguments", detail="channel_id and thread_ts are required")
    if "status" not in args:
        raise SlackError("invalid_arguments", detail="status is required ('' clears it)")
    channel = state.resolve_channel(channel_id)
    loading = args.get("loading_messages")
    if isinstance(loading, list) and len(loading) > limits.MAX_LOADING_MESSAGES:
        raise SlackError("invalid_arguments", detail="at most 10 loading_messages")
    status = str(args.get("status") or "")
    state.statuses.append(
        {
            "channel_id": channel,
            "thread_ts": thread_ts,
            "status": status,
            "loading_messages": loading,
        }
    )
    if status:
        state.thread_status[(channel, thread_ts)] = status
    else:
        state.thread_status.pop((channel, thread_ts), None)
    state.changed()
    return {}


METHODS: dict[str, Method] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
    "conversations.replies": conversations_replies,
    "conversations.open": conversations_open,
    "usergroups.users.list": usergroups_users_list,
    "usergroups.list": usergroups_list,
    "users.info": users_info,
    "conversations.info": conversations_info,
    "views.open": views_open,
    "assistant.threads.setStatus": assistant_threads_set_status,
}
