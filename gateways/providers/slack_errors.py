"""The Slack Web API error codes we act on, in one vocabulary shared by the bot and the gateways.

Slack answers most failures with HTTP 200 and ``{"ok": false, "error": "<code>"}``; what to do
next depends only on the code. Everyone who talks to Slack (the bot's sender and renderer, the
gateways' ``slack`` provider) decides with these sets and helpers, so "is this worth retrying?"
has one answer. Codes are from https://api.slack.com/methods/chat.postMessage#errors and
https://api.slack.com/methods/chat.update#errors.
"""

from __future__ import annotations

from typing import Any

# Both spellings occur: ``ratelimited`` (Web API) and ``rate_limited`` (some newer methods).
RATE_LIMITED = frozenset({"ratelimited", "rate_limited"})

# ok:false errors that mean "Slack is having a moment", not "your request is wrong".
RETRYABLE = RATE_LIMITED | frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)

# The message (or its channel) is gone or frozen: an edit can never succeed; stop trying.
MESSAGE_GONE = frozenset(
    {"message_not_found", "channel_not_found", "cant_update_message", "is_archived"}
)

# The bot cannot see the channel (never invited, or removed).
NO_CHANNEL_ACCESS = frozenset({"not_in_channel", "channel_not_found"})

# The payload itself is refused (too long, bad blocks or metadata): resend it simpler.
BAD_CONTENT = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
        "invalid_metadata_format",
        "invalid_metadata_schema",
    }
)


def error_code(response: Any) -> str:
    """The ``error`` of an ``ok: false`` answer (a SlackResponse or a dict), or ``""``."""
    data = getattr(response, "data", response)
    if isinstance(data, dict):
        return str(data.get("error") or "")
    return ""


def is_retryable(status: int, code: str) -> bool:
    """HTTP 429/5xx or a transient ok:false code: the same request may succeed later."""
    return status == 429 or status >= 500 or code in RETRYABLE
