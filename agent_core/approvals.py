"""Pending approvals, bound to the exact call, kept in the store.

A decision is *claimed* atomically (``UPDATE … WHERE status='pending'``), so of two people
clicking at once exactly one wins and the other learns who did. A decision names the
``tool_call_id`` and may carry the arguments' hash: if the call is no longer pending, or its
arguments are not the ones the approver saw, the decision is refused. Execution happens later
in the session's own queue, so claiming is quick enough for a Slack button's ack.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .events import ToolApproval
from .redact import scrub
from .store import Store

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
ABANDONED = "abandoned"
EXPIRED = "expired"

# ``decided_by`` of decisions no person made: a batch withdrawn by a stop, an expiry sweep.
DECIDED_BY_STOP = "stop"
DECIDED_BY_SYSTEM = "system"


@dataclass
class PendingCall:
    session_id: str
    tool_call_id: str
    batch_id: str
    tool: str
    arguments: dict[str, Any]
    args_hash: str
    approval_class: str | None
    status: str
    requester: str | None
    decided_by: str | None
    feedback: str | None
    overrides: dict[str, Any]
    reason: str | None
    estimated_cost_usd: float | None
    created_at: float
    expires_at: float | None
    decided_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ClaimResult:
    """Outcome of :meth:`ApprovalBook.claim`. ``ok`` False → ``error`` says why, for a person."""

    ok: bool
    error: str | None = None
    batch_id: str | None = None
    batch_complete: bool = False
    already_decided_by: str | None = None
    already_status: str | None = None
    expired: bool = False


def _expired(expires_at: float | None, batch_id: str | None) -> ClaimResult:
    """The refusal for a click after the card's deadline (the sweep may not have run yet)."""
    when = time.strftime("%H:%M:%S UTC", time.gmtime(expires_at or 0))
    return ClaimResult(
        False,
        f"this approval request expired at {when}; nothing was run",
        batch_id=batch_id,
        expired=True,
    )


def _is_past(expires_at: float | None) -> bool:
    return expires_at is not None and expires_at <= time.time()


def _already_decided(status: str | None, by: str | None, batch_id: str | None) -> ClaimResult:
    """The refusal for a second decision: the first one stands, and says who made it."""
    return ClaimResult(
        False,
        f"this call was already {status}" + (f" by {by}" if by else ""),
        batch_id=batch_id,
        already_decided_by=by,
        already_status=status,
    )


def _row_to_call(r: Any) -> PendingCall:
    return PendingCall(
        session_id=r["session_id"],
        tool_call_id=r["tool_call_id"],
        batch_id=r["batch_id"],
        tool=r["tool"],
        arguments=json.loads(r["arguments"]),
        args_hash=r["args_hash"],
        approval_class=r["approval_class"],
        status=r["status"],
        requester=r["requester"],
        decided_by=r["decided_by"],
        feedback=r["feedback"],
        overrides=json.loads(r["overrides"] or "{}"),
        reason=r["reason"],
        estimated_cost_usd=r["estimated_cost_usd"],
        created_at=r["created_at"],
        expires_at=r["expires_at"],
        decided_at=r["decided_at"],
    )


class ApprovalBook:
    """Store-backed approval records."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_batch(
        self,
        session_id: str,
        batch_id: str,
        calls: list[dict[str, Any]],
        requester: str | None,
        ttl_s: float | None,
    ) -> None:
        """``calls``: dicts with tool_call_id, tool, arguments, args_hash, approval_class, reason,
        estimated_cost_usd."""
        now = time.time()
        expires = now + ttl_s if ttl_s else None
        await self.store.transaction(
            [
                (
                    "INSERT INTO approvals (session_id, tool_call_id, batch_id, tool,"
                    " arguments, args_hash, approval_class, status, requester, reason,"
                    " estimated_cost_usd, created_at, expires_at)"
                    " VALUES (?,?,?,?,?,?,?,'pending',?,?,?,?,?)",
                    (
                        session_id,
                        c["tool_call_id"],
                        batch_id,
                        c["tool"],
                        json.dumps(scrub(c["arguments"]), sort_keys=True),
                        c["args_hash"],
                        c.get("approval_class"),
                        requester,
                        scrub(c.get("reason")),
                        c.get("estimated_cost_usd"),
                        now,
                        expires,
                    ),
                )
                for c in calls
            ]
        )

    async def batch(self, session_id: str, batch_id: str) -> list[PendingCall]:
        rows = await self.store.fetchall(
            "SELECT * FROM approvals WHERE session_id=? AND batch_id=? ORDER BY created_at, rowid",
            (session_id, batch_id),
        )
        return [_row_to_call(r) for r in rows]

    async def pending(self, session_id: str) -> list[PendingCall]:
        rows = await self.store.fetchall(
            "SELECT * FROM approvals WHERE session_id=? AND status='pending' ORDER BY rowid",
            (session_id,),
        )
        return [_row_to_call(r) for r in rows]

    async def count_pending(self) -> int:
        """Calls waiting for a decision across every session (the ops endpoint's gauge)."""
        row = await self.store.fetchone("SELECT COUNT(*) FROM approvals WHERE status='pending'")
        return int(row[0]) if row else 0

    async def get(self, session_id: str, tool_call_id: str) -> PendingCall | None:
        row = await self.store.fetchone(
            "SELECT * FROM approvals WHERE session_id=? AND tool_call_id=?",
            (session_id, tool_call_id),
        )
        return _row_to_call(row) if row else None

    async def claim(
        self,
        session_id: str,
        approvals: list[ToolApproval],
        decided_by: str | None,
        *,
        complete_batch: bool,
        batch_id: str | None = None,
        status_override: str | None = None,
    ) -> ClaimResult:
        """Atomically record decisions for pending calls.

        ``complete_batch`` → pending calls of the batch not mentioned are rejected (the engine's
        exec_approval semantics); otherwise only the named calls are decided (per-call buttons).
        """
        if not approvals and not (complete_batch and batch_id):
            return ClaimResult(False, "no decisions given")
        ids = [a.tool_call_id for a in approvals]
        known = {
            c.tool_call_id: c for c in [await self.get(session_id, i) for i in ids] if c is not None
        }
        for a in approvals:
            call = known.get(a.tool_call_id)
            if call is None:
                return ClaimResult(
                    False, f"there is no approval request for call {a.tool_call_id} in this session"
                )
            if batch_id and call.batch_id != batch_id:
                return ClaimResult(False, "this approval card belongs to an earlier request")
            if call.status != PENDING:
                return _already_decided(call.status, call.decided_by, call.batch_id)
            if status_override is None and _is_past(call.expires_at):
                return _expired(call.expires_at, call.batch_id)
            if a.args_hash and a.args_hash != call.args_hash:
                return ClaimResult(
                    False,
                    "the call's arguments changed since this card was shown; nothing was run",
                    batch_id=call.batch_id,
                )
        target_batch = batch_id or (known[ids[0]].batch_id if ids else None)
        now = time.time()
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for a in approvals:
            status = status_override or (APPROVED if a.approved else REJECTED)
            overrides = {
                k: v
                for k, v in (("edited_script", a.edited_script), ("namespace", a.namespace))
                if v
            }
            statements.append(
                (
                    "UPDATE approvals SET status=?, decided_by=?, decided_at=?, feedback=?,"
                    " overrides=? WHERE session_id=? AND tool_call_id=? AND status='pending'",
                    (
                        status,
                        decided_by,
                        now,
                        scrub(a.feedback),
                        json.dumps(scrub(overrides)),
                        session_id,
                        a.tool_call_id,
                    ),
                )
            )
        if complete_batch and target_batch:
            statements.append(
                (
                    "UPDATE approvals SET status=?, decided_by=?, decided_at=? WHERE session_id=?"
                    " AND batch_id=? AND status='pending'",
                    (status_override or REJECTED, decided_by, now, session_id, target_batch),
                )
            )
        # Re-check inside one transaction: the first writer wins, the second sees no pending,
        # and a click that lands after the deadline is refused even if the sweep is late.
        async with self.store.atomic() as db:
            for a in approvals:
                async with db.execute(
                    "SELECT status, decided_by, expires_at FROM approvals"
                    " WHERE session_id=? AND tool_call_id=?",
                    (session_id, a.tool_call_id),
                ) as cur:
                    row = await cur.fetchone()
                if row is None or row["status"] != PENDING:
                    by = row["decided_by"] if row else None
                    st = row["status"] if row else None
                    return _already_decided(st, by, target_batch)
                if status_override is None and _is_past(row["expires_at"]):
                    return _expired(row["expires_at"], target_batch)
            if not approvals:  # "decide the rest": there must be a rest, or it was decided
                async with db.execute(
                    "SELECT status, decided_by FROM approvals WHERE session_id=? AND batch_id=?"
                    " ORDER BY status='pending' DESC, decided_at",
                    (session_id, target_batch),
                ) as cur:
                    first = await cur.fetchone()
                if first is None or first["status"] != PENDING:
                    return _already_decided(
                        first["status"] if first else None,
                        first["decided_by"] if first else None,
                        target_batch,
                    )
            for sql, params in statements:
                await db.execute(sql, params)
        remaining = await self.store.fetchone(
            "SELECT COUNT(*) FROM approvals WHERE session_id=? AND batch_id=? AND status='pending'",
            (session_id, target_batch),
        )
        return ClaimResult(
            True,
            batch_id=target_batch,
            batch_complete=bool(remaining is not None and remaining[0] == 0),
        )

    async def abandon_pending(self, session_id: str) -> list[PendingCall]:
        calls = await self.pending(session_id)
        if calls:
            await self.store.execute(
                "UPDATE approvals SET status='abandoned', decided_at=? WHERE session_id=?"
                " AND status='pending'",
                (time.time(), session_id),
            )
        return calls

    async def expire_due(self, now: float | None = None) -> list[tuple[str, str]]:
        """Mark overdue pending calls expired. Returns (session_id, batch_id) pairs touched."""
        now = now or time.time()
        rows = await self.store.fetchall(
            "SELECT DISTINCT session_id, batch_id FROM approvals WHERE status='pending'"
            " AND expires_at IS NOT NULL AND expires_at<=?",
            (now,),
        )
        if rows:
            await self.store.execute(
                "UPDATE approvals SET status=?, decided_by=?, decided_at=?"
                " WHERE status='pending' AND expires_at IS NOT NULL AND expires_at<=?",
                (EXPIRED, DECIDED_BY_SYSTEM, now, now),
            )
        return [(r["session_id"], r["batch_id"]) for r in rows]

    async def next_expiry(self) -> float | None:
        row = await self.store.fetchone(
            "SELECT MIN(expires_at) FROM approvals WHERE status='pending' AND expires_at IS NOT NULL"
        )
        return float(row[0]) if row and row[0] is not None else None
