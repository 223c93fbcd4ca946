"""Button clicks: ack first, then the Stop button or an approval decision."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..render.approval import ACTION_PREFIX
from ..render.progress import STOP_ACTION

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from ..gateway import Gateway


def register(app: AsyncApp, gw: Gateway) -> None:
    @app.action(STOP_ACTION)
    async def on_stop(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        async with gw.inflight():
            await gw.on_stop_click(body, action, respond)

    @app.action(re.compile("^" + re.escape(ACTION_PREFIX)))
    async def on_approval(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await ack()
        async with gw.inflight():
            await gw.approvals.on_click(body, action, respond)
