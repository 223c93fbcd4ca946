"""The ``/ml-intern`` slash command (channels and DMs; Slack does not send slash commands
from inside threads — there, the text commands of :mod:`bot.commands` apply)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from ..gateway import Gateway

SLASH_COMMAND = "/ml-intern"


def register(app: AsyncApp, gw: Gateway) -> None:
    @app.command(SLASH_COMMAND)
    async def on_command(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        async with gw.inflight():
            await gw.handle_slash(body, respond)
