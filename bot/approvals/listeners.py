"""Approval card buttons and the modals they open.

A button click acks first, then is decided. A modal submission (reject with a reason, edit a
script) claims before the ack — a single SQLite transaction, milliseconds — so a lost race can
be shown inside the modal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.approvals.card import ACTION_PREFIX
from bot.approvals.modals import EDIT_VIEW, REJECT_VIEW

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.approvals.flow import ApprovalFlow
    from bot.slack.inflight import InFlight


def register(app: AsyncApp, *, flow: ApprovalFlow, inflight: InFlight) -> None:
    app.action(re.compile("^" + re.escape(ACTION_PREFIX)))(inflight.button(flow.on_click))

    @app.view(REJECT_VIEW)
    async def on_reject(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async with inflight.track():
            await flow.on_reject_submit(ack, body, view)

    @app.view(EDIT_VIEW)
    async def on_edit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async with inflight.track():
            await flow.on_edit_submit(ack, body, view)
