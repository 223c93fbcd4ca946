"""Approval clicks and modals: authorise, claim (first valid decision wins), redraw the card.

Everything a click needs is in the button's value (session, batch, call, argument hash) and
the store, so cards keep working after a restart. Claiming is one SQLite transaction in the
engine's approval book — fast enough to answer a click before Slack's 3-second limit — and
the engine runs the decided batch in the session's own queue afterwards.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, SectionBlock
from slack_sdk.models.views import View

from agent_core.approvals import PENDING, PendingCall
from agent_core.events import ToolApproval
from bot.approvals import current_card as cards
from bot.approvals.card import (
    APPROVE,
    APPROVE_ALL,
    EDIT,
    REJECT,
    REJECT_ALL,
    parse_action_id,
    script_of,
)
from bot.slack.format import code_inline, esc, parse_button_value, user_ref

if TYPE_CHECKING:
    from bot.conversation.intake import Gateway

log = logging.getLogger(__name__)

REJECT_VIEW = "ml_reject"
EDIT_VIEW = "ml_edit_script"
REASON_BLOCK = "reason"
SCRIPT_BLOCK = "script"


def _status_word(status: str | None) -> str:
    return {"approved": "approved", "rejected": "rejected", "expired": "expired"}.get(
        status or "", status or "decided"
    )


class ApprovalFlow:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    # ------------------------------------------------------------------ clicks
    async def on_click(self, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        kind, _index = parse_action_id(str(action.get("action_id") or ""))
        value = parse_button_value(action.get("value"))
        user = (body.get("user") or {}).get("id") or ""
        sid, batch_id = str(value.get("s") or ""), str(value.get("b") or "")
        channel = (body.get("container") or {}).get("channel_id") or (
            body.get("channel") or {}
        ).get("id")
        message_ts = (body.get("container") or {}).get("message_ts")
        if not sid or not batch_id:
            await self._tell(respond, "This button is malformed; nothing was done.")
            return
        approvals = self.gw.manager.approvals
        if kind in (APPROVE_ALL, REJECT_ALL):
            calls = [c for c in await approvals.batch(sid, batch_id) if c.status == PENDING]
            if not calls:
                await self._tell(respond, await self._already_text(sid, batch_id, None))
                return
        else:
            call = await approvals.get(sid, str(value.get("c") or ""))
            if call is None or call.batch_id != batch_id:
                await self._tell(
                    respond, "This approval request is no longer known; nothing was done."
                )
                return
            if call.status != PENDING:
                await self._tell(respond, self._already(call))
                return
            calls = [call]
        for call in calls:
            if not await self.gw.access.may_decide(
                user, requester=call.requester, approval_class=call.approval_class
            ):
                who = self.gw.access.describe_deciders(call.approval_class, call.requester)
                await self._tell(
                    respond,
                    f":no_entry: You're not allowed to decide this ({esc(call.tool)}, "
                    f"{esc(call.approval_class or 'gated')}). Only {who} can.",
                )
                return
        meta = {"s": sid, "b": batch_id, "ch": channel, "ts": message_ts}
        if kind == APPROVE:
            call = calls[0]
            await self._claim(
                sid,
                batch_id,
                [
                    ToolApproval(
                        tool_call_id=call.tool_call_id, approved=True, args_hash=value.get("h")
                    )
                ],
                user,
                complete=False,
                respond=respond,
                channel=channel,
                message_ts=message_ts,
            )
        elif kind == APPROVE_ALL:
            await self._claim(
                sid,
                batch_id,
                [
                    ToolApproval(tool_call_id=c.tool_call_id, approved=True, args_hash=c.args_hash)
                    for c in calls
                ],
                user,
                complete=True,
                respond=respond,
                channel=channel,
                message_ts=message_ts,
            )
        elif kind in (REJECT, REJECT_ALL):
            meta.update({"c": value.get("c"), "h": value.get("h"), "all": kind == REJECT_ALL})
            await self._open(body, self._reject_view(meta, calls), respond)
        elif kind == EDIT:
            meta.update({"c": value.get("c"), "h": value.get("h")})
            await self._open(body, self._edit_view(meta, calls[0]), respond)
        else:
            await self._tell(respond, "Unknown approval action; nothing was done.")

    async def _claim(
        self,
        sid: str,
        batch_id: str,
        decisions: list[ToolApproval],
        user: str,
        *,
        complete: bool,
        respond: Any,
        channel: str | None,
        message_ts: str | None,
    ) -> str | None:
        """Claim decisions; redraw the card. Returns an error text for the user, or None."""
        await self.gw.wait_llm(timeout=2.0)  # a modal must be answered within 3 s
        result = await self.gw.manager.resolve_approvals(
            sid, decisions, decided_by=user, complete_batch=complete, batch_id=batch_id
        )
        if not result.ok:
            text = (
                await self._already_text(sid, batch_id, decisions[0].tool_call_id)
                if result.already_status
                else f"Nothing was done: {esc(result.error or 'unknown error')}."
            )
            if respond is not None:
                await self._tell(respond, text)
            return text
        if channel and message_ts:
            await self.redraw(sid, batch_id, channel, message_ts)
        return None

    async def redraw(self, sid: str, batch_id: str, channel: str, message_ts: str) -> None:
        card = await cards.current_card(
            self.gw.store,
            self.gw.manager.approvals,
            sid,
            batch_id,
            preview_lines=self.gw.settings.script_preview_lines,
        )
        if card is None:
            return
        try:
            await self.gw.sender.edit(
                channel, message_ts, text=card.text, blocks=card.blocks, final=True
            )
        except Exception:
            log.warning("could not redraw the approval card", exc_info=True)

    # ------------------------------------------------------------------ modals
    def _reject_view(self, meta: dict[str, Any], calls: list[PendingCall]) -> View:
        what = (
            f"{len(calls)} calls"
            if meta.get("all")
            else f"*{esc(calls[0].tool)}* {self._op(calls[0])}"
        )
        return View(
            type="modal",
            callback_id=REJECT_VIEW,
            title="Reject",
            submit="Reject",
            close="Cancel",
            private_metadata=json.dumps(meta, separators=(",", ":")),
            blocks=[
                SectionBlock(
                    text=f"Reject {what}? The agent will be told, with your reason if you give one."
                ),
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
            ],
        )

    def _edit_view(self, meta: dict[str, Any], call: PendingCall) -> View:
        script = script_of({"tool": call.tool, "arguments": call.arguments}) or ""
        return View(
            type="modal",
            callback_id=EDIT_VIEW,
            title="Edit and approve",
            submit="Approve",
            close="Cancel",
            private_metadata=json.dumps(meta, separators=(",", ":")),
            blocks=[
                SectionBlock(
                    text=f"Edit the script of *{esc(call.tool)}* {self._op(call)}, then approve it as edited."
                ),
                InputBlock(
                    block_id=SCRIPT_BLOCK,
                    label="Script",
                    element=PlainTextInputElement(
                        action_id="value",
                        multiline=True,
                        initial_value=script[:3_000],
                        max_length=3_000,
                    ),
                ),
            ],
        )

    async def on_reject_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = parse_button_value(view.get("private_metadata"))
        user = (body.get("user") or {}).get("id") or ""
        reason = _input_value(view, REASON_BLOCK) or None
        sid, batch_id = str(meta.get("s") or ""), str(meta.get("b") or "")
        approvals = self.gw.manager.approvals
        if meta.get("all"):
            calls = [c for c in await approvals.batch(sid, batch_id) if c.status == PENDING]
        else:
            one = await approvals.get(sid, str(meta.get("c") or ""))
            calls = [one] if one is not None else []
        error = await self._authorise_submit(user, calls, sid, batch_id, meta.get("c"))
        if error is None:
            decisions = [
                ToolApproval(
                    tool_call_id=c.tool_call_id,
                    approved=False,
                    feedback=reason,
                    args_hash=meta.get("h") if not meta.get("all") else c.args_hash,
                )
                for c in calls
            ]
            error = await self._claim(
                sid,
                batch_id,
                decisions,
                user,
                complete=bool(meta.get("all")),
                respond=None,
                channel=meta.get("ch"),
                message_ts=meta.get("ts"),
            )
        if error:
            await ack(response_action="errors", errors={REASON_BLOCK: _plain(error)})
        else:
            await ack()

    async def on_edit_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = parse_button_value(view.get("private_metadata"))
        user = (body.get("user") or {}).get("id") or ""
        edited = _input_value(view, SCRIPT_BLOCK)
        sid, batch_id = str(meta.get("s") or ""), str(meta.get("b") or "")
        call = await self.gw.manager.approvals.get(sid, str(meta.get("c") or ""))
        calls = [call] if call is not None else []
        error = await self._authorise_submit(user, calls, sid, batch_id, meta.get("c"))
        if error is None and not (edited or "").strip():
            error = "The script cannot be empty; use Reject to refuse the call."
        if error is None and call is not None:
            original = script_of({"tool": call.tool, "arguments": call.arguments}) or ""
            changed = edited if edited != original else None
            error = await self._claim(
                sid,
                batch_id,
                [
                    ToolApproval(
                        tool_call_id=call.tool_call_id,
                        approved=True,
                        edited_script=changed,
                        args_hash=meta.get("h"),
                    )
                ],
                user,
                complete=False,
                respond=None,
                channel=meta.get("ch"),
                message_ts=meta.get("ts"),
            )
        if error:
            await ack(response_action="errors", errors={SCRIPT_BLOCK: _plain(error)})
        else:
            await ack()

    async def _authorise_submit(
        self, user: str, calls: list[PendingCall], sid: str, batch_id: str, tcid: Any
    ) -> str | None:
        if not calls:
            return await self._already_text(sid, batch_id, str(tcid) if tcid else None)
        for call in calls:
            if call.status != PENDING:
                return self._already(call)
            if not await self.gw.access.may_decide(
                user, requester=call.requester, approval_class=call.approval_class
            ):
                return "You're not allowed to decide this."
        return None

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _op(call: PendingCall) -> str:
        op = (call.arguments or {}).get("operation")
        return code_inline(op, 40) if op else ""

    @staticmethod
    def _already(call: PendingCall) -> str:
        if call.status in ("expired",):
            return "This request has expired; nothing was run."
        if call.status == "abandoned":
            return "This request was skipped because the conversation moved on."
        by = f" by {user_ref(call.decided_by)}" if call.decided_by else ""
        return f"Already {_status_word(call.status)}{by}."

    async def _already_text(self, sid: str, batch_id: str, tcid: str | None) -> str:
        approvals = self.gw.manager.approvals
        call = await approvals.get(sid, tcid) if tcid else None
        if call is None:
            decided = [c for c in await approvals.batch(sid, batch_id) if c.status != PENDING]
            call = decided[0] if decided else None
        return self._already(call) if call is not None else "This request was already decided."

    async def _open(self, body: dict[str, Any], view: View, respond: Any) -> None:
        try:
            await self.gw.client.views_open(trigger_id=body.get("trigger_id"), view=view)
        except SlackApiError as exc:
            log.warning("views.open failed: %s", exc.response.get("error"))
            await self._tell(
                respond,
                "I couldn't open the dialog (Slack said: "
                f"{esc(exc.response.get('error'))}); please click again.",
            )

    @staticmethod
    async def _tell(respond: Any, text: str) -> None:
        if respond is None:
            return
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:
            log.warning("could not answer a click", exc_info=True)


def _input_value(view: dict[str, Any], block_id: str) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    for entry in values.values():
        if isinstance(entry, dict) and isinstance(entry.get("value"), str):
            return entry["value"]
    return ""


def _plain(text: str) -> str:
    """Modal errors are plain text: turn <@U1> into @U1."""
    return text.replace("<@", "@").replace(">", "").replace("&lt;", "<").replace("&gt;", ">")[:150]
