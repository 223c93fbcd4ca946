"""Approval clicks and modals: authorise, claim (first valid decision wins), ask for a redraw.

Everything a click needs is in the button's value (session, batch, call, argument hash) and
the store, so cards keep working after a restart. Claiming is one SQLite transaction in the
engine's approval book — fast enough to answer a click before Slack's 3-second limit — and
the engine runs the decided batch in the session's own queue afterwards. The card itself is
drawn by one writer only, the renderer (:meth:`CardRedraws.redraw_card`), from the same
stored facts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from agent_core.approvals import PENDING, PendingCall
from agent_core.events import ToolApproval
from agent_core.redact import scrub
from bot.access import click_in_place
from bot.approvals.card import (
    APPROVE,
    APPROVE_ALL,
    EDIT,
    EDITABLE_SCRIPT_MAX,
    REJECT,
    REJECT_ALL,
    can_edit_script,
    parse_action_id,
    script_of,
)
from bot.approvals.modals import (
    REASON_BLOCK,
    SCRIPT_BLOCK,
    edit_view,
    input_value,
    plain_error,
    reject_view,
)
from bot.slack.format import esc, parse_button_value, user_ref
from bot.slack.replies import tell_clicker

if TYPE_CHECKING:
    from agent_core.approvals import ApprovalBook
    from agent_core.manager import SessionManager
    from bot.access import Access
    from bot.llm_warmup import LlmWarmup

log = logging.getLogger(__name__)


NOT_EDITABLE = (
    f"This script can't be edited in Slack (only scripts up to {EDITABLE_SCRIPT_MAX:,} "
    "characters can); approve it as shown or reject it with a reason."
)


def _editable(call: PendingCall) -> bool:
    """The same rule the card uses to offer *Edit script…* (a whole script, never a cut one)."""
    return can_edit_script({"tool": call.tool, "arguments": call.arguments})


class CardRedraws(Protocol):
    """The approval card's one writer (the renderer), asked to redraw from durable state."""

    def redraw_card(self, session_id: str, batch_id: str) -> None: ...


def _status_word(status: str | None) -> str:
    return {"approved": "approved", "rejected": "rejected", "expired": "expired"}.get(
        status or "", status or "decided"
    )


class ApprovalFlow:
    def __init__(
        self,
        *,
        manager: SessionManager,
        approvals: ApprovalBook,
        access: Access,
        client: Any,
        cards: CardRedraws,
        warmup: LlmWarmup,
    ) -> None:
        self.manager = manager  # resolve_approvals: claim, then run a fully decided batch
        self.approvals = approvals
        self.access = access
        self.client = client  # views.open for the modals
        self.cards = cards
        self.warmup = warmup

    # ------------------------------------------------------------------ clicks
    async def on_click(self, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        kind, _index = parse_action_id(str(action.get("action_id") or ""))
        value = parse_button_value(action.get("value"))
        user = (body.get("user") or {}).get("id") or ""
        sid, batch_id = str(value.get("s") or ""), str(value.get("b") or "")
        per_call = kind not in (APPROVE_ALL, REJECT_ALL)
        if not sid or not batch_id or (per_call and not value.get("h")):
            # a per-call decision binds to the hash of the arguments shown: never without it
            await tell_clicker(respond, "This button is malformed; nothing was done.")
            return
        if not click_in_place(body, sid):
            await tell_clicker(
                respond, "This button belongs to another conversation; nothing was done."
            )
            return
        if kind in (APPROVE_ALL, REJECT_ALL):
            calls = [c for c in await self.approvals.batch(sid, batch_id) if c.status == PENDING]
            if not calls:
                await tell_clicker(respond, await self._already_text(sid, batch_id, None))
                return
        else:
            call = await self.approvals.get(sid, str(value.get("c") or ""))
            if call is None or call.batch_id != batch_id:
                await tell_clicker(
                    respond, "This approval request is no longer known; nothing was done."
                )
                return
            if call.status != PENDING:
                await tell_clicker(respond, self._already(call))
                return
            calls = [call]
        for call in calls:
            if not await self.access.may_decide(
                user, requester=call.requester, approval_class=call.approval_class
            ):
                who = self.access.describe_deciders(call.approval_class, call.requester)
                await tell_clicker(
                    respond,
                    f":no_entry: You're not allowed to decide this ({esc(call.tool)}, "
                    f"{esc(call.approval_class or 'gated')}). Only {who} can.",
                )
                return
        meta: dict[str, Any] = {"s": sid, "b": batch_id}
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
            )
        elif kind in (REJECT, REJECT_ALL):
            meta.update({"c": value.get("c"), "h": value.get("h"), "all": kind == REJECT_ALL})
            await self._open(body, reject_view(meta, calls), respond)
        elif kind == EDIT:
            if not _editable(calls[0]):  # a forged click: the card offers no Edit here
                await tell_clicker(respond, NOT_EDITABLE)
                return
            meta.update({"c": value.get("c"), "h": value.get("h")})
            await self._open(body, edit_view(meta, calls[0]), respond)
        else:
            await tell_clicker(respond, "Unknown approval action; nothing was done.")

    async def _claim(
        self,
        sid: str,
        batch_id: str,
        decisions: list[ToolApproval],
        user: str,
        *,
        complete: bool,
        respond: Any,
    ) -> str | None:
        """Claim decisions, then have the card redrawn. Returns an error text for the user, or
        None."""
        await self.warmup.wait(timeout=2.0)  # a modal must be answered within 3 s
        result = await self.manager.resolve_approvals(
            sid, decisions, decided_by=user, complete_batch=complete, batch_id=batch_id
        )
        if not result.ok:
            text = (
                await self._already_text(sid, batch_id, decisions[0].tool_call_id)
                if result.already_status
                else f"Nothing was done: {esc(result.error or 'unknown error')}."
            )
            if respond is not None:
                await tell_clicker(respond, text)
            return text
        self.cards.redraw_card(sid, batch_id)
        return None

    # ------------------------------------------------------------------ modals
    async def on_reject_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = parse_button_value(view.get("private_metadata"))
        user = (body.get("user") or {}).get("id") or ""
        reason = input_value(view, REASON_BLOCK) or None
        sid, batch_id = str(meta.get("s") or ""), str(meta.get("b") or "")
        if meta.get("all"):
            calls = [c for c in await self.approvals.batch(sid, batch_id) if c.status == PENDING]
        else:
            one = await self.approvals.get(sid, str(meta.get("c") or ""))
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
            )
        if error:
            await ack(response_action="errors", errors={REASON_BLOCK: plain_error(error)})
        else:
            await ack()

    async def on_edit_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = parse_button_value(view.get("private_metadata"))
        user = (body.get("user") or {}).get("id") or ""
        edited = input_value(view, SCRIPT_BLOCK)
        sid, batch_id = str(meta.get("s") or ""), str(meta.get("b") or "")
        call = await self.approvals.get(sid, str(meta.get("c") or ""))
        calls = [call] if call is not None else []
        error = await self._authorise_submit(user, calls, sid, batch_id, meta.get("c"))
        if error is None and not meta.get("h"):  # approving binds to the arguments' hash
            error = "This dialog is malformed; nothing was done."
        if error is None and call is not None and not _editable(call):
            error = NOT_EDITABLE
        if error is None and len(edited or "") > EDITABLE_SCRIPT_MAX:
            error = f"The script may be at most {EDITABLE_SCRIPT_MAX:,} characters here."
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
            )
        if error:
            await ack(response_action="errors", errors={SCRIPT_BLOCK: plain_error(error)})
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
            if not await self.access.may_decide(
                user, requester=call.requester, approval_class=call.approval_class
            ):
                return "You're not allowed to decide this."
        return None

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _already(call: PendingCall) -> str:
        if call.status in ("expired",):
            return "This request has expired; nothing was run."
        if call.status == "abandoned":
            return "This request was skipped because the conversation moved on."
        by = f" by {user_ref(call.decided_by)}" if call.decided_by else ""
        return f"Already {_status_word(call.status)}{by}."

    async def _already_text(self, sid: str, batch_id: str, tcid: str | None) -> str:
        call = await self.approvals.get(sid, tcid) if tcid else None
        if call is None:
            decided = [c for c in await self.approvals.batch(sid, batch_id) if c.status != PENDING]
            call = decided[0] if decided else None
        return self._already(call) if call is not None else "This request was already decided."

    async def _open(self, body: dict[str, Any], view: View, respond: Any) -> None:
        # Modals do not go through the sender: scrub them here (a script may hold a token).
        clean = scrub(view.to_dict())
        try:
            await self.client.views_open(trigger_id=body.get("trigger_id"), view=clean)
        except SlackApiError as exc:
            log.warning("views.open failed: %s", exc.response.get("error"))
            await tell_clicker(
                respond,
                "I couldn't open the dialog (Slack said: "
                f"{esc(exc.response.get('error'))}); please click again.",
            )
