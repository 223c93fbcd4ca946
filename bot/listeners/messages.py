"""Messages and mentions. Routing already happened in middleware: if an ``incoming`` is in the
context, the message is for us; Bolt acked the envelope before this runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from ..gateway import Gateway


def register(app: AsyncApp, gw: Gateway) -> None:
    async def on_message(context: Any) -> None:
        incoming = context.get("incoming")
        if incoming is not None:
            async with gw.inflight():
                await gw.handle_message(incoming)

    app.event("app_mention")(on_message)
    app.event("message")(on_message)
