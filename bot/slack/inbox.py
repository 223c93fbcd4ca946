"""The durable Slack inbox: an event that may lead to work is in the store before it is acked.

Bolt acks an event as soon as the middleware chain has run; the work (intake, then
``manager.submit`` enqueuing the op) runs after the ack. A crash in between used to lose the
person's message: Slack does not redeliver an acked envelope, and the dedupe key said
"seen". Now the dedupe statement (:meth:`SeenEvents.first_time`, one ``INSERT … ON CONFLICT
DO NOTHING``) also stores the event: the row of the delivery's first key carries the body
(scrubbed like the ops are, with a MAC) in state ``received`` and a claim by this replica.
A redelivery hits the same unique index, so "new or duplicate" and "stored" are one write,
and the ack path keeps exactly one statement.

State machine of an inbox row (``slack_seen_events``, since Slack schema v5)::

    received ──work durable──▶ done        (op enqueued, edit applied, command run,
       │                                    or "nothing to do": not for us, refused)
       ├──MAC mismatch on replay──▶ rejected
       └──replayed MAX_ATTEMPTS times──▶ failed

Claims: a live delivery is claimed by ``<replica>:<nonce>`` until ``claim_ttl_s`` after it
arrived. A row still ``received`` whose claim expired (its replica died, or stalled) is
claimed again by one replica — a single conditional ``UPDATE … RETURNING``, so two replicas
never both win it — and replayed through the same middleware and intake as a live event
(:mod:`bot.slack.inbox_replay`). At start, a replica also takes back rows claimed under its
own replica id (they belonged to its previous, dead process).

Why a replay never enqueues twice: ``done`` is written after ``manager.submit`` (not in the
same transaction: the engine's queue belongs to the engine), so a crash between the two
leaves a ``received`` row whose op exists. Before submitting, the intake (1) makes sure its
claim still holds (:meth:`SlackInbox.still_held`: free while more than half the TTL is
left, else ``UPDATE … WHERE claimed_by = <mine>``, which also renews it) — a holder whose
claim was taken over stops there — and (2) for a replay, looks for an op of that session
already carrying the delivery's key in ``meta.inbox`` (:meth:`SlackInbox.already_enqueued`;
an edit's correction and the message share a ``slack_ts``, not a key). ``done`` itself is
conditional on the claim, so a holder that lost its claim cannot close a row another
replica is still working on. A replayed command (``stop``, ``new``…) whose effect happened
before the crash runs again: those are idempotent or harmless to repeat. The one
window left is a holder that stalls for more than half of ``claim_ttl_s`` between that check
and its (single-statement) submit. Replicas' clocks are assumed to agree to well within that.

Cost: the ack path keeps its one statement; after the ack, the ``done`` marks of a burst
share one write (:meth:`SlackInbox.finished`), and a slow intake adds the renewing confirm.

Why a replay trusts the row: the body is what Slack sent, stored before the ack; the MAC
(HMAC-SHA256 keyed from the bot token, over key and body) proves this deployment wrote it,
so someone with write access to the database but not the token cannot turn a row into a
message from another person or channel. Rotating the bot token makes rows pending at that
moment unreplayable (they are rejected with a log line).

Shutdown: a message the engine refuses because it is closing (``ManagerClosed``) raises
:class:`Deferred` instead of an error reply; its row stays ``received`` for the next start.
Not covered: slash commands and button clicks (acked by their own listeners, not events).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from agent_core.redact import scrub_checked
from agent_core.store import Store
from agent_core.store.database import dumps
from bot.slack.seen_events import InboxColumns, SeenEvents

log = logging.getLogger(__name__)

TICKET = "inbox_ticket"  # the Bolt context key of a delivery's Ticket
REPLAY = "inbox_replay"  # set by a replay (the context of a real request never has it)
DONE_BATCH_S = 0.05  # how long done marks wait to share one statement
MAX_ATTEMPTS = 3  # a row whose replay keeps failing is given up (state 'failed')
WORK_EVENTS = frozenset({"message", "app_mention"})  # the events whose body is kept


def event_keys(body: dict[str, Any]) -> list[str]:
    """Dedupe keys of an Events API body: its event_id, and channel+ts for messages."""
    keys = []
    if body.get("event_id"):
        keys.append(f"ev:{body['event_id']}")
    event = body.get("event") or {}
    if event.get("type") in WORK_EVENTS and event.get("channel") and event.get("ts"):
        keys.append(f"msg:{event['channel']}:{event['ts']}")
    return keys


@dataclass(frozen=True)
class Ticket:
    """A claim on one inbox row: what the work of this delivery reports back with."""

    key: str
    claim: str
    replayed: bool = False
    expires_at: float = 0.0  # when the claim lapses unless renewed (wall clock)


class Deferred(Exception):
    """A delivery's work cannot be made durable now (the engine is shutting down): its row
    stays ``received`` for the next start, or another replica, to replay."""


def inbox_meta(ticket: Ticket | None) -> dict[str, str]:
    """What an op enqueued for a delivery carries so a replay can find it (``meta.inbox``)."""
    return {"inbox": ticket.key} if ticket is not None else {}


@dataclass(frozen=True)
class Pending:
    """A row claimed for replay: the stored body, if its MAC holds (else None)."""

    ticket: Ticket
    body: dict[str, Any] | None
    attempts: int
    received_at: float


class SlackInbox:
    """Inbox rows of ``slack_seen_events`` (see the module docstring)."""

    def __init__(self, store: Store, *, secret: str, replica_id: str, claim_ttl_s: float) -> None:
        self.store = store
        self.seen = SeenEvents(store)
        self.replica_id = replica_id
        self.claim_ttl_s = claim_ttl_s
        self._mac_key = hashlib.sha256(b"ml-intern-slack inbox\0" + secret.encode()).digest()
        self._finished: list[Ticket] = []
        self._flushing: asyncio.Task[None] | None = None

    def _claim(self) -> str:
        return f"{self.replica_id}:{secrets.token_hex(4)}"

    def mac(self, key: str, body: str) -> str:
        return hmac.new(self._mac_key, f"{key}\n{body}".encode(), hashlib.sha256).hexdigest()

    async def take_in(self, body: dict[str, Any]) -> tuple[bool, Ticket | None]:
        """The one statement before the ack: (is this delivery new, its ticket if stored)."""
        keys = event_keys(body)
        if not keys:
            return True, None
        if (body.get("event") or {}).get("type") not in WORK_EVENTS:
            return await self.seen.first_time(keys), None
        key, claim, now = sorted(set(keys))[0], self._claim(), time.time()
        # Slack's deprecated verification token is not kept; the rest is scrubbed like ops.
        stored = dumps(scrub_checked({k: v for k, v in body.items() if k != "token"}))
        columns = InboxColumns(stored, self.mac(key, stored), claim, now + self.claim_ttl_s)
        if not await self.seen.first_time(keys, now, inbox=columns):
            return False, None
        return True, Ticket(key, claim, expires_at=columns.claim_expires_at)

    async def still_held(self, ticket: Ticket) -> bool:
        """Is the claim still ours? Certainly, without a statement, while more than half
        its TTL is left (nobody may claim a row before its claim lapses); else
        :meth:`confirm` asks the database and renews it."""
        if ticket.expires_at - time.time() > self.claim_ttl_s / 2:
            return True
        return await self.confirm(ticket)

    async def confirm(self, ticket: Ticket) -> bool:
        """Still ours (and renewed)? False once another replica took the row over."""
        rows = await self.store.fetchall(
            "UPDATE slack_seen_events SET claim_expires_at=?"
            " WHERE event_key=? AND claimed_by=? AND state='received' RETURNING event_key",
            (time.time() + self.claim_ttl_s, ticket.key, ticket.claim),
        )
        return bool(rows)

    async def done(self, ticket: Ticket, state: str = "done") -> bool:
        """The work is durable (or refused): the body is dropped, the dedupe key stays."""
        changed = await self.store.execute(
            "UPDATE slack_seen_events SET state=?, body=NULL, mac=NULL, claimed_by=NULL,"
            " claim_expires_at=NULL WHERE event_key=? AND claimed_by=? AND state='received'",
            (state, ticket.key, ticket.claim),
        )
        return changed > 0

    def finished(self, ticket: Ticket) -> None:
        """:meth:`done`, batched: the marks of a burst go in one statement ``DONE_BATCH_S``
        later, off the ack path's way (a crash before the write only means a replay, which
        finds the op, or decides "nothing to do" again). :meth:`close` writes what is left."""
        self._finished.append(ticket)
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush_soon(), name="inbox-done")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(DONE_BATCH_S)  # a batching window, not a wait for an event
        try:
            await self.flush()
        except Exception:
            log.warning("inbox: marking rows done failed; they will be replayed", exc_info=True)

    async def flush(self) -> int:
        """Write the pending :meth:`finished` marks (one statement)."""
        batch, self._finished, self._flushing = self._finished, [], None
        if not batch:
            return 0
        marks = ",".join("?" * len(batch))
        return await self.store.execute(
            "UPDATE slack_seen_events SET state='done', body=NULL, mac=NULL, claimed_by=NULL,"
            f" claim_expires_at=NULL WHERE state='received' AND event_key IN ({marks})"
            f" AND claimed_by IN ({marks})",
            [*(t.key for t in batch), *(t.claim for t in batch)],
        )

    async def close(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
        await self.flush()

    async def already_enqueued(self, session_id: str, key: str) -> bool:
        """Does the session's queue already hold the op of delivery ``key`` (a replay after
        a crash between ``manager.submit`` and :meth:`done`)? Ops carry the key in
        ``meta.inbox`` (:func:`inbox_meta`) inside compact JSON
        (:func:`agent_core.store.database.dumps`)."""
        row = await self.store.fetchone(
            "SELECT 1 FROM ops WHERE session_id=? AND kind='user_input' AND data LIKE ?",
            (session_id, f'%"inbox":{json.dumps(key)}%'),
        )
        return row is not None

    async def claim_stale(self, *, starting: bool = False) -> list[Pending]:
        """Claim every ``received`` row whose claim expired (at start: or that this replica
        id held before it restarted), younger than nothing: the TTL prune drops old ones."""
        now = time.time()
        claim, expires_at = self._claim(), now + self.claim_ttl_s
        sql = (
            "UPDATE slack_seen_events SET claimed_by=?, claim_expires_at=?, attempts=attempts+1"
            " WHERE state='received' AND (claimed_by IS NULL OR claim_expires_at < ?"
        )
        params: list[Any] = [claim, expires_at, now]
        if starting:
            mine = f"{self.replica_id}:"
            sql += " OR substr(claimed_by, 1, ?) = ?"
            params += [len(mine), mine]
        sql += ") RETURNING event_key, body, mac, attempts, received_at"
        rows = await self.store.fetchall(sql, params)
        pending = []
        for row in rows:
            key, body, mac = row[0], row[1], row[2]
            valid = (
                body is not None
                and mac is not None
                and hmac.compare_digest(mac, self.mac(key, body))
            )
            pending.append(
                Pending(
                    Ticket(key, claim, replayed=True, expires_at=expires_at),
                    json.loads(body) if valid else None,
                    int(row[3]),
                    float(row[4]),
                )
            )
        return pending

    async def prune(self, older_than_s: float) -> int:
        """Drop keys (and inbox rows) older than the dedupe TTL; a row never worked on is
        logged, since its message goes unanswered."""
        rows = await self.store.fetchall(
            "DELETE FROM slack_seen_events WHERE received_at < ? RETURNING event_key, state",
            (time.time() - older_than_s,),
        )
        for row in rows:
            if row[1] == "received":
                log.warning("inbox: %s dropped unanswered after the dedupe TTL", row[0])
        return len(rows)
