"""Where approvals are rendered: the card posted on ``approval_required``, redrawn after each
decision and on ``approval_resolved`` — always by the renderer's worker for that thread, the
card's one writer, from durable facts (:func:`bot.approvals.current_card.current_card`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.approvals.card import needs_script_file, script_of
from bot.approvals.current_card import current_card, find_request
from bot.conversation.turns import end_turn, ensure_progress
from bot.renderer.output import settle
from bot.renderer.state import WAITING, ToolLine, TurnState
from bot.slack.sender import HIGH

if TYPE_CHECKING:
    from agent_core.events import Event
    from bot.renderer.context import RenderContext
    from bot.slack.format import Payload
    from bot.slack.threads import ThreadRecord

CARD_PART = "card"
REDRAW_OUTCOMES = frozenset({"expired", "abandoned"})  # shown on the card as they are


async def _card(
    ctx: RenderContext,
    rec: ThreadRecord,
    batch_id: str,
    *,
    request: dict[str, Any] | None = None,
    outcome: str | None = None,
) -> Payload | None:
    """The batch's card from durable facts (the request event, the stored decisions)."""
    return await current_card(
        ctx.store,
        ctx.approvals,
        rec.session_id,
        batch_id,
        request=request,
        outcome=outcome,
        preview_lines=ctx.settings.script_preview_lines,
    )


async def on_approval_required(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    final_edit = end_turn(ctx, rec, ev, WAITING)
    batch_id = str(ev.data.get("batch_id") or "")
    card = await _card(ctx, rec, batch_id, request=ev.data)
    if card is None:
        return False
    ts = await ctx.out.post_once(rec, ev.seq, CARD_PART, card, priority=HIGH)
    rec.state.cards[batch_id] = {"seq": ev.seq, "ts": ts}
    await ctx.threads.save(rec)  # clicks may arrive now; the card must be findable
    for call in ev.data.get("tools") or []:
        script = script_of(call)
        if script and needs_script_file(call, ctx.settings.script_preview_lines):
            name = "script.py" if call.get("tool") == "hf_jobs" else "command.sh"
            await ctx.out.upload_once(
                rec,
                ev.seq,
                f"script:{call.get('tool_call_id')}",
                name,
                script,
                f"Full script for {call.get('tool')}",
            )
    await settle(final_edit)
    return True


async def redraw_card(
    ctx: RenderContext, rec: ThreadRecord, batch_id: str, outcome: str | None = None
) -> None:
    """Edit the batch's card to show its decisions as stored now (after a click, or when the
    batch resolved). A card that was never posted is left alone."""
    ts = (rec.state.cards.get(batch_id) or {}).get("ts")
    if not ts:
        source = await find_request(ctx.store, rec.session_id, batch_id)
        entry = await ctx.ledger.get(rec.session_id, source.seq, CARD_PART) if source else None
        ts = entry.ts if entry else None
    if not ts:
        return
    card = await _card(ctx, rec, batch_id, outcome=outcome if outcome in REDRAW_OUTCOMES else None)
    if card is not None:
        await settle(ctx.out.edit(rec, ts, card, final=True), "approval card edit")


async def on_approval_resolved(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    outcome = ev.data.get("outcome")
    await redraw_card(ctx, rec, str(ev.data.get("batch_id") or ""), outcome)
    approved = [d for d in ev.data.get("decisions") or [] if d.get("status") == "approved"]
    if outcome == "decided" and approved:
        # The approved calls run now, before the engine's next `processing`: show them in a
        # progress message (with its Stop button) as the continuation of the turn.
        turn = TurnState(seq=ev.seq, started_at=ev.ts, user_ts=rec.state.last_user_ts)
        turn.tools = [
            ToolLine(id=str(d.get("tool_call_id")), tool=str(d.get("tool") or "?"), state="running")
            for d in approved
        ]
        turn.plan = list(rec.state.plan)
        rec.state.turn = turn
        await ensure_progress(ctx, rec)
    return True
