"""Approval card buttons and the modals they open.

A button click acks first, then is decided. A modal submission (reject with a reason, edit a
script) claims before the ack — a single SQLite transaction, milliseconds — so a lost race can
be shown inside the modal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.approvals.card import ACTION_PREFIX
from bot.approvals.flow import EDIT_VIEW, REJECT_VIEW

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.conversation.intake import Gateway


def register(app: AsyncApp, gw: Gateway) -> None:
    @app.action(re.compile("^" + re.escape(ACTION_PREFIX)))
    async def on_approval(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await ack()
        async with gw.inflight():
            await gw.approvals.on_click(body, action, respond)

    @app.view(REJECT_VIEW)
    async def on_reject(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async with gw.inflight():
            await gw.approvals.on_reject_submit(ack, body, view)

    @app.view(EDIT_VIEW)
    async def on_edit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async with gw.inflight():
            await gw.approvals.on_edit_submit(ack, body, view)
