"""Per-thread render records: where a session lives (``slack_threads``) and how far it is drawn.

``rendered_seq`` is the watermark: every event up to it has been rendered, and ``state`` is
the render state *at* that watermark. Both are the renderer's cursor in the store's event log
(:data:`~bot.slack.tables.RENDER_CONSUMER`), written together, so a restart resumes from a
consistent point and replays only what came after.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agent_core.store import Store
from bot.renderer.state import ThreadState
from bot.slack.keys import ThreadRef, parse_session_key
from bot.slack.tables import RENDER_CONSUMER, SLACK_SCHEMA


@dataclass
class ThreadRecord:
    session_id: str
    team: str
    channel: str
    thread_ts: str
    rendered_seq: int = 0
    state: ThreadState = field(default_factory=ThreadState)

    @property
    def ref(self) -> ThreadRef:
        return ThreadRef(self.team, self.channel, self.thread_ts)


ENSURED_CACHE = 4096  # thread records this process knows exist (most recent)
ENSURED_TTL_S = 3600.0  # retention deletes only threads idle for days; an hour is safe


class ThreadStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.require(SLACK_SCHEMA)
        # Every message in a thread calls ensure(), and the middleware asks known() for every
        # reply on the ack path; a record seen within the hour costs no statement. Retention
        # deletes only threads idle for days, so an entry never outlives its record (and the
        # renderer re-creates a missing record from the session key: load_or_derive).
        self._ensured: OrderedDict[str, float] = OrderedDict()

    async def get(self, session_id: str) -> ThreadRecord | None:
        row = await self.store.fetchone(
            "SELECT session_id, team, channel, thread_ts FROM slack_threads WHERE session_id=?",
            (session_id,),
        )
        if row is None:
            return None
        cursor = await self.store.cursor(RENDER_CONSUMER, session_id)
        if cursor is None:  # ensure() starts the cursor first; a record never goes without one
            cursor = await self.store.start_cursor(RENDER_CONSUMER, session_id)
        return ThreadRecord(
            session_id=row["session_id"],
            team=row["team"] or "",
            channel=row["channel"],
            thread_ts=row["thread_ts"],
            rendered_seq=cursor.seq,
            state=ThreadState.from_dict(cursor.state),
        )

    def _recently_ensured(self, session_id: str) -> bool:
        seen = self._ensured.get(session_id)
        return seen is not None and time.monotonic() - seen < ENSURED_TTL_S

    def _remember(self, session_id: str) -> None:
        self._ensured[session_id] = time.monotonic()
        self._ensured.move_to_end(session_id)
        if len(self._ensured) > ENSURED_CACHE:
            self._ensured.popitem(last=False)

    async def known(self, session_id: str) -> bool:
        """Does this thread have a record? From memory when this process ensured it lately
        (the middleware asks on the ack path for every reply in a thread), else one query."""
        if self._recently_ensured(session_id):
            return True
        row = await self.store.fetchone(
            "SELECT 1 FROM slack_threads WHERE session_id=?", (session_id,)
        )
        return row is not None

    async def ensure(self, ref: ThreadRef) -> None:
        """Create the record if missing. A session that already has events (created before
        this record existed) starts its watermark at its last event: nothing old is replayed.
        Cursor and record are written in one transaction: a record never goes without one."""
        sid = ref.session_id
        if self._recently_ensured(sid):
            self._remember(sid)
            return
        await self.store.transaction(
            [
                self.store.cursor_start(RENDER_CONSUMER, sid),
                (
                    "INSERT INTO slack_threads (session_id, team, channel, thread_ts, updated_at)"
                    " VALUES (?,?,?,?,?) ON CONFLICT (session_id) DO NOTHING",
                    (sid, ref.team, ref.channel, ref.thread_ts, time.time()),
                ),
            ]
        )
        self._remember(sid)

    async def load_or_derive(self, session_id: str) -> ThreadRecord | None:
        """The record, or one derived from the session key (sessions created elsewhere)."""
        rec = await self.get(session_id)
        if rec is not None:
            return rec
        ref = parse_session_key(session_id)
        if ref is None:
            return None
        self._ensured.pop(session_id, None)  # it existed once, but is gone (retention)
        await self.ensure(ref)
        return await self.get(session_id)

    async def save(self, rec: ThreadRecord) -> None:
        await self.store.advance_cursor(
            RENDER_CONSUMER, rec.session_id, rec.rendered_seq, state=rec.state.to_dict()
        )

    async def behind(self) -> list[str]:
        """Sessions with events not rendered yet (to replay after a restart)."""
        return await self.store.sessions_behind(RENDER_CONSUMER)


async def thread_replies(
    sender: Any, channel: str, thread_ts: str, *, max_pages: int, **extra: Any
) -> AsyncIterator[dict[str, Any]]:
    """The messages of a thread, page by page through the sender (SlackApiError propagates).

    ``max_pages`` bounds the walk so a huge thread can never stall a listener.
    """
    cursor = None
    for _ in range(max_pages):
        data = await sender.call(
            channel,
            "conversations_replies",
            channel=channel,
            ts=thread_ts,
            limit=200,
            cursor=cursor,
            **extra,
        )
        for message in data.get("messages") or []:
            yield message
        cursor = (data.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return
