"""Cross-cutting Slack concerns as Bolt middleware, applied to every request in this order:

1. :func:`ignore_bots` — other bots' messages, our own posts and edits echoed back as
   events, and message subtypes that are not a person writing (joins, topic changes…). A
   person's edits and deletes pass (``message_changed`` / ``message_deleted``).
2. :func:`dedupe` — Slack's retries (``retry_attempt`` → ``x-slack-retry-num``), reconnect
   redeliveries and a mention that also arrives as a ``message`` event are handled once. Keys
   (``event_id``, and ``channel+ts`` for messages) are persisted for ``dedupe_ttl_s`` (≥ 1 h),
   and by the same statement a message event is taken into the durable inbox before the ack
   (:mod:`bot.slack.inbox`); its ticket goes in the context, and every path that decides
   "nothing to do" closes it. A replay of a stored event (:mod:`bot.slack.inbox_replay`)
   arrives with its ticket already in the context and skips the insert.
3. :func:`route` — decides whether a message is addressed to the bot (a mention, a DM, or a
   reply in a thread that has a session or a thread record) and puts an
   :class:`~bot.conversation.incoming.Incoming` in the context (or a
   :class:`~bot.conversation.edits.SlackEdit` for an edit or delete); anything else is acked
   and dropped here.
4. :func:`allow` — allow-lists; a refused person gets one polite ephemeral note.

A middleware that stops a request returns ``await ack()``: Bolt sends an envelope ack only
for a 200 response, and an unacked envelope would make Slack deliver it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.conversation.edits import SlackEdit
from bot.conversation.incoming import Incoming
from bot.conversation.slack_text import mentioned_user_ids
from bot.slack.inbox import REPLAY, TICKET, WORK_EVENTS, event_keys
from bot.slack.keys import channel_type_of, session_key

if TYPE_CHECKING:
    from agent_core.manager import SessionManager
    from bot.access import Access, Refusals
    from bot.slack.inbox import SlackInbox
    from bot.slack.inflight import InFlight
    from bot.slack.threads import ThreadStore

log = logging.getLogger(__name__)

HUMAN_SUBTYPES = frozenset({None, "", "file_share", "thread_broadcast", "me_message"})
EDIT_SUBTYPES = frozenset({"message_changed", "message_deleted"})
MESSAGE_EVENTS = WORK_EVENTS

Middleware = Callable[..., Awaitable[Any]]


def _edited_message(event: dict[str, Any]) -> dict[str, Any]:
    """The person's message an edit/delete event is about (new version, or the deleted one)."""
    if event.get("subtype") == "message_deleted":
        return event.get("previous_message") or {}
    return event.get("message") or {}


def _edit(team: str, channel: str, event: dict[str, Any]) -> SlackEdit:
    changed = _edited_message(event)
    deleted = event.get("subtype") == "message_deleted"
    return SlackEdit(
        kind="deleted" if deleted else "changed",
        team=team,
        channel=channel,
        channel_type=channel_type_of(channel, event.get("channel_type")),
        ts=str(event.get("deleted_ts") or changed.get("ts") or ""),
        user=str(changed.get("user") or ""),
        message={} if deleted else changed,
        previous=event.get("previous_message") or {},
    )


def _header(request: Any, name: str) -> str | None:
    values = (getattr(request, "headers", None) or {}).get(name)
    if isinstance(values, list | tuple):
        return values[0] if values else None
    return values


def build_middleware(
    *,
    inbox: SlackInbox,
    threads: ThreadStore,
    sessions: SessionManager,
    access: Access,
    refusals: Refusals,
    inflight: InFlight,
    refusal_text: str,
) -> list[Middleware]:
    """The middleware chain, in order (see the module docstring)."""

    def nothing_to_do(context: Any) -> None:
        """The event needs no work: its inbox row is done (after the ack; a crash before
        that only means the replay decides "nothing to do" again)."""
        ticket = context.get(TICKET)
        if ticket is not None:
            inbox.finished(ticket)

    async def thread_known(sid: str) -> bool:
        """Does this thread have a session, or one being started (a thread record)?

        On the ack path: the thread record first, usually known without a query."""
        return await threads.known(sid) or await sessions.exists(sid)

    async def ignore_bots(body: dict[str, Any], context: Any, next: Any, ack: Any) -> Any:
        if body.get("type") == "event_callback":
            event = body.get("event") or {}
            if event.get("subtype") in EDIT_SUBTYPES:
                changed = _edited_message(event)
                author = changed.get("user")
                if changed.get("bot_id") or not author or author == context.bot_user_id:
                    return await ack()
            elif event.get("type") in MESSAGE_EVENTS:
                user = event.get("user")
                if (
                    event.get("bot_id")
                    or event.get("subtype") not in HUMAN_SUBTYPES
                    or not user
                    or user == context.bot_user_id
                ):
                    return await ack()
        return await next()

    async def dedupe(body: dict[str, Any], request: Any, context: Any, next: Any, ack: Any) -> Any:
        if body.get("type") != "event_callback":
            return await next()
        replayed = context.get(REPLAY)
        if replayed is not None:  # already stored and claimed: see bot.slack.inbox_replay
            context[TICKET] = replayed
            return await next()
        new, ticket = await inbox.take_in(body)
        if ticket is not None:
            context[TICKET] = ticket
        if not new:
            log.info(
                "duplicate delivery ignored: %s (retry %s, %s)",
                event_keys(body)[0],
                _header(request, "x-slack-retry-num"),
                _header(request, "x-slack-retry-reason"),
            )
            return await ack()
        return await next()

    async def route(body: dict[str, Any], context: Any, next: Any, ack: Any) -> Any:
        if body.get("type") != "event_callback":
            return await next()
        event = body.get("event") or {}
        if event.get("type") not in MESSAGE_EVENTS:
            return await next()
        team = body.get("team_id") or event.get("team") or ""
        channel = event.get("channel") or ""
        if event.get("subtype") in EDIT_SUBTYPES:
            context["edit"] = replace(_edit(team, channel, event), ticket=context.get(TICKET))
            return await next()
        ts = event.get("ts") or ""
        thread_ts = event.get("thread_ts") if event.get("thread_ts") != ts else None
        channel_type = channel_type_of(channel, event.get("channel_type"))
        text = event.get("text") or ""
        bot = context.bot_user_id
        mentioned = mentioned_user_ids(event)
        is_mention = event.get("type") == "app_mention" or bool(bot and bot in mentioned)
        exists = False
        if thread_ts:
            exists = await thread_known(session_key(team, channel, thread_ts))
        if not (is_mention or channel_type == "im" or exists):
            nothing_to_do(context)
            return await ack()
        # In a session's thread, "@alice do you agree?" is people talking: context, no turn.
        context_only = exists and not is_mention and bool(mentioned - {bot, event.get("user")})
        files = tuple(f for f in event.get("files") or [] if isinstance(f, dict))
        context["incoming"] = Incoming(
            team=team,
            channel=channel,
            channel_type=channel_type,
            user=event.get("user") or "",
            text=text,
            ts=ts,
            thread_ts=thread_ts,
            is_mention=is_mention,
            session_exists=exists,
            files=files,
            event=event,
            context_only=context_only,
            ticket=context.get(TICKET),
        )
        return await next()

    async def allow(body: dict[str, Any], context: Any, next: Any, ack: Any, respond: Any) -> Any:
        edit = context.get("edit")
        if edit is not None:  # edits by people not allowed here: dropped without a note
            if not access.channel_allowed(
                edit.channel, edit.channel_type
            ) or not await access.user_allowed(edit.user):
                nothing_to_do(context)
                return await ack()
            return await next()
        incoming = context.get("incoming")
        if incoming is not None:
            if not access.channel_allowed(
                incoming.channel, incoming.channel_type
            ) or not await access.user_allowed(incoming.user):
                inflight.spawn(refusals.refuse(incoming.channel, incoming.user, incoming.thread_ts))
                nothing_to_do(context)
                return await ack()
            return await next()
        if body.get("command"):  # a slash command: it may start a session
            user, channel = body.get("user_id"), str(body.get("channel_id") or "")
            if not access.channel_allowed(channel) or not await access.user_allowed(user):
                response = await ack()
                inflight.spawn(respond(text=refusal_text, response_type="ephemeral"))
                return response
        if body.get("type") == "block_actions":
            user = (body.get("user") or {}).get("id")
            if not await access.user_allowed(user):
                response = await ack()
                inflight.spawn(
                    respond(text=refusal_text, response_type="ephemeral", replace_original=False)
                )
                return response
        return await next()

    return [ignore_bots, dedupe, route, allow]
