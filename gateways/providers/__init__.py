"""Destination providers. Adding one: a module here with a sender class exposing
``async deliver(envelope, ctx) -> external_id | None``, its settings model in
:mod:`gateways.config`, and one line in :func:`build_sender`."""

from __future__ import annotations

from ..config import (
    Destination,
    SlackDestination,
    SlackWebhookDestination,
    WebhookDestination,
)
from .base import (
    DeliveryContext,
    DeliveryError,
    PermanentError,
    Provider,
    RetryableError,
    Shared,
)
from .slack import SlackDirectory, SlackSender
from .slack_webhook import SlackWebhookSender
from .webhook import WebhookSender

__all__ = [
    "DeliveryContext",
    "DeliveryError",
    "PermanentError",
    "Provider",
    "RetryableError",
    "Shared",
    "SlackDirectory",
    "build_sender",
    "requester_dm_sender",
]


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
