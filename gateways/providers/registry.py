"""Which sender delivers to a configured destination (one line per provider)."""

from __future__ import annotations

from ..config import (
    Destination,
    SlackDestination,
    SlackWebhookDestination,
    WebhookDestination,
)
from .base import Provider, Shared
from .slack import SlackSender
from .slack_webhook import SlackWebhookSender
from .webhook import WebhookSender


def build_sender(shared: Shared, config: Destination) -> Provider:
    """The sender for one configured destination."""
    if isinstance(config, SlackDestination):
        token = config.token or shared.slack.bot_token
        assert token, "validated in gateways.config"
        return SlackSender(
            shared,
            channel=config.channel,
            token=token,
            username=config.username,
            icon_emoji=config.icon_emoji,
        )
    if isinstance(config, SlackWebhookDestination):
        return SlackWebhookSender(shared, config)
    if isinstance(config, WebhookDestination):
        return WebhookSender(shared, config)
    raise TypeError(f"no sender for {type(config).__name__}")


def requester_dm_sender(shared: Shared) -> Provider:
    """The ``dm:requester`` pseudo-destination: a DM with the bot's own token."""
    assert shared.slack.bot_token, "validated in gateways.config"
    return SlackSender(shared, channel=None, token=shared.slack.bot_token)
