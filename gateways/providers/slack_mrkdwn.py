"""Escaping text for Slack's mrkdwn — one escaper for the bot and the gateways.

Slack treats exactly three characters as control characters in message text: ``&``, ``<`` and
``>`` (https://api.slack.com/reference/surfaces/formatting#escaping). Escaping them, and nothing
else, keeps a user's or a model's text literal without mangling it; a stray ``<!channel>`` in
agent output can never ping a whole channel.
"""

from __future__ import annotations

from typing import Any


def escape(text: Any) -> str:
    """``text`` (anything, as ``str``) with Slack's three control characters escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
