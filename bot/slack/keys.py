"""Session keys and origins: the one place that decides which Slack thread is which session.

The key is ``slack:{team}:{channel}:{thread_root_ts}`` — stable across restarts and
redeliveries, so a thread can never drift into a second session (a failure mode other bots
keep rediscovering). The origin is what the engine and the notification gateways read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREFIX = "slack"


def session_key(team: str, channel: str, thread_ts: str) -> str:
    return f"{PREFIX}:{team}:{channel}:{thread_ts}"


@dataclass(frozen=True)
class ThreadRef:
    """Where a session lives in Slack."""

    team: str
    channel: str
    thread_ts: str

    @property
    def session_id(self) -> str:
        return session_key(self.team, self.channel, self.thread_ts)


def parse_session_key(session_id: str) -> ThreadRef | None:
    """The thread a Slack session key names, or None for sessions from elsewhere."""
    parts = session_id.split(":")
    if len(parts) != 4 or parts[0] != PREFIX or not all(parts[1:]):
        return None
    return ThreadRef(parts[1], parts[2], parts[3])


def is_slack_session(session_id: str) -> bool:
    return parse_session_key(session_id) is not None


def channel_type_of(channel: str, hint: str | None = None) -> str:
    """``im`` / ``mpim`` / ``group`` / ``channel``: the event's hint, else the id's prefix."""
    if hint:
        return hint
    return {"D": "im", "G": "group"}.get(channel[:1], "channel")


def make_origin(ref: ThreadRef, requester: str, channel_type: str) -> dict[str, Any]:
    """The engine's opaque origin for a Slack session (gateways read channel/thread/requester)."""
    return {
        "platform": "slack",
        "team": ref.team,
        "channel": ref.channel,
        "thread_ts": ref.thread_ts,
        "requester": requester,
        "channel_type": channel_type,
    }
