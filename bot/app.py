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

    _ack_unmatched_interactions(app)
    return app


def _ack_unmatched_interactions(app: AsyncApp) -> None:
    """Registered last, so they only see what no listener above matched. Over Socket Mode
    Bolt does not ack an interactive payload without a listener, and Slack then shows the
    person an error; a stale button, a shortcut or a closed modal must never do that."""
    anything = re.compile(".*")

    @app.action(anything)
    async def ack_other_actions(ack: Any) -> None:
        await ack()

    @app.shortcut(anything)
    async def ack_shortcuts(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        if body.get("response_url"):  # message shortcuts can answer; global ones cannot
            await respond(
                text="I don't have shortcuts yet: mention me in a thread (or DM me) instead.",
                response_type="ephemeral",
            )

    @app.view_closed(anything)
    async def ack_closed_views(ack: Any) -> None:
        await ack()

    @app.view(anything)
    async def ack_other_views(ack: Any) -> None:
        await ack()

    @app.options(anything)
    async def ack_options(ack: Any) -> None:
        await ack(options=[])
