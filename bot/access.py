"""Who may talk to the bot, and who may decide an approval.

* Allow-lists (``slack.allowed_users`` / ``slack.allowed_channels``; empty = everyone/every
  channel) gate *input*: starting a session, follow-ups, commands, the Stop button. Direct
  messages are governed by ``allowed_users`` only. Configured approvers are always allowed.
* A refused person gets one polite ephemeral note per channel every ``refusal_every_s``
  (:class:`Refusals`), not one per message.
* Deciding an approval follows the policy in :mod:`bot.settings`: the requester (unless
  ``requester_may_approve`` is false) and the approvers configured for the call's class.
  User groups (``S…``) are expanded with ``usergroups.users.list``, cached briefly; for a
  decision the membership is re-read when older than :data:`DECISION_MAX_AGE_S`, and a group
  that cannot be read counts as empty (fail closed: someone removed from an approver group
  must not keep approving because Slack's API was unavailable).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.settings import SlackSettings

if TYPE_CHECKING:
    from agent_core.store import Store
    from bot.slack.replies import Replies
from bot.slack.format import user_ref

log = logging.getLogger(__name__)

REFUSALS_KV = "slack_refusals"

# The one table of who may use a state-changing thread control: the person must be allowed to
# decide every approval class listed (the session's requester is, unless configured
# otherwise). ``yolo`` auto-approves every class that is not always-ask, so turning it on
# needs the right to approve the strictest of them (``gpu_job: []`` = requester only).
CONTROL_CLASSES: dict[str, tuple[str, ...]] = {
    "stop": ("default",),
    "undo": ("default",),
    "compact": ("default",),
    "model": ("default",),
    "yolo_off": ("default",),
    "yolo_on": ("gpu_job", "cpu_job", "repo_write", "repo_destructive", "mcp"),
    "cancel_jobs": ("gpu_job",),
}
DECISION_MAX_AGE_S = 30.0


class Access:
    def __init__(
        self,
        settings: SlackSettings,
        client: Any,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.client = client
        self.clock = clock
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    # ------------------------------------------------------------------ allow-lists
    def channel_allowed(self, channel: str, channel_type: str | None = None) -> bool:
        allowed = self.settings.allowed_channels
        if not allowed or channel_type == "im" or channel.startswith("D"):
            return True
        return channel in allowed

    async def user_allowed(self, user: str | None) -> bool:
        if not user:
            return False
        allowed = self.settings.allowed_users
        if not allowed or user in allowed:
            return True
        return await self._in_any(user, self.settings.approvers.everyone())

    # ------------------------------------------------------------------ approvals
    def deciders(self, approval_class: str | None, requester: str | None) -> list[str]:
        ids = list(self.settings.approvers.for_class(approval_class))
        if requester and self.settings.requester_may_approve and requester not in ids:
            ids.insert(0, requester)
        return ids

    async def may_decide(
        self, user: str, *, requester: str | None, approval_class: str | None
    ) -> bool:
        max_age = min(self.settings.usergroup_cache_s, DECISION_MAX_AGE_S)
        return await self._in_any(user, self.deciders(approval_class, requester), max_age)

    async def may_control(self, user: str, control: str, *, requester: str | None) -> bool:
        """May ``user`` use this thread control (see :data:`CONTROL_CLASSES`)?"""
        for approval_class in CONTROL_CLASSES[control]:
            if not await self.may_decide(user, requester=requester, approval_class=approval_class):
                return False
        return True

    def describe_controllers(self, control: str, requester: str | None) -> str:
        """Who may use ``control``, for the refusal (the strictest class's deciders)."""
        return self.describe_deciders(CONTROL_CLASSES[control][0], requester)

    def describe_deciders(self, approval_class: str | None, requester: str | None) -> str:
        refs = []
        for who in self.deciders(approval_class, requester):
            refs.append(f"<!subteam^{who}>" if who.startswith("S") else user_ref(who))
        if not refs:
            return "nobody is configured to decide this (ask an admin to set slack.approvers)"
        return ", ".join(refs[:-1]) + (" or " if len(refs) > 1 else "") + refs[-1]

    # ------------------------------------------------------------------ helpers
    async def _in_any(self, user: str, ids: Iterable[str], max_age: float | None = None) -> bool:
        groups = []
        for who in ids:
            if who == user:
                return True
            if who.startswith("S"):
                groups.append(who)
        for group in groups:
            if user in await self._members(group, max_age):
                return True
        return False

    async def _members(self, group: str, max_age: float | None = None) -> frozenset[str]:
        """The group's members, from a cache younger than ``max_age`` (default: the configured
        cache time). A failed read is not cached and counts as no members (fail closed)."""
        cached = self._groups.get(group)
        now = self.clock()
        limit = self.settings.usergroup_cache_s if max_age is None else max_age
        if cached and now - cached[0] < limit:
            return cached[1]
        try:
            resp = await self.client.usergroups_users_list(usergroup=group)
            members = frozenset(resp.get("users") or [])
        except Exception as exc:  # any failure (API error, 5xx, timeout) fails closed
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            log.warning(
                "cannot list user group %s (%s): its members may not decide until it can be read",
                group,
                error,
            )
            self._groups.pop(group, None)
            return frozenset()
        self._groups[group] = (now, members)
        return members


def click_in_place(body: dict[str, Any], session_id: str) -> bool:
    """A button acts only on the session of the thread it was clicked in: a value copied into
    a button elsewhere (another channel, another thread) must not reach this session."""
    from bot.slack.keys import parse_session_key

    ref = parse_session_key(session_id)
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    if ref is None or channel != ref.channel:
        return False
    if ref.channel.startswith("D"):  # a DM conversation spans top-level messages
        return True
    thread = container.get("thread_ts") or container.get("message_ts")
    return thread == ref.thread_ts


class Refusals:
    """The polite refusal for someone the allow-lists keep out, at most once per user and
    channel every ``refusal_every_s`` (remembered in the store, so a restart does not repeat
    it)."""

    def __init__(
        self,
        settings: SlackSettings,
        store: Store,
        replies: Replies,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.replies = replies
        self.clock = clock

    async def refuse(self, channel: str, user: str, thread_ts: str | None) -> None:
        key = f"{channel}:{user}"
        last = await self.store.kv_get(REFUSALS_KV, key)
        now = self.clock()
        if isinstance(last, int | float) and now - last < self.settings.refusal_every_s:
            return
        await self.store.kv_set(REFUSALS_KV, key, now)
        await self.replies.ephemeral(channel, user, self.settings.refusal_text, thread_ts)
