"""Modal submissions (reject with a reason, edit a script). The claim runs before the ack —
a single SQLite transaction, milliseconds — so a lost race can be shown inside the modal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..approval_flow import EDIT_VIEW, REJECT_VIEW

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from ..gateway import Gateway


def register(app: AsyncApp, gw: Gateway) -> None:
    @app.view(REJECT_VIEW)
    async def on_reject(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async with gw.inflight():
            await gw.approvals.on_reject_submit(ack, body, view)

    @app.view(EDIT_VIEW)
    async def on_edit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async with gw.inflight():
            await gw.approvals.on_edit_submit(ack, body, view)
