"""The one progress message of a turn: status, the plan, tool calls compactly, a Stop button.

It is edited in place while the turn runs and collapsed to a one-line summary when the turn
ends, so a finished thread reads as question → (short trail of what was done) → answer.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from agent_core.durations import format_duration
from bot.renderer.state import DONE, FAILED, STOPPED, WAITING, WORKING, TurnState
from bot.slack.format import (
    MAX_SECTION,
    Payload,
    button_value,
    code_inline,
    esc,
    to_dicts,
    user_ref,
)

STOP_ACTION = "ml_stop"
MAX_TOOL_LINES = 12
MAX_PLAN_ITEMS = 15

_TOOL_MARK = {
    "running": ":hourglass_flowing_sand:",
    "ok": ":white_check_mark:",
    "failed": ":x:",
    "approval": ":lock:",
    "approved": ":unlock:",
    "rejected": ":no_entry_sign:",
    "cancelled": ":black_square_for_stop:",
    "abandoned": ":leftwards_arrow_with_hook:",
    "expired": ":hourglass:",
}
_PLAN_MARK = {"completed": ":ballot_box_with_check:", "in_progress": ":arrow_forward:"}


def _headline(turn: TurnState, now: float) -> str:
    elapsed = format_duration((turn.ended_at or now) - turn.started_at)
    calls = len(turn.tools)
    count = f" · {calls} tool call{'s' if calls != 1 else ''}" if calls else ""
    if turn.status == WORKING:
        return f":gear: *Working on it…* ({elapsed}{count})"
    if turn.status == WAITING:
        return f":lock: *Waiting for approval* ({elapsed}{count})"
    if turn.status == DONE:
        return f":white_check_mark: Done in {elapsed}{count}"
    if turn.status == STOPPED:
        who = f" by {user_ref(turn.stopped_by)}" if turn.stopped_by else ""
        return f":octagonal_sign: Stopped{who} after {elapsed}{count}"
    if turn.status == FAILED:
        return f":warning: Failed after {elapsed}{count}"
    return f"{esc(turn.status)} ({elapsed})"


def tool_lines(turn: TurnState, limit: int = MAX_TOOL_LINES) -> str:
    shown = turn.tools[-limit:]
    lines = []
    hidden = len(turn.tools) - len(shown)
    if hidden:
        lines.append(f"_… {hidden} earlier call{'s' if hidden != 1 else ''}_")
    for line in shown:
        mark = _TOOL_MARK.get(line.state, ":small_blue_diamond:")
        key = f" {code_inline(line.key, 60)}" if line.key else ""
        lines.append(f"{mark} *{esc(line.tool)}*{key}")
    return "\n".join(lines)


def plan_lines(plan: list[dict], limit: int = MAX_PLAN_ITEMS) -> str:
    lines = []
    for item in plan[:limit]:
        mark = _PLAN_MARK.get(str(item.get("status")), ":white_square:")
        content = " ".join(str(item.get("content", "")).split())[:150]
        lines.append(f"{mark} {esc(content)}")
    if len(plan) > limit:
        lines.append(f"_… and {len(plan) - limit} more_")
    return "\n".join(lines)


def progress_payload(turn: TurnState, *, session_id: str, now: float) -> Payload:
    """The progress message for ``turn`` at time ``now`` (pure)."""
    headline = _headline(turn, now)
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=headline))]
    if turn.status in (WORKING, WAITING):
        if turn.plan:
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(text=("*Plan*\n" + plan_lines(turn.plan))[:MAX_SECTION])
                )
            )
        if turn.tools:
            blocks.append(
                SectionBlock(text=MarkdownTextObject(text=tool_lines(turn)[:MAX_SECTION]))
            )
        if turn.note:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=esc(turn.note)[:1_000])]))
    elif turn.tools:
        # Collapsed: keep the trail of tools, short.
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=tool_lines(turn, limit=6)[:MAX_SECTION])]
            )
        )
    if turn.status == WORKING:
        blocks.append(
            ActionsBlock(
                block_id="progress_actions",
                elements=[
                    ButtonElement(
                        text="Stop",
                        action_id=STOP_ACTION,
                        value=button_value({"s": session_id}),
                        style="danger",
                    )
                ],
            )
        )
    text = headline.replace("*", "")
    return Payload(text=text, blocks=to_dicts(blocks))
