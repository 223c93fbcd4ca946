"""Replays inbox rows left ``received`` (:mod:`bot.slack.inbox`) through the Bolt app, once.

Runs at start — after the engine and renderer are up, before the transport opens, so a
message acked by the previous (crashed) process is back in line before new ones — and then
every ``every_s`` (the replicas' lease TTL), which is how a surviving replica picks up the
rows of one that died. A replayed event goes through the same middleware and listeners as
a live one (route → allow → intake): it is dispatched as a Socket Mode request (no request
signature to check: the body is the one Slack sent, stored before the ack, MAC-checked) with
its :class:`~bot.slack.inbox.Ticket` in the context, which makes the dedupe middleware skip
the insert.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest

from bot.slack.inbox import MAX_ATTEMPTS, REPLAY, SlackInbox

log = logging.getLogger(__name__)


class InboxReplay:
    def __init__(self, inbox: SlackInbox, app: Any, *, every_s: float) -> None:
        self.inbox = inbox
        self.app = app
        self.every_s = every_s

    async def run_once(self, *, starting: bool = False) -> int:
        """Claim and replay what is due; returns how many events were replayed."""
        replayed = 0
        for row in await self.inbox.claim_stale(starting=starting):
            key = row.ticket.key
            if row.body is None:
                log.warning(
                    "inbox: %s rejected: its stored body does not match its MAC (altered in "
                    "the database, or stored under another bot token); not replayed",
                    key,
                )
                await self.inbox.done(row.ticket, "rejected")
                continue
            if row.attempts > MAX_ATTEMPTS:
                log.error("inbox: %s given up after %d replays", key, MAX_ATTEMPTS)
                await self.inbox.done(row.ticket, "failed")
                continue
            log.info(
                "inbox: replaying %s (acked %.1f s ago, replay %d)",
                key,
                time.time() - row.received_at,
                row.attempts,
            )
            request = AsyncBoltRequest(
                body=row.body, mode="socket_mode", context={REPLAY: row.ticket}
            )
            await self.app.async_dispatch(request)
            replayed += 1
        return replayed

    async def patrol(self) -> None:
        """Forever: replay rows whose claim expired (a dead or stalled replica's)."""
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.run_once()
            except Exception:
                log.warning("inbox replay failed", exc_info=True)
