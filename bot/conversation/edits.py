"""Edits and deletes of messages the bot was given: never ignored, never silent.

* editing a message whose turn has not started updates the queued input (✏️ on the message);
* editing the message of a turn that is running or done is a correction: a follow-up that
  says "(edited) …" (🔁 on the message);
* editing a message to add the bot's mention starts the session, as a mention would;
* deleting a queued message drops it from the queue; deleting the message of the running turn
  offers a Stop button; deleting an answered one leaves the answer (each with a short note to
  the author, ephemeral, since the message itself is gone).

Which session a Slack message went to is recorded at intake (:class:`InputIndex`), so edits of
follow-ups, DMs and seeded threads find their session without guessing from thread ids.
Unfurls also arrive as ``message_changed`` with the same text; those change nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_core.events import UserInput
from bot.conversation.incoming import Incoming
from bot.conversation.progress import STOP_ACTION
from bot.conversation.slack_text import decode_message, mentioned_user_ids
from bot.slack.format import button_value
from bot.slack.keys import parse_session_key
from bot.slack.tables import SLACK_SCHEMA

if TYPE_CHECKING:
    from agent_core.manager import SessionManager
    from agent_core.store import Store
    from bot.conversation.intake import Intake
    from bot.slack.inbox import Ticket
    from bot.slack.replies import Replies

log = logging.getLogger(__name__)

INPUT_TTL_S = 30 * 86_400.0  # an edit a month later is not worth a lookup
PRUNE_EVERY = 500
EDIT_APPLIED = "pencil2"  # the queued input now reads as edited
EDIT_FOLLOWUP = "repeat"  # the correction was sent to the agent as a follow-up


class InputIndex:
    """Slack message → the session it was given to (and each session's latest input), in the
    bot's ``slack_inputs`` table. Edits older than ``ttl_s`` are not worth a lookup: entries
    are pruned as new ones are written (every :data:`PRUNE_EVERY` writes)."""

    def __init__(self, store: Store, *, ttl_s: float = INPUT_TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._writes = 0
        store.require(SLACK_SCHEMA)

    async def remember(self, channel: str, ts: str, session_id: str) -> None:
        await self.store.execute(
            "INSERT INTO slack_inputs (channel, ts, session_id, received_at) VALUES (?,?,?,?)"
            " ON CONFLICT (channel, ts) DO UPDATE SET session_id=excluded.session_id,"
            " received_at=excluded.received_at",
            (channel, ts, session_id, time.time()),
        )
        self._writes += 1
        if self._writes % PRUNE_EVERY == 1:
            await self.prune()

    async def session_of(self, channel: str, ts: str) -> str | None:
        row = await self.store.fetchone(
            "SELECT session_id FROM slack_inputs WHERE channel=? AND ts=?", (channel, ts)
        )
        return str(row["session_id"]) if row else None

    async def latest(self, session_id: str) -> str | None:
        row = await self.store.fetchone(
            "SELECT ts FROM slack_inputs WHERE session_id=? ORDER BY received_at DESC LIMIT 1",
            (session_id,),
        )
        return str(row["ts"]) if row else None

    async def prune(self) -> int:
        return await self.store.execute(
            "DELETE FROM slack_inputs WHERE received_at < ?", (time.time() - self.ttl_s,)
        )


@dataclass(frozen=True)
class SlackEdit:
    """A ``message_changed`` or ``message_deleted`` event about a person's message."""

    kind: str  # "changed" | "deleted"
    team: str
    channel: str
    channel_type: str
    ts: str  # the edited/deleted message's ts
    user: str  # its author
    message: dict[str, Any]  # the new version ({} when deleted)
    previous: dict[str, Any]
    ticket: Ticket | None = field(default=None, compare=False)  # its durable inbox row


def _is_slack_ts(op: dict[str, Any], ts: str) -> bool:
    return op.get("kind") == "user_input" and (op.get("meta") or {}).get("slack_ts") == ts


class EditHandler:
    """Applies :class:`SlackEdit` events to the sessions they concern."""

    def __init__(
        self,
        *,
        intake: Intake,
        manager: SessionManager,
        replies: Replies,
    ) -> None:
        self.intake = intake
        self.manager = manager
        self.replies = replies

    async def handle(self, edit: SlackEdit) -> None:
        sid = await self.intake.inputs.session_of(edit.channel, edit.ts)
        if sid is not None:
            await self.intake.settled(sid)  # the edited message may still be on its way in
        if edit.kind == "deleted":
            if sid is not None:
                await self._deleted(edit, sid)
            return
        if sid is None:
            await self._maybe_new_mention(edit)
            return
        await self._changed(edit, sid)

    async def _maybe_new_mention(self, edit: SlackEdit) -> None:
        """An edit that adds the bot's mention counts as the mention."""
        bot = self.intake.bot_user_id
        if not bot or bot not in mentioned_user_ids(edit.message):
            return
        if bot in mentioned_user_ids(edit.previous):
            return  # it was a mention already (and was handled, or refused, then)
        thread_ts = edit.message.get("thread_ts")
        await self.intake.handle_message(
            Incoming(
                team=edit.team,
                channel=edit.channel,
                channel_type=edit.channel_type,
                user=edit.user,
                text=str(edit.message.get("text") or ""),
                ts=edit.ts,
                thread_ts=thread_ts if thread_ts and thread_ts != edit.ts else None,
                is_mention=True,
                session_exists=False,
                files=tuple(f for f in edit.message.get("files") or [] if isinstance(f, dict)),
                event={**edit.message, "ts": edit.ts},
                ticket=edit.ticket,
            )
        )

    async def _changed(self, edit: SlackEdit, sid: str) -> None:
        bot = self.intake.bot_user_id
        # Unfurls add attachments and keep the text: compare what the person wrote.
        before = await decode_message({**edit.previous, "attachments": []}, None, bot_user_id=bot)
        after = await decode_message({**edit.message, "attachments": []}, None, bot_user_id=bot)
        if before.text == after.text:
            return  # an unfurl or a metadata change, not an edit of what was said
        requester = await self.intake.requester_of(sid) or edit.user
        composer, at = self.intake.composer, {"ts": edit.ts}
        # Not started yet: the queued input is replaced by the new version, as if it had been
        # sent that way (its files are already in the workspace, so nothing is downloaded
        # again; thread notes went with the original).
        replacement = await composer.compose(
            {**edit.message, **at}, session_id=sid, user=edit.user, requester=requester,
            bot_user_id=bot, with_notes=False,
        )  # fmt: skip
        new = UserInput(
            text=replacement.text,
            user=edit.user,
            meta={**replacement.meta, "slack_ts": edit.ts, "edited": True},
        )
        if await self.manager.amend_queued(sid, lambda op: _is_slack_ts(op, edit.ts), new):
            self.replies.react(edit.channel, edit.ts, EDIT_APPLIED)
            return
        # Running or answered: a correction, as a follow-up that says so (files were shown).
        correction = await composer.compose(
            {**edit.message, **at, "files": []}, session_id=sid, user=edit.user,
            requester=requester, bot_user_id=bot, edited=True,
        )  # fmt: skip
        op = UserInput(
            text=correction.text,
            user=edit.user,
            meta={**correction.meta, "slack_ts": edit.ts, "edited": True},
        )
        if not await self.intake.enqueue_input(edit.ticket, sid, op):
            return
        self.replies.react(edit.channel, edit.ts, EDIT_FOLLOWUP)

    async def _deleted(self, edit: SlackEdit, sid: str) -> None:
        ref = parse_session_key(sid)
        root = ref.thread_ts if ref is not None else None
        if await self.manager.withdraw_queued(sid, lambda op: _is_slack_ts(op, edit.ts)):
            await self.replies.ephemeral(
                edit.channel, edit.user, "You deleted a message I hadn't started on: I dropped "
                "it from my queue.", root,
            )  # fmt: skip
            return
        running = self.manager.is_busy(sid) and await self.intake.inputs.latest(sid) == edit.ts
        if not running:
            await self.replies.ephemeral(
                edit.channel, edit.user, "You deleted a message I had already worked on; what "
                "I did for it stays in the thread.", root,
            )  # fmt: skip
            return
        text = "You deleted the message I'm working on right now. Stop that work?"
        blocks = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "actions",
                "block_id": "deleted_actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Stop"},
                        "style": "danger",
                        "action_id": STOP_ACTION,
                        "value": button_value({"s": sid}),
                    }
                ],
            },
        ]
        await self.replies.ephemeral(edit.channel, edit.user, text, root, blocks=blocks)
