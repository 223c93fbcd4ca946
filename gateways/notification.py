"""The provider-neutral notification: what happened, said once, rendered per destination later.

The outbox stores this (not a provider payload) so that delivery-time facts — the thread's
permalink, the requester's DM channel — are looked up by the worker, never while the engine
waits, and so a restart re-renders exactly the same content.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from .config import Severity


class NoteField(BaseModel):
    """One short labelled fact ("Wall time: 1h 2m"). Rendered as a Block Kit field on Slack."""

    label: str
    value: str


class Link(BaseModel):
    label: str
    url: str


class Notification(BaseModel):
    event_type: str  # an engine event type, or "notify" for the agent's tool
    severity: Severity
    title: str
    message: str = ""
    fields: list[NoteField] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    log_tail: str | None = None
    session_id: str | None = None
    seq: int | None = None
    requester: str | None = None  # a Slack user id (origin.requester)
    origin: dict[str, Any] = Field(default_factory=dict)  # team, channel, thread_ts, platform
    source: Literal["auto", "agent"] = "auto"
    repeat_count: int = 1  # >1 on the follow-up sent when identical errors were collapsed
    data: dict[str, Any] = Field(default_factory=dict)  # scrubbed event payload (webhooks)
    created_at: float = Field(default_factory=time.time)


class Envelope(BaseModel):
    """One outbox row's payload: the notification plus per-destination delivery choices."""

    notification: Notification
    mention_requester: bool = False
