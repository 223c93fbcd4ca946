"""What the renderer writes to a thread, made safe to repeat: posts and uploads go through the
ledger (:mod:`bot.slack.ledger`), so a (session, seq, part) reaches Slack once, even across
restarts; edits and reactions are idempotent and go straight to the sender.

* A post is recorded ``pending`` before the request and ``posted`` with its ts after. A
  ``pending`` row found later means "the request may or may not have reached Slack": the
  thread is searched for the post's metadata marker before posting again.
* Slack refusing a post's blocks (too long, invalid) never silences it: it is posted again as
  plain text.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.slack.files import upload_text
from bot.slack.format import MAX_FALLBACK_TEXT, Payload
from bot.slack.ledger import POSTED, Ledger, marker, matches_marker
from bot.slack.sender import HIGH, LOW, NORMAL, SenderClosed, SlackSender
from bot.slack.threads import ThreadRecord, thread_replies
from gateways.providers.slack_errors import BAD_CONTENT, error_code

log = logging.getLogger(__name__)

MARKER_SEARCH_PAGES = 10


class ThreadOutput:
    def __init__(
        self,
        sender: SlackSender,
        ledger: Ledger,
        *,
        assistant_status: bool,
    ) -> None:
        self.sender = sender
        self.ledger = ledger
        self.assistant_status = assistant_status
        self._no_status: set[str] = set()  # channels where Slack refused the status line

    async def post_once(
        self,
        rec: ThreadRecord,
        seq: int,
        part: str,
        payload: Payload,
        *,
        priority: int = NORMAL,
    ) -> str | None:
        """Post ``payload`` in the thread unless (session, seq, part) was already posted."""
        sid = rec.session_id
        entry = await self.ledger.get(sid, seq, part)
        if entry is not None and entry.status == POSTED:
            return entry.ts
        if entry is not None:  # pending: a crash between request and record; look first
            found = await self._find_marker(rec, seq, part)
            if found:
                await self.ledger.done(sid, seq, part, found)
                return found
            if not await self.ledger.retry(entry):  # another replica took it over
                return await self._posted_ts(sid, seq, part)
        elif not await self.ledger.begin(sid, seq, part, rec.channel):
            return await self._posted_ts(sid, seq, part)  # another replica is posting it
        common = {
            "channel": rec.channel,
            "thread_ts": rec.thread_ts,
            "metadata": marker(sid, seq, part),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        try:
            data = await self.sender.call(
                rec.channel, "chat_postMessage", priority=priority, **common, **payload.kwargs()
            )
        except SlackApiError as exc:
            if error_code(exc.response) not in BAD_CONTENT:
                raise
            log.error("Slack refused %s for %s #%d: %s", part, sid, seq, error_code(exc.response))
            data = await self.sender.call(
                rec.channel,
                "chat_postMessage",
                priority=priority,
                **common,
                text=payload.text[:MAX_FALLBACK_TEXT] or "(this message could not be displayed)",
            )
        ts = data.get("ts") if isinstance(data, dict) else None
        await self.ledger.done(sid, seq, part, ts)
        return ts

    async def upload_once(
        self,
        rec: ThreadRecord,
        seq: int,
        part: str,
        filename: str,
        content: str | bytes,
        title: str,
    ) -> None:
        """Share a file in the thread once. A crash mid-upload leaves it out rather than
        risking it twice (a missing file beats a double one)."""
        if not await self.ledger.begin(rec.session_id, seq, part, rec.channel):
            return
        file_id = await upload_text(
            self.sender,
            channel=rec.channel,
            thread_ts=rec.thread_ts,
            filename=filename,
            content=content,
            title=title,
            priority=HIGH,
        )
        await self.ledger.done(rec.session_id, seq, part, file_id)

    async def _posted_ts(self, session_id: str, seq: int, part: str) -> str | None:
        """The ts of a part someone else is posting (None until it is recorded)."""
        entry = await self.ledger.get(session_id, seq, part)
        return entry.ts if entry is not None else None

    async def _find_marker(self, rec: ThreadRecord, seq: int, part: str) -> str | None:
        try:
            async for msg in thread_replies(
                self.sender,
                rec.channel,
                rec.thread_ts,
                max_pages=MARKER_SEARCH_PAGES,
                include_all_metadata=True,
            ):
                if matches_marker(msg, rec.session_id, seq, part):
                    return msg.get("ts")
        except SlackApiError as exc:
            log.warning(
                "could not check the thread for an earlier post: %s", error_code(exc.response)
            )
        return None

    def edit(
        self, rec: ThreadRecord, ts: str, payload: Payload, *, final: bool = False
    ) -> asyncio.Future[Any]:
        """Set message ``ts`` to ``payload`` (coalesced by the sender; await it or not)."""
        return self.sender.edit(
            rec.channel, ts, text=payload.text, blocks=payload.blocks, final=final
        )

    def react(self, rec: ThreadRecord, ts: str | None, *, add: str = "", remove: str = "") -> None:
        """Fire-and-forget reaction changes on a user message (errors are harmless)."""
        if not ts:
            return
        if remove:
            self.sender.submit(
                rec.channel, "reactions_remove", channel=rec.channel, timestamp=ts, name=remove
            )
        if add:
            self.sender.submit(
                rec.channel, "reactions_add", channel=rec.channel, timestamp=ts, name=add
            )

    def set_status(self, rec: ThreadRecord, status: str) -> None:
        """The "is working…" line under the thread. Where Slack refuses it (the app is not an
        assistant there, a missing scope), it is not tried again in that channel."""
        if not self.assistant_status or rec.channel in self._no_status:
            return
        fut = self.sender.submit(
            rec.channel,
            "assistant_threads_setStatus",
            priority=LOW if not status else NORMAL,
            channel_id=rec.channel,
            thread_ts=rec.thread_ts,
            status=status,
        )

        def done(f: asyncio.Future[Any]) -> None:
            exc = None if f.cancelled() else f.exception()
            if isinstance(exc, SlackApiError):
                log.info(
                    "assistant status unavailable in %s (%s); not using it there",
                    rec.channel,
                    error_code(exc.response),
                )
                self._no_status.add(rec.channel)

        fut.add_done_callback(done)


async def settle(fut: asyncio.Future[Any] | None, what: str = "final edit") -> None:
    """Wait for an edit the handler needs done before it returns; a failed edit is logged (the
    sender already retried it), a closed sender ends the worker."""
    if fut is None:
        return
    try:
        await fut
    except SenderClosed:
        raise
    except Exception:
        log.warning("%s failed", what, exc_info=True)
