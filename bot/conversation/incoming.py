"""A routed message: one the bot must answer (decided by :mod:`bot.slack.middleware`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.conversation.slack_text import unescape
from bot.slack.keys import ThreadRef

if TYPE_CHECKING:
    from bot.slack.inbox import Ticket


@dataclass(frozen=True)
class Incoming:
    team: str
    channel: str
    channel_type: str
    user: str
    text: str  # Slack's encoded ``text``; the model gets the decoded message
    ts: str
    thread_ts: str | None  # the thread root if the message is a reply
    is_mention: bool
    session_exists: bool
    files: tuple[dict[str, Any], ...] = ()  # Slack file objects, downloaded at intake
    # The Slack message itself (blocks, attachments, files): decoded once, at intake.
    event: dict[str, Any] | None = field(default=None, compare=False)
    context_only: bool = False  # a reply to a colleague in a session thread, not to the bot
    session_root: str | None = None  # a top-level DM continuing an earlier DM conversation
    # Its durable inbox row (bot.slack.inbox): confirmed just before the op is enqueued.
    ticket: Ticket | None = field(default=None, compare=False)

    @property
    def root_ts(self) -> str:
        return self.session_root or self.thread_ts or self.ts

    @property
    def ref(self) -> ThreadRef:
        return ThreadRef(self.team, self.channel, self.root_ts)

    @property
    def message(self) -> dict[str, Any]:
        """The Slack message to decode (a slash command has only its text)."""
        return self.event or {"text": self.text, "ts": self.ts, "user": self.user}


def command_text(text: str, bot_user_id: str | None) -> str:
    """The text a command is recognised in: without the bot's mention, entities decoded, no
    whitespace collapsed (that is code indentation). The model gets the fully decoded message
    from :mod:`bot.conversation.message_input`."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    return unescape(text).strip()
