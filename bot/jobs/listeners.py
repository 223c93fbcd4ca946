"""Job card buttons: ack first, then Cancel / Show logs / Show curves (:mod:`bot.jobs.actions`).

Link buttons (Trackio, W&B) open in the browser, but Slack still sends a ``block_actions``
for them; they are acked and ignored so the client shows no error.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.jobs.buttons import (
    CANCEL_JOB_ACTION,
    LINK_ACTION_PREFIX,
    SHOW_CURVES_ACTION,
    SHOW_LOGS_ACTION,
)

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.jobs.actions import JobActions
    from bot.slack.inflight import InFlight


def register(app: AsyncApp, *, actions: JobActions, inflight: InFlight) -> None:

    app.action(CANCEL_JOB_ACTION)(inflight.button(actions.on_cancel_click))
    app.action(SHOW_LOGS_ACTION)(inflight.button(actions.on_logs_click))
    app.action(SHOW_CURVES_ACTION)(inflight.button(actions.on_curves_click))

    @app.action(re.compile("^" + re.escape(LINK_ACTION_PREFIX)))
    async def on_link(ack: Any) -> None:
        await ack()
