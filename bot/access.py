"""Who may talk to the bot, and who may decide an approval.

* Allow-lists (``slack.allowed_users`` / ``slack.allowed_channels``; empty = everyone/every
  channel) gate *input*: starting a session, follow-ups, commands, the Stop button. Direct
  messages are governed by ``allowed_users`` only. Configured approvers are always allowed.
* A refused person gets one polite ephemeral note per channel every ``refusal_every_s``
  (:class:`Refusals`), not one per message.
* Deciding an approval follows the policy in :mod:`bot.settings`: the requester (unless
  ``requester_may_approve`` is false) and the approvers configured for the call's class.
  User groups (``S…``) are expanded with ``usergroups.users.list``, cached briefly.
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
        return await self._in_any(user, self.deciders(approval_class, requester))

    def describe_deciders(self, approval_class: str | None, requester: str | None) -> str:
        refs = []
        for who in self.deciders(approval_class, requester):
            refs.append(f"<!subteam^{who}>" if who.startswith("S") else user_ref(who))
        if not refs:
            return "nobody is configured to decide this (ask an admin to set slack.approvers)"
        return ", ".join(refs[:-1]) + (" or " if len(refs) > 1 else "") + refs[-1]

    # ------------------------------------------------------------------ helpers
    async def _in_any(self, user: str, ids: Iterable[str]) -> bool:
        groups = []
        for who in ids:
            if who == user:
                return True
            if who.startswith("S"):
                groups.append(who)
        for group in groups:
            if user in await self._members(group):
                return True
        return False

    async def _members(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        now = self.clock()
        if cached and now - cached[0] < self.settings.usergroup_cache_s:
            return cached[1]
        try:
            resp = await self.client.usergroups_users_list(usergroup=group)
            members = frozenset(resp.get("users") or [])
        except SlackApiError as exc:
            log.warning("cannot list user group %s: %s", group, exc.response.get("error"))
            members = cached[1] if cached else frozenset()
        self._groups[group] = (now, members)
        return members


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
