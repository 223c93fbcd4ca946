"""Approval cards from durable state: the request event plus the approval book's decisions.

The card's one writer (:mod:`bot.approvals.rendering`, in the thread's render worker) draws it
through :func:`current_card` when it is requested, after each click and when the batch
resolves — always from the same stored facts, so a card clicked after a restart needs nothing
from memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_core.approvals import ApprovalBook, PendingCall
from agent_core.store import Store
from bot.approvals.card import Decision, approval_card
from bot.slack.format import Payload


@dataclass
class CardSource:
    seq: int
    request: dict[str, Any]


def decisions_of(calls: list[PendingCall]) -> dict[str, Decision]:
    return {
        c.tool_call_id: Decision(
            status=c.status,
            decided_by=c.decided_by,
            decided_at=c.decided_at,
            feedback=c.feedback,
            edited=bool((c.overrides or {}).get("edited_script")),
        )
        for c in calls
    }


async def find_request(store: Store, session_id: str, batch_id: str) -> CardSource | None:
    """The ``approval_required`` event that announced ``batch_id``."""
    event = await store.find_event(session_id, "approval_required", batch_id=batch_id)
    if event is None:
        return None
    return CardSource(event.seq, event.data)


async def current_card(
    store: Store,
    approvals: ApprovalBook,
    session_id: str,
    batch_id: str,
    *,
    outcome: str | None = None,
    preview_lines: int = 15,
    request: dict[str, Any] | None = None,
) -> Payload | None:
    """The card as it should look now, or None if the batch is unknown."""
    if request is None:
        source = await find_request(store, session_id, batch_id)
        if source is None:
            return None
        request = source.request
    calls = await approvals.batch(session_id, batch_id)
    return approval_card(
        request,
        session_id=session_id,
        decisions=decisions_of(calls),
        outcome=outcome,
        preview_lines=preview_lines,
    )
