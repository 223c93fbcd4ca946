"""The approval card: what a gated call will do, what it may cost, and who may decide.

Rendered from the ``approval_required`` payload plus the calls' current decisions (read from
the engine's approval book), so the same function draws the live card, the card after one of
several calls was decided, and the final card after a restart. Buttons carry the session,
batch, call and argument hash: a click needs no in-memory state to be honoured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from agent_core.pricing import format_usd
from bot.slack.format import (
    MAX_FIELD,
    MAX_SECTION,
    Payload,
    button_value,
    code_inline,
    esc,
    slack_date,
    to_dicts,
    user_ref,
)

ACTION_PREFIX = "ml_approval:"
APPROVE = "approve"
REJECT = "reject"
EDIT = "edit"
APPROVE_ALL = "approve_all"
REJECT_ALL = "reject_all"
MAX_DETAILED_CALLS = 8
EDITABLE_SCRIPT_MAX = 3_000  # plain_text_input's max_length

_STATUS_TEXT = {
    "approved": ":white_check_mark: Approved",
    "rejected": ":x: Rejected",
    "expired": ":hourglass: Expired",
    "abandoned": ":leftwards_arrow_with_hook: Skipped",
    "pending": ":lock: Pending",
}


@dataclass
class Decision:
    """The state of one call on the card."""

    status: str = "pending"
    decided_by: str | None = None
    decided_at: float | None = None
    feedback: str | None = None
    edited: bool = False


def action_id(kind: str, index: int | None = None) -> str:
    return f"{ACTION_PREFIX}{kind}" + (f":{index}" if index is not None else "")


def parse_action_id(value: str) -> tuple[str, int | None]:
    rest = value.removeprefix(ACTION_PREFIX)
    kind, _, idx = rest.partition(":")
    return kind, int(idx) if idx.isdigit() else None


def script_of(call: dict[str, Any]) -> str | None:
    args = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
    script = args.get("script")
    if isinstance(script, str) and script.strip():
        return script
    if call.get("tool") == "bash" and isinstance(args.get("command"), str):
        return args["command"]
    return None


def can_edit_script(call: dict[str, Any]) -> bool:
    script = script_of(call)
    return (
        call.get("tool") in ("hf_jobs", "bash")
        and script is not None
        and len(script) <= EDITABLE_SCRIPT_MAX
    )


def needs_script_file(call: dict[str, Any], preview_lines: int) -> bool:
    """True when the card shows only part of the script (the rest goes up as a file)."""
    script = script_of(call)
    if script is None:
        return False
    return len(script.splitlines()) > preview_lines or len(script) > 2_000


def _fields(call: dict[str, Any]) -> list[str]:
    args = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
    out: list[str] = []
    if call.get("tool") == "hf_jobs":
        flavor = args.get("hardware_flavor") or args.get("flavor") or args.get("hardware")
        if flavor:
            out.append(f"*Hardware*\n{code_inline(flavor, 40)}")
        if args.get("timeout") not in (None, ""):
            out.append(f"*Timeout*\n{code_inline(args['timeout'], 40)}")
        if args.get("image"):
            out.append(f"*Image*\n{code_inline(args['image'], 80)}")
        if args.get("namespace"):
            out.append(f"*Namespace*\n{code_inline(args['namespace'], 60)}")
        if args.get("schedule"):
            out.append(f"*Schedule*\n{code_inline(args['schedule'], 60)}")
        deps = args.get("dependencies")
        if isinstance(deps, list) and deps:
            out.append(f"*Dependencies*\n{code_inline(', '.join(map(str, deps)), 120)}")
        cmd = args.get("command")
        if isinstance(cmd, list) and cmd:
            out.append(f"*Command*\n{code_inline(' '.join(map(str, cmd)), 200)}")
        env = args.get("env")
        if isinstance(env, dict) and env:
            out.append(f"*Env vars*\n{code_inline(', '.join(sorted(map(str, env))), 200)}")
    else:
        shown = 0
        for key, value in args.items():
            if key in ("script",) or value in (None, "", [], {}):
                continue
            out.append(f"*{esc(key)}*\n{code_inline(value, 200)}")
            shown += 1
            if shown >= 6:
                break
    cost = call.get("estimated_cost_usd")
    if cost is not None or call.get("billable"):
        out.append(f"*Estimated cost*\n{format_usd(cost)} (worst case)")
    return [f[:MAX_FIELD] for f in out][:10]


def _script_preview(call: dict[str, Any], preview_lines: int) -> str | None:
    script = script_of(call)
    if script is None:
        return None
    lines = script.splitlines()
    shown = "\n".join(lines[:preview_lines])[:2_000]
    shown = esc(shown.replace("```", "ˋˋˋ"))
    text = f"```\n{shown}\n```"
    if needs_script_file(call, preview_lines):
        text += (
            f"\n_First {min(preview_lines, len(lines))} of {len(lines)} lines — "
            "the full script is attached below the card._"
        )
    return text[:MAX_SECTION]


def _decision_line(d: Decision) -> str:
    head = _STATUS_TEXT.get(d.status, esc(d.status))
    if d.status in ("approved", "rejected") and d.decided_by:
        head += f" by {user_ref(d.decided_by)}"
    if d.decided_at:
        head += f" · {slack_date(d.decided_at, '{time}')}"
    if d.edited:
        head += " · _script edited_"
    if d.feedback and d.status == "rejected":
        reason = " ".join(d.feedback.split())[:300]
        head += f"\n> {esc(reason)}"
    return head


def approval_card(
    request: dict[str, Any],
    *,
    session_id: str,
    decisions: dict[str, Decision] | None = None,
    outcome: str | None = None,
    preview_lines: int = 15,
    now: float | None = None,
) -> Payload:
    """The card for one ``approval_required`` batch (pure; ``outcome`` None → still open)."""
    now = time.time() if now is None else now
    calls: list[dict[str, Any]] = list(request.get("tools") or [])
    decisions = decisions or {}
    batch_id = str(request.get("batch_id") or "")
    requester = request.get("requester")
    states = [decisions.get(str(c.get("tool_call_id")), Decision()) for c in calls]
    expires_at = request.get("expires_at")
    expired_now = expires_at is not None and float(expires_at) <= now
    closed = outcome is not None or all(s.status != "pending" for s in states)

    n = len(calls)
    if not closed:
        title = (
            f":lock: *Approval needed* — {n} call{'s' if n != 1 else ''} "
            f"for {user_ref(requester)}'s request"
        )
    elif outcome == "expired" or (
        expired_now and all(s.status in ("pending", "expired") for s in states)
    ):
        title = ":hourglass: *Approval expired* — nothing was run"
    elif outcome == "abandoned":
        title = ":leftwards_arrow_with_hook: *Approval skipped* — the conversation moved on"
    elif all(s.status == "approved" for s in states):
        title = ":white_check_mark: *Approved*"
    elif all(s.status == "rejected" for s in states):
        title = ":x: *Rejected*"
    else:
        title = ":ballot_box_with_check: *Decided*"
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=title))]

    for i, (call, state) in enumerate(zip(calls, states, strict=True)):
        if i >= MAX_DETAILED_CALLS:
            rest = n - MAX_DETAILED_CALLS
            blocks.append(
                ContextBlock(
                    elements=[
                        MarkdownTextObject(
                            text=f"… and {rest} more call(s): use *Approve all* or *Reject all*."
                        )
                    ]
                )
            )
            break
        args = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
        op = args.get("operation")
        head = f"*{i + 1}. {esc(call.get('tool', '?'))}*" + (
            f" · {code_inline(op, 40)}" if op else ""
        )
        if call.get("reason"):
            head += f" — {esc(call['reason'])[:300]}"
        if call.get("destructive"):
            head += "\n:warning: _Destructive: this cannot be undone._"
        if call.get("auto_approval_blocked") and call.get("block_reason"):
            head += f"\n_Not auto-approved: {esc(call['block_reason'])[:300]}_"
        fields = _fields(call)
        section = SectionBlock(
            text=MarkdownTextObject(text=head[:MAX_SECTION]),
            fields=[MarkdownTextObject(text=f) for f in fields] or None,
        )
        blocks.append(section)
        preview = _script_preview(call, preview_lines)
        if preview and not closed:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=preview)))
        if state.status != "pending" or closed:
            shown = state if state.status != "pending" else Decision(status=outcome or "expired")
            blocks.append(
                ContextBlock(
                    elements=[MarkdownTextObject(text=_decision_line(shown)[:MAX_SECTION])]
                )
            )
        else:
            value = {
                "s": session_id,
                "b": batch_id,
                "c": call.get("tool_call_id"),
                "h": call.get("args_hash"),
            }
            elements = [
                ButtonElement(
                    text="Approve",
                    action_id=action_id(APPROVE, i),
                    value=button_value(value),
                    style="primary",
                ),
                ButtonElement(
                    text="Reject…",
                    action_id=action_id(REJECT, i),
                    value=button_value(value),
                    style="danger",
                ),
            ]
            if can_edit_script(call):
                elements.append(
                    ButtonElement(
                        text="Edit script…", action_id=action_id(EDIT, i), value=button_value(value)
                    )
                )
            blocks.append(ActionsBlock(block_id=f"approval_call_{i}", elements=elements))

    pending = sum(1 for s in states if s.status == "pending")
    if not closed and pending > 1:
        value = {"s": session_id, "b": batch_id}
        blocks.append(
            ActionsBlock(
                block_id="approval_all",
                elements=[
                    ButtonElement(
                        text=f"Approve all ({pending})",
                        action_id=action_id(APPROVE_ALL),
                        value=button_value(value),
                        style="primary",
                    ),
                    ButtonElement(
                        text="Reject all…",
                        action_id=action_id(REJECT_ALL),
                        value=button_value(value),
                        style="danger",
                    ),
                ],
            )
        )
    footer: list[str] = []
    if not closed:
        footer.append(f"Only {user_ref(requester)} or a configured approver can decide")
        if expires_at:
            footer.append(f"expires {slack_date(float(expires_at))}")
        budget = request.get("remaining_budget_usd")
        if budget is not None:
            footer.append(f"YOLO budget left {format_usd(budget)}")
    if footer:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(footer))]))
    text = title.replace("*", "")
    return Payload(text=text, blocks=to_dicts(blocks))
