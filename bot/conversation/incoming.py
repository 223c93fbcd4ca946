"""A routed message: one the bot must answer (decided by :mod:`bot.slack.middleware`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.slack.keys import ThreadRef


@dataclass(frozen=True)
class Incoming:
    team: str
    channel: str
    channel_type: str
    user: str
    text: str
    ts: str
    thread_ts: str | None  # the thread root if the message is a reply
    is_mention: bool
    session_exists: bool
    files: tuple[str, ...] = ()

    @property
    def root_ts(self) -> str:
        return self.thread_ts or self.ts

    @property
    def ref(self) -> ThreadRef:
        return ThreadRef(self.team, self.channel, self.root_ts)


def strip_mentions(text: str, bot_user_id: str | None) -> str:
    """Remove the bot's own mention (other people's mentions are meaningful context)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()
