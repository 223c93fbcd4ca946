"""Outbound notifications: route engine events to Slack channels, DMs and webhooks.

Entry points: :class:`NotificationService` (events in, durable delivery out),
:func:`parse_messaging_config` (validates ``Config.messaging``), :func:`verify_signature`
(for webhook receivers), and the ``notify`` tool in :mod:`gateways.notify_tool`.
"""

from .config import MessagingConfig, parse_messaging_config
from .service import NotificationService, SendResult, format_status
from .signing import verify_signature

__all__ = [
    "MessagingConfig",
    "NotificationService",
    "SendResult",
    "format_status",
    "parse_messaging_config",
    "verify_signature",
]
