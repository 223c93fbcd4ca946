"""A turn's life in the thread: the progress message (posted late, edited as tools run, closed
with the turn's outcome) and the reactions on the user's message."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from agent_core.events import STOPPED_BY_SHUTDOWN
from bot.conversation.progress import progress_payload
from bot.renderer.state import DONE, FAILED, STOPPED, WAITING

WORKING_STATUS = "is working on it…"  # the assistant status line while a turn runs

if TYPE_CHECKING:
    from agent_core.events import Event
    from bot.renderer.context import RenderContext
    from bot.slack.threads import ThreadRecord


async def ensure_progress(ctx: RenderContext, rec: ThreadRecord) -> bool:
    """Post the running turn's progress message if it has none yet; True if posted."""
    turn = rec.state.turn
    if turn is None or turn.progress_ts or not turn.active:
        return False
    payload = progress_payload(turn, session_id=rec.session_id, now=ctx.clock())
    turn.progress_ts = await ctx.out.post_once(rec, turn.seq, "progress", payload)
    return True


def edit_progress(
    ctx: RenderContext, rec: ThreadRecord, *, final: bool = False
) -> asyncio.Future[Any] | None:
    """Redraw the progress message (coalesced by the sender); None if there is none."""
    turn = rec.state.turn
    if turn is None or not turn.progress_ts:
        return None
    payload = progress_payload(turn, session_id=rec.session_id, now=ctx.clock())
    return ctx.out.edit(rec, turn.progress_ts, payload, final=final)


async def show_progress(ctx: RenderContext, rec: ThreadRecord) -> None:
    """Post the progress message, or edit it when it exists."""
    if not await ensure_progress(ctx, rec):
        edit_progress(ctx, rec)


async def on_tick(ctx: RenderContext, rec: ThreadRecord, turn_seq: int) -> bool:
    """The progress delay elapsed: post the message if that turn is still running."""
    turn = rec.state.turn
    if turn is None or turn.seq != turn_seq or not turn.active:
        return False
    ctx.out.set_status(rec, WORKING_STATUS)  # ticks are live: never set while replaying
    return await ensure_progress(ctx, rec)


def stopped_by(event: Event) -> str | None:
    """Who stopped the turn, from the ``interrupted`` event: a user id, ``"restart"`` when the
    bot was shutting down, None when unknown."""
    who = event.data.get("stopped_by")
    if who == STOPPED_BY_SHUTDOWN:
        return "restart"
    return str(who) if who else None


def end_turn(
    ctx: RenderContext, rec: ThreadRecord, event: Event, status: str
) -> asyncio.Future[Any] | None:
    """Close the current turn: final progress edit (returned, not awaited) and reactions."""
    turn = rec.state.turn
    if turn is None or not turn.active:
        return None
    turn.status = status
    turn.ended_at = event.ts
    if status == STOPPED:
        turn.stopped_by = stopped_by(event)
    # The received reaction stays: "seen" plus the outcome mark, one call instead of two
    # (issue 18: only the reactions that add information).
    reactions = ctx.settings.reactions
    final_reaction = {
        DONE: reactions.done,
        FAILED: reactions.failed,
        STOPPED: reactions.stopped,
    }.get(status, "")
    if status != WAITING and turn.user_ts and final_reaction:
        ctx.out.react(rec, turn.user_ts, add=final_reaction)
    return edit_progress(ctx, rec, final=True)
