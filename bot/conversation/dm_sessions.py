"""Direct messages are one conversation, not one session per message.

In a channel the thread is the session. In a DM people just keep typing top-level messages
("use 2 epochs instead"), so consecutive top-level DMs continue the conversation started by the
first one — its ``ts`` stays the session's root — until the person says ``new`` or has been
quiet for ``dm_idle_hours`` (default 12). Replies inside a DM thread keep working as that
thread's session. The mapping lives in the store (kv ``slack_dm_sessions``), so a restart does
not split a conversation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_core.store import Store

DM_KV = "slack_dm_sessions"
NEW_WORDS = frozenset({"new", "new session", "new conversation", "reset", "start over"})


def is_new_request(text: str) -> bool:
    """``new`` (and close synonyms) on its own starts a fresh DM conversation."""
    return " ".join(text.lower().split()).strip(" .!/") in NEW_WORDS


class DmConversations:
    """Which root ``ts`` a top-level DM belongs to, per DM channel."""

    def __init__(
        self, store: Store, *, idle_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.idle_s = idle_s
        self._clock = clock

    async def root_for(self, channel: str, ts: str) -> str:
        """The conversation this top-level DM continues, or ``ts`` itself when it starts one."""
        now = self._clock()
        entry = await self.store.kv_get(DM_KV, channel)
        root = ts
        if isinstance(entry, dict) and entry.get("root"):
            last = float(entry.get("last") or 0)
            if self.idle_s <= 0 or now - last <= self.idle_s:
                root = str(entry["root"])
        await self.store.kv_set(DM_KV, channel, {"root": root, "last": now})
        return root

    async def start_new(self, channel: str, ts: str) -> None:
        """``new``: the next top-level DM starts a fresh conversation."""
        await self.store.kv_set(DM_KV, channel, {"root": None, "last": self._clock(), "at": ts})

    async def current(self, channel: str) -> str | None:
        entry = await self.store.kv_get(DM_KV, channel)
        return str(entry["root"]) if isinstance(entry, dict) and entry.get("root") else None
