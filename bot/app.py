"""``build_app``: the Bolt ``AsyncApp`` with every middleware and listener, registered in one
place so "what does the bot react to" is answered by reading one function."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp

from bot.approvals import listeners as approval_listeners
from bot.conversation import listeners as conversation_listeners
from bot.jobs import listeners as job_listeners
from bot.slack.middleware import SeenEvents, build_middleware

if TYPE_CHECKING:
    from bot.conversation.intake import Gateway


def build_app(gw: Gateway, seen: SeenEvents) -> AsyncApp:
    """An AsyncApp on the gateway's client (its base_url and retry handlers included).

    ``process_before_response`` stays False: Bolt acks events as soon as the middleware
    chain has run, and listeners do their work after the ack.
    """
    app = AsyncApp(
        client=gw.client,
        process_before_response=False,
        ignoring_self_events_enabled=True,
        request_verification_enabled=False,  # Socket Mode: no HTTP signatures to check
    )
    for middleware in build_middleware(gw, seen):
        app.use(middleware)
    conversation_listeners.register(app, gw)  # messages, mentions, /ml-intern, Stop
    approval_listeners.register(app, gw)  # approval buttons and modals
    job_listeners.register(app, gw)  # job card buttons (Cancel, Show logs, metric links)

    @app.event(re.compile(".*"))
    async def ack_other_events(body: dict[str, Any]) -> None:
        """Any other subscribed event: acked (by Bolt) and ignored, so Slack won't retry it."""

    return app
