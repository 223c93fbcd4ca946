"""Outbound notifications: route engine events to Slack channels, DMs and webhooks.

Entry points: :class:`NotificationService` (events in, durable delivery out),
:func:`parse_messaging_config` (validates ``Config.messaging``), :func:`verify_signature`
(for webhook receivers), and the ``notify`` tool in :mod:`gateways.notify_tool`.

Exports are loaded on first use, so that the bot importing the Slack vocabularies
(:mod:`gateways.providers.slack_errors`, :mod:`gateways.providers.slack_mrkdwn`) or the
``notify`` tool does not load the whole notification service.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import MessagingConfig, parse_messaging_config
    from .service import NotificationService, SendResult
    from .signing import verify_signature
    from .status import format_status

_EXPORTS = {
    "MessagingConfig": ".config",
    "parse_messaging_config": ".config",
    "NotificationService": ".service",
    "SendResult": ".service",
    "format_status": ".status",
    "verify_signature": ".signing",
}

__all__ = [
    "MessagingConfig",
    "NotificationService",
    "SendResult",
    "format_status",
    "parse_messaging_config",
    "verify_signature",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gateways' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
