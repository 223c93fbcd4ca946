"""Where a mention becomes a session: a routed message → a command, or input for the engine.

Listeners are thin (parse Bolt's arguments, call one method here); the behaviour reads top to
bottom: feedback on the user's message first, then the thread record, then the engine. What the
model reads (decoded text, author, files, thread context) is built by
:mod:`bot.conversation.message_input`; top-level DMs are one conversation
(:mod:`bot.conversation.dm_sessions`); a reply to a colleague in a session thread is context.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from agent_core.events import UserInput
from agent_core.manager import ManagerClosed
from bot.conversation import notices
from bot.conversation.commands import parse_command
from bot.conversation.dm_sessions import is_new_request
from bot.conversation.incoming import Incoming, command_text
from bot.slack.inbox import Deferred, inbox_meta
from bot.slack.keys import make_origin, parse_session_key
from bot.slack.sender import HIGH
from gateways.providers.slack_errors import NO_CHANNEL_ACCESS

if TYPE_CHECKING:
    from agent_core.manager import SessionManager
    from agent_core.store import Store
    from bot.conversation.commands import Commands
    from bot.conversation.dm_sessions import DmConversations
    from bot.conversation.edits import InputIndex
    from bot.conversation.message_input import InputComposer
    from bot.llm_warmup import LlmWarmup
    from bot.settings import SlackSettings
    from bot.slack.inbox import SlackInbox, Ticket
    from bot.slack.replies import Replies
    from bot.slack.sender import SlackSender
    from bot.slack.threads import ThreadStore

log = logging.getLogger(__name__)


class Intake:
    def __init__(
        self,
        *,
        settings: SlackSettings,
        manager: SessionManager,
        threads: ThreadStore,
        sender: SlackSender,
        replies: Replies,
        commands: Commands,
        warmup: LlmWarmup,
        bot_user_id: str | None,
        store: Store,
        composer: InputComposer,
        dms: DmConversations,
        inputs: InputIndex,
        inbox: SlackInbox | None = None,
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.threads = threads
        self.sender = sender
        self.replies = replies
        self.commands = commands
        self.warmup = warmup
        self.bot_user_id = bot_user_id
        self.store = store
        self.composer = composer
        self.dms = dms
        self.inputs = inputs
        self.inbox = inbox
        self._locks: dict[str, list[Any]] = {}  # session → [lock, holders and waiters]

    async def handle_message(self, msg: Incoming) -> None:
        """A message addressed to the bot: a command, or input for the thread's session."""
        text = command_text(msg.text, self.bot_user_id)
        if msg.context_only:
            await self._keep_as_context(msg)
            return
        if msg.channel_type == "im" and msg.session_root is None:
            msg = await self._in_dm_conversation(msg, text)
            if msg is None:
                return
        command = parse_command(text)
        if command is not None:
            await self.commands.run(command, msg)
            return
        if not text and not msg.files and not msg.message.get("attachments"):
            await self.replies.post(msg.channel, msg.root_ts, notices.help_payload())
            return
        sid = msg.ref.session_id
        if await self._over_session_limit(msg, sid):
            return
        # One message at a time per thread from ack to the engine's queue, so messages sent
        # in quick succession reach the session in the order Slack delivered them. The
        # feedback reaction comes first, before waiting for an earlier message's intake.
        entry = self._locks.setdefault(sid, [asyncio.Lock(), 0])
        ahead = entry[1] > 0
        entry[1] += 1  # the lock is dropped only when nobody needs it
        try:
            # Indexed before anything slow, so an edit or delete racing this intake finds
            # its session and waits for it (settled()) instead of missing it.
            await self.inputs.remember(msg.channel, msg.ts, sid)
            # The thread is ours from now on, and before the reaction says so: a follow-up
            # sent the moment the person sees it (or while the LLM client warms up) must be
            # routed here, not dropped as foreign.
            await self.threads.ensure(msg.ref)
            exists = await self.manager.exists(sid)
            queued = ahead or (
                exists and (self.manager.is_busy(sid) or await self.manager.queued_count(sid) > 0)
            )
            reactions = self.settings.reactions
            feedback = reactions.queued if queued else reactions.received
            if feedback:
                self.replies.react(msg.channel, msg.ts, feedback)
            async with entry[0]:
                await self._submit(msg, sid, queued)
        finally:
            entry[1] -= 1
            if entry[1] == 0 and self._locks.get(sid) is entry:
                del self._locks[sid]

    async def _over_session_limit(self, msg: Incoming, sid: str) -> bool:
        """A new thread from someone who already has the maximum working: refuse politely
        (follow-ups in their existing threads are never refused)."""
        if not await self.manager.at_session_limit(msg.user) or await self.manager.exists(sid):
            return False
        await self.replies.ephemeral(
            msg.channel,
            msg.user,
            "You already have the most conversations working at once that this workspace "
            "allows; send this again when one has finished (or `stop` one).",
            msg.thread_ts,
        )
        return True

    async def _submit(self, msg: Incoming, sid: str, queued: bool) -> None:
        exists = await self.manager.exists(sid)  # again: an earlier message may have made it
        try:
            seed = None
            if not exists and msg.thread_ts and msg.thread_ts != msg.ts:
                seed = (msg.channel, msg.thread_ts)
            composed = await self.composer.compose(
                msg.message,
                session_id=sid,
                user=msg.user,
                requester=await self.requester_of(sid) or msg.user,
                bot_user_id=self.bot_user_id,
                seed_from=seed,
            )
            if composed.file_notes:
                note = "\n".join(composed.file_notes)
                await self.replies.ephemeral(msg.channel, msg.user, note, msg.root_ts)
            await self.enqueue_input(
                msg.ticket,
                sid,
                UserInput(
                    text=composed.text,
                    user=msg.user,
                    meta={**composed.meta, "slack_ts": msg.ts, "queued": queued},
                ),
                origin=make_origin(msg.ref, msg.user, msg.channel_type),
            )
        except ManagerClosed:
            if msg.ticket is None:
                raise
            raise Deferred(msg.ticket.key) from None  # the next start replays it
        except Exception as exc:
            log.exception("could not hand a message to the engine")
            await self.replies.post(
                msg.channel,
                msg.root_ts,
                notices.error_payload(
                    f"I couldn't start working on this ({type(exc).__name__}).", "intake"
                ),
            )

    async def enqueue_input(
        self,
        ticket: Ticket | None,
        sid: str,
        op: UserInput,
        *,
        origin: dict[str, Any] | None = None,
    ) -> bool:
        """The one way a person's Slack input becomes an op: once the LLM client is warm, only
        while this delivery's inbox claim holds (:meth:`may_enqueue`), carrying its inbox key
        (so a replay can find it). False when it was not enqueued here."""
        await self.warmup.wait()
        if not await self.may_enqueue(ticket, sid):
            return False
        op = op.model_copy(update={"meta": {**op.meta, **inbox_meta(ticket)}})
        await self.manager.submit(sid, op, origin=origin)
        return True

    async def may_enqueue(self, ticket: Ticket | None, sid: str) -> bool:
        """Just before an enqueue: this delivery's inbox claim is still ours, and a replayed
        one's op is not in the queue yet (see :mod:`bot.slack.inbox`)."""
        if ticket is None or self.inbox is None:
            return True
        if not await self.inbox.still_held(ticket):
            log.info("inbox: %s was taken over by another replica; not enqueued here", ticket.key)
            return False
        if ticket.replayed and await self.inbox.already_enqueued(sid, ticket.key):
            log.info("inbox: %s was enqueued before the restart; not again", ticket.key)
            return False
        return True

    async def _in_dm_conversation(self, msg: Incoming, text: str) -> Incoming | None:
        """A top-level DM continues the DM conversation (``new`` starts another); a reply in
        the thread of a DM that continued one belongs to that conversation too."""
        if msg.thread_ts:
            sid = await self.inputs.session_of(msg.channel, msg.thread_ts)
            ref = parse_session_key(sid) if sid else None
            if ref is not None and ref.thread_ts != msg.thread_ts:
                return replace(msg, session_root=ref.thread_ts)
            return msg
        if is_new_request(text):
            await self.dms.start_new(msg.channel, msg.ts)
            await self.replies.post(msg.channel, msg.ts, notices.simple(notices.DM_NEW_TEXT))
            return None
        root = await self.dms.root_for(msg.channel, msg.ts)
        return replace(msg, session_root=root if root != msg.ts else None)

    async def settled(self, sid: str) -> None:
        """Wait until messages being taken in for ``sid`` have reached the engine's queue."""
        entry = self._locks.get(sid)
        if entry is not None:
            async with entry[0]:
                pass

    async def _keep_as_context(self, msg: Incoming) -> None:
        """A colleague talking to a colleague in a session thread: context, not a turn."""
        composed = await self.composer.context_note(
            msg.message, session_id=msg.ref.session_id, user=msg.user, bot_user_id=self.bot_user_id
        )
        if composed.file_notes:
            note = "\n".join(composed.file_notes)
            await self.replies.ephemeral(msg.channel, msg.user, note, msg.root_ts)

    async def requester_of(self, sid: str) -> str | None:
        row = await self.store.get_session(sid)
        return (row or {}).get("origin", {}).get("requester")

    async def handle_slash(self, body: dict[str, Any], respond: Any) -> None:
        """``/ml-intern <request>`` in a channel: post the request as a thread root, then treat
        it like a mention there (the thread is the session; the caller is the requester)."""
        text = str(body.get("text") or "").strip()
        user = str(body.get("user_id") or "")
        channel = str(body.get("channel_id") or "")
        if not text or text.lower().strip("/ ") in ("help", "?"):
            await respond(text=notices.SLASH_HELP_TEXT, response_type="ephemeral")
            return
        try:
            data = await self.sender.call(
                channel,
                "chat_postMessage",
                priority=HIGH,
                channel=channel,
                text=f"<@{user}> asked: {text}"[:3_000],
            )
        except SlackApiError as exc:
            error = exc.response.get("error")
            hint = (
                "Invite me to this channel first (`/invite @ml-intern`), or mention me instead."
                if error in NO_CHANNEL_ACCESS
                else f"Slack said: {error}."
            )
            await respond(text=f"I couldn't start a thread here. {hint}", response_type="ephemeral")
            return
        root = str(data.get("ts"))
        channel_type = "im" if channel.startswith("D") else "channel"
        if channel_type == "im":  # a slash command in a DM starts a fresh conversation there
            await self.dms.start_new(channel, root)
            await self.dms.root_for(channel, root)
        await self.handle_message(
            Incoming(
                team=str(body.get("team_id") or ""),
                channel=channel,
                channel_type=channel_type,
                user=user,
                text=text,
                ts=root,
                thread_ts=None,
                is_mention=True,
                session_exists=False,
                event={"text": text, "ts": root, "user": user},
                session_root=root,
            )
        )
