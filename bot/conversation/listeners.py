"""Bolt listeners of the conversation: messages and mentions, the ``/ml-intern`` slash
command, and the progress message's Stop button.

Routing already happened in middleware: if an ``incoming`` is in the context, the message is
for us; Bolt acked the envelope before this runs. Slack does not send slash commands from
inside threads — there, the text commands of :mod:`bot.conversation.commands` apply.

A message's durable inbox row (:mod:`bot.slack.inbox`) is closed once its handler returned:
the op is enqueued, the edit applied, or the command run. If the handler raised, the row
stays ``received`` and is replayed (at most a few times).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.conversation.progress import STOP_ACTION
from bot.slack.inbox import TICKET, Deferred

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.conversation.commands import Commands
    from bot.conversation.edits import EditHandler
    from bot.conversation.intake import Intake
    from bot.slack.inbox import SlackInbox
    from bot.slack.inflight import InFlight


log = logging.getLogger(__name__)

SLASH_COMMAND = "/ml-intern"


def register(
    app: AsyncApp,
    *,
    intake: Intake,
    commands: Commands,
    edits: EditHandler,
    inflight: InFlight,
    inbox: SlackInbox | None = None,
) -> None:
    async def on_message(context: Any) -> None:
        incoming, edit = context.get("incoming"), context.get("edit")
        async with inflight.track():
            try:
                if incoming is not None:
                    await intake.handle_message(incoming)
                elif edit is not None:
                    await edits.handle(edit)
            except Deferred as deferred:
                log.info("inbox: %s left for a replay (shutting down)", deferred)
                return
            ticket = context.get(TICKET)
            if ticket is not None and inbox is not None:
                inbox.finished(ticket)

    app.event("app_mention")(on_message)
    app.event("message")(on_message)

    @app.command(SLASH_COMMAND)
    async def on_command(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        async with inflight.track():
            await intake.handle_slash(body, respond)

    app.action(STOP_ACTION)(inflight.button(commands.on_stop_click))
