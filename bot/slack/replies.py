"""Short answers to a person: a reply in the thread, a private (ephemeral) note, a reaction,
the private answer to a button click.

All go through the sender (scrubbed, queued, rate-safe). A failed reply is logged, not raised:
these answer a user's input, and the input's own handling must not fail because of them.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.slack.format import Payload
from bot.slack.sender import HIGH, NORMAL, SlackSender

log = logging.getLogger(__name__)


class Replies:
    def __init__(self, sender: SlackSender) -> None:
        self.sender = sender

    async def post(self, channel: str, thread_ts: str, payload: Payload) -> None:
        try:
            await self.sender.call(
                channel,
                "chat_postMessage",
                priority=NORMAL,
                channel=channel,
                thread_ts=thread_ts,
                **payload.kwargs(),
            )
        except SlackApiError as exc:
            log.warning("reply failed: %s", exc.response.get("error"))

    async def ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            kwargs["blocks"] = blocks
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await self.sender.call(channel, "chat_postEphemeral", priority=NORMAL, **kwargs)
        except SlackApiError as exc:
            log.warning("ephemeral message failed: %s", exc.response.get("error"))

    def react(self, channel: str, ts: str, name: str) -> None:
        """Add a reaction, fire-and-forget (a failed reaction is harmless)."""
        self.sender.submit(
            channel, "reactions_add", priority=HIGH, channel=channel, timestamp=ts, name=name
        )


async def tell_clicker(respond: Any, text: str) -> None:
    """A private note to whoever clicked a button, leaving the clicked message as it is. A
    failure is logged, not raised: the click itself was handled."""
    if respond is None:
        return
    try:
        await respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        log.warning("could not answer a click", exc_info=True)
