"""Where a mention becomes a session: a routed message → a command, or input for the engine.

Listeners are thin (parse Bolt's arguments, call one method here); the behaviour reads top to
bottom: feedback on the user's message first, then the thread record, then the engine.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from agent_core.events import UserInput
from bot.conversation import notices
from bot.conversation.commands import parse_command
from bot.conversation.incoming import Incoming, strip_mentions
from bot.slack.keys import make_origin
from bot.slack.sender import HIGH
from bot.slack.threads import thread_replies
from gateways.providers.slack_errors import NO_CHANNEL_ACCESS

if TYPE_CHECKING:
    from agent_core.manager import SessionManager
    from bot.conversation.commands import Commands
    from bot.llm_warmup import LlmWarmup
    from bot.settings import SlackSettings
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
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.threads = threads
        self.sender = sender
        self.replies = replies
        self.commands = commands
        self.warmup = warmup
        self.bot_user_id = bot_user_id
        self._locks: dict[str, list[Any]] = {}  # session → [lock, holders and waiters]

    async def handle_message(self, msg: Incoming) -> None:
        """A message addressed to the bot: a command, or input for the thread's session."""
        text = strip_mentions(msg.text, self.bot_user_id)
        command = parse_command(text)
        if command is not None:
            await self.commands.run(command, msg)
            return
        if not text and not msg.files:
            await self.replies.post(msg.channel, msg.root_ts, notices.help_payload())
            return
        sid = msg.ref.session_id
        # One message at a time per thread from ack to the engine's queue, so messages sent
        # in quick succession reach the session in the order Slack delivered them. The
        # feedback reaction comes first, before waiting for an earlier message's intake.
        entry = self._locks.setdefault(sid, [asyncio.Lock(), 0])
        ahead = entry[1] > 0
        entry[1] += 1  # the lock is dropped only when nobody needs it
        try:
            exists = await self.manager.exists(sid)
            queued = ahead or (
                exists and (self.manager.is_busy(sid) or await self.manager.queued_count(sid) > 0)
            )
            reactions = self.settings.reactions
            feedback = reactions.queued if queued else reactions.received
            if feedback:
                self.replies.react(msg.channel, msg.ts, feedback)
            async with entry[0]:
                await self._submit(msg, text, sid, queued)
        finally:
            entry[1] -= 1
            if entry[1] == 0 and self._locks.get(sid) is entry:
                del self._locks[sid]

    async def _submit(self, msg: Incoming, text: str, sid: str, queued: bool) -> None:
        exists = await self.manager.exists(sid)  # again: an earlier message may have made it
        try:
            # The thread is ours from now on (follow-ups are routed to it even before the
            # engine has created the session, e.g. while the LLM client warms up).
            await self.threads.ensure(msg.ref)
            if not exists and msg.thread_ts and msg.thread_ts != msg.ts:
                text = await self._seeded(msg, text)
            if msg.files:
                text += "\n\n(Attached files: " + ", ".join(msg.files) + ")"
            await self.warmup.wait()
            await self.manager.submit(
                sid,
                UserInput(text=text, user=msg.user, meta={"slack_ts": msg.ts, "queued": queued}),
                origin=make_origin(msg.ref, msg.user, msg.channel_type),
            )
        except Exception as exc:
            log.exception("could not hand a message to the engine")
            await self.replies.post(
                msg.channel,
                msg.root_ts,
                notices.error_payload(
                    f"I couldn't start working on this ({type(exc).__name__}).", "intake"
                ),
            )

    async def _seeded(self, msg: Incoming, text: str) -> str:
        """Prefix the first input of a session started inside an existing human thread."""
        limit = self.settings.seed_thread_messages
        if limit <= 0 or not msg.thread_ts:
            return text
        messages: list[dict[str, Any]] = []
        try:
            async for m in thread_replies(self.sender, msg.channel, msg.thread_ts, max_pages=5):
                messages.append(m)
        except SlackApiError as exc:
            log.warning(
                "could not read the thread to seed the session: %s", exc.response.get("error")
            )
            return text
        earlier = [
            m
            for m in messages
            if m.get("ts") != msg.ts
            and float(m.get("ts") or 0) < float(msg.ts)
            and m.get("user") != self.bot_user_id
            and (m.get("text") or "").strip()
        ][-limit:]
        if not earlier:
            return text
        lines = []
        for m in earlier:
            who = f"<@{m['user']}>" if m.get("user") else (m.get("username") or "a bot")
            body = " ".join(str(m.get("text")).split())[:2_000]
            lines.append(f"{who}: {body}")
        return (
            "[You were just mentioned in an existing Slack thread. Its most recent messages "
            "before the mention, oldest first:]\n" + "\n".join(lines) + "\n[End of thread "
            "context. The message addressed to you follows.]\n\n" + text
        )

    async def handle_slash(self, body: dict[str, Any], respond: Any) -> None:
        """``/ml-intern <request>`` in a channel: post the request as a thread root, then treat
        it like a mention there (the thread is the session; the caller is the requester)."""
        text = str(body.get("text") or "").strip()
        user = str(body.get("user_id") or "")
        channel = str(body.get("channel_id") or "")
        if not text or text.lower() in ("help", "?"):
            await respond(text=notices.HELP_TEXT, response_type="ephemeral")
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
            )
        )
