"""Engine events of a conversation → the thread: the progress message while a turn runs, then
the answer, an error, or "stopped"; notices for compaction, undo and setting changes.

Each handler renders one event type (the table is :data:`bot.renderer.handlers.HANDLERS`) and
returns True when the thread's render state changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.conversation import notices
from bot.conversation.answers import plan_answer
from bot.conversation.turns import (
    WORKING_STATUS,
    edit_progress,
    end_turn,
    ensure_progress,
    show_progress,
    stopped_by,
)
from bot.renderer.output import settle
from bot.renderer.state import DONE, FAILED, STOPPED, ToolLine, TurnState, key_argument
from bot.slack.sender import HIGH

if TYPE_CHECKING:
    from agent_core.events import Event
    from bot.renderer.context import RenderContext
    from bot.slack.threads import ThreadRecord

NOTE_CHARS = 200
# tool_state_change states the progress message shows (others are ignored).
TOOL_STATES = frozenset({"approved", "rejected", "cancelled", "abandoned", "expired", "running"})


async def on_processing(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    meta = ev.data.get("meta") or {}
    user_ts = meta.get("slack_ts") or rec.state.last_user_ts
    current = rec.state.turn
    if current is not None and current.active and current.seq < ev.seq and not meta.get("slack_ts"):
        return False  # the continuation of a turn begun by an approval: keep it
    if current is not None and current.active:
        await settle(end_turn(ctx, rec, ev, DONE))
    turn = TurnState(seq=ev.seq, started_at=ev.ts, user_ts=user_ts)
    rec.state.turn = turn
    rec.state.last_user_ts = user_ts
    if meta.get("queued") and user_ts:
        reactions = ctx.settings.reactions
        ctx.out.react(rec, user_ts, remove=reactions.queued, add=reactions.received)
    # The status line, like the progress message, waits for the progress delay (on_tick): a
    # turn answered before it gains nothing from a status the answer clears at once — the
    # received reaction already says the message is being worked on (issue 18).
    if ctx.settings.progress_delay_s <= 0:
        if ctx.live(ev):
            ctx.out.set_status(rec, WORKING_STATUS)
        await ensure_progress(ctx, rec)
    elif ctx.live(ev):
        ctx.schedule_tick(rec, turn)
    return True


async def on_tool_call(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    turn = rec.state.turn
    if turn is None or not turn.active:
        return False
    d = ev.data
    tcid = str(d.get("tool_call_id") or f"seq{ev.seq}")
    if turn.tool(tcid) is None:
        key = key_argument(str(d.get("tool")), d.get("arguments"), d.get("key_argument"))
        turn.tools.append(ToolLine(id=tcid, tool=str(d.get("tool") or "?"), key=key))
    await show_progress(ctx, rec)
    return True


def _tool_line(rec: ThreadRecord, ev: Event) -> ToolLine | None:
    """The progress message's line for the event's tool call, if the turn shows it."""
    turn = rec.state.turn
    return turn.tool(str(ev.data.get("tool_call_id"))) if turn else None


async def on_tool_output(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    line = _tool_line(rec, ev)
    if line is None:
        return False
    line.state = "ok" if ev.data.get("success") else "failed"
    edit_progress(ctx, rec)
    return True


async def on_tool_state_change(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    line = _tool_line(rec, ev)
    state = str(ev.data.get("state"))
    if line is None or state not in TOOL_STATES or line.state in ("ok", "failed"):
        return False
    line.state = state
    edit_progress(ctx, rec)
    return True


async def on_tool_log(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    turn = rec.state.turn
    if turn is None or not turn.active:
        return False
    tool = str(ev.data.get("tool") or "")
    text = " ".join(str(ev.data.get("log") or "").split())[:NOTE_CHARS]
    turn.note = f"{tool}: {text}" if tool and tool != "system" else text
    edit_progress(ctx, rec)
    return False  # the note is cosmetic: not worth a state write per log line


async def on_assistant_message(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    turn = rec.state.turn
    if turn is None or not turn.active or not turn.progress_ts:
        return False
    text = " ".join(str(ev.data.get("content") or "").split())
    if text:
        turn.note = text[:NOTE_CHARS] + ("…" if len(text) > NOTE_CHARS else "")
        edit_progress(ctx, rec)
    return False


async def on_plan_update(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    plan = [p for p in ev.data.get("plan") or [] if isinstance(p, dict)]
    rec.state.plan = plan
    turn = rec.state.turn
    if turn is None or not turn.active:
        return True
    turn.plan = plan
    await show_progress(ctx, rec)
    return True


async def on_turn_complete(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    final_edit = end_turn(ctx, rec, ev, DONE)
    settings = ctx.settings
    plan = plan_answer(
        str(ev.data.get("final_response") or ""),
        message_chars=settings.message_chars,
        upload_threshold_chars=settings.upload_threshold_chars,
        preview_chars=settings.preview_chars,
    )
    for i, payload in enumerate(plan.messages):
        await ctx.out.post_once(rec, ev.seq, f"answer:{i}", payload, priority=HIGH)
    if plan.file_name and plan.file_content:
        await ctx.out.upload_once(
            rec, ev.seq, "answer:file", plan.file_name, plan.file_content, "Full answer"
        )
    if not plan.messages and ctx.live(ev):
        ctx.out.set_status(rec, "")
    await settle(final_edit)
    return True


async def on_error(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    final_edit = end_turn(ctx, rec, ev, FAILED)
    payload = notices.error_payload(str(ev.data.get("error") or ""), ev.data.get("kind"))
    await ctx.out.post_once(rec, ev.seq, "error", payload, priority=HIGH)
    await settle(final_edit)
    return True


async def on_interrupted(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    turn = rec.state.turn
    had_progress = bool(turn and turn.active and turn.progress_ts)
    final_edit = end_turn(ctx, rec, ev, STOPPED)
    if not had_progress:
        payload = notices.stopped_payload(stopped_by(ev))
        await ctx.out.post_once(rec, ev.seq, "stopped", payload, priority=HIGH)
    elif ctx.live(ev):
        ctx.out.set_status(rec, "")
    await settle(final_edit)
    return True


async def on_session_terminated(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    final_edit = end_turn(ctx, rec, ev, FAILED)
    reason = ev.data.get("user_message") or ev.data.get("error") or ev.data.get("reason")
    payload = notices.error_payload(str(reason), "terminated")
    await ctx.out.post_once(rec, ev.seq, "terminated", payload)
    await settle(final_edit)
    return True


async def on_compacted(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    turn = rec.state.turn
    if turn is not None and turn.active:
        turn.note = "Compacted the conversation to free context."
        edit_progress(ctx, rec)
        return False
    await ctx.out.post_once(rec, ev.seq, "notice", notices.compacted_payload(ev.data))
    return True


async def on_undo_complete(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    rec.state.plan = []
    await ctx.out.post_once(rec, ev.seq, "notice", notices.undo_payload(ev.data))
    return True


async def on_session_update(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    payload = notices.session_update_payload(ev.data)
    if payload is None:
        return False
    await ctx.out.post_once(rec, ev.seq, "notice", payload)
    return True
