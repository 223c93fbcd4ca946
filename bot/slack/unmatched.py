"""Acks for interactive payloads no listener matched (registered after every other listener).

Over Socket Mode Bolt does not ack an interactive payload without a matching listener, and
Slack then shows the person an error: a stale button from an older version, a shortcut, a
closed modal or a select menu's options request must never do that. Bolt runs the first
listener that matches, so these catch only what the feature listeners did not.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

SHORTCUT_REPLY = "I don't have shortcuts yet: mention me in a thread (or DM me) instead."


def register(app: AsyncApp) -> None:
    anything = re.compile(".*")

    @app.event(anything)
    async def ack_other_events(body: dict[str, Any]) -> None:
        """Any other subscribed event: acked (by Bolt) and ignored, so Slack won't retry."""

    @app.action(anything)
    async def ack_other_actions(ack: Any) -> None:
        await ack()

    @app.shortcut(anything)
    async def ack_shortcuts(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        if body.get("response_url"):  # message shortcuts can answer; global ones cannot
            await respond(text=SHORTCUT_REPLY, response_type="ephemeral")

    @app.view_closed(anything)
    async def ack_closed_views(ack: Any) -> None:
        await ack()

    @app.view(anything)
    async def ack_other_views(ack: Any) -> None:
        await ack()

    @app.options(anything)
    async def ack_options(ack: Any) -> None:
        await ack(options=[])
