"""The two dialogs an approval card opens: Reject (with an optional reason) and Edit the
script (then approve it as edited). Built with slack_sdk's Block Kit models; what was clicked
travels in ``private_metadata``, so a submission needs no memory of the click."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, SectionBlock
from slack_sdk.models.views import View

from agent_core.approvals import PendingCall
from bot.approvals.card import EDITABLE_SCRIPT_MAX, script_of
from bot.slack.format import code_inline, esc

REJECT_VIEW = "ml_reject"
EDIT_VIEW = "ml_edit_script"
REASON_BLOCK = "reason"
SCRIPT_BLOCK = "script"
MAX_MODAL_ERROR = 150  # Slack shows at most this much of a field error


def _modal(
    callback_id: str, title: str, submit: str, meta: dict[str, Any], prompt: str, field: InputBlock
) -> View:
    return View(
        type="modal",
        callback_id=callback_id,
        title=title,
        submit=submit,
        close="Cancel",
        private_metadata=json.dumps(meta, separators=(",", ":")),
        blocks=[SectionBlock(text=prompt), field],
    )


def operation_of(call: PendingCall) -> str:
    """The call's ``operation`` argument as inline code ("" when it has none)."""
    op = (call.arguments or {}).get("operation")
    return code_inline(op, 40) if op else ""


def reject_view(meta: dict[str, Any], calls: list[PendingCall]) -> View:
    what = (
        f"{len(calls)} calls"
        if meta.get("all")
        else f"*{esc(calls[0].tool)}* {operation_of(calls[0])}"
    )
    return _modal(
        REJECT_VIEW,
        "Reject",
        "Reject",
        meta,
        f"Reject {what}? The agent will be told, with your reason if you give one.",
        InputBlock(
            block_id=REASON_BLOCK,
            label="Reason (optional)",
            optional=True,
            element=PlainTextInputElement(
                action_id="value",
                multiline=True,
                max_length=1_000,
                placeholder="e.g. use a smaller GPU, or run the dry-run first",
            ),
        ),
    )


def edit_view(meta: dict[str, Any], call: PendingCall) -> View:
    script = script_of({"tool": call.tool, "arguments": call.arguments}) or ""
    return _modal(
        EDIT_VIEW,
        "Edit and approve",
        "Approve",
        meta,
        f"Edit the script of *{esc(call.tool)}* {operation_of(call)}, then approve it as edited.",
        InputBlock(
            block_id=SCRIPT_BLOCK,
            label="Script",
            element=PlainTextInputElement(
                action_id="value",
                multiline=True,
                initial_value=script[:EDITABLE_SCRIPT_MAX],
                max_length=EDITABLE_SCRIPT_MAX,
            ),
        ),
    )


def input_value(view: dict[str, Any], block_id: str) -> str:
    """What the person typed into the input block ``block_id`` of a submitted view."""
    values = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    for entry in values.values():
        if isinstance(entry, dict) and isinstance(entry.get("value"), str):
            return entry["value"]
    return ""


def plain_error(text: str) -> str:
    """Modal errors are plain text: turn <@U1> into @U1."""
    plain = text.replace("<@", "@").replace(">", "").replace("&lt;", "<").replace("&gt;", ">")
    return plain[:MAX_MODAL_ERROR]
