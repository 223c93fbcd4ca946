"""Names for Slack ids: people, channels and user groups, resolved once and cached.

Message text carries ids (``<@U123>``, ``<#C123>``, ``<!subteam^S123>``); the model should read
names. Labels after ``|`` in the markup are optional and may be stale, so an id is resolved with
the Web API (``users.info`` needs ``users:read``; ``conversations.info`` needs
``channels:read``/``groups:read``; ``usergroups.list`` needs ``usergroups:read``). A lookup that
fails (missing scope, deleted user, Slack down) is remembered for a short while and the caller
falls back to the label or the id: a name is a courtesy, never a reason to drop a message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

NAME_TTL_S = 3600.0  # people rename themselves; an hour-old display name is fine
MISS_TTL_S = 120.0  # a failed lookup is retried after two minutes, not on every message
MAX_ENTRIES = 5000


NAME_CHARS = 80


def clean_name(value: str) -> str:
    """A name as one short line: people choose their display names, and one with newlines or
    markup must not be able to write a line of its own into what the model reads."""
    text = "".join(ch if ch.isprintable() else " " for ch in value)
    text = " ".join(text.replace("<", "‹").replace(">", "›").replace("`", "'").split())
    return text[:NAME_CHARS]


def display_name_of(user: dict[str, Any]) -> str | None:
    """The name Slack shows for a person: profile display name, else real name, else handle."""
    profile = user.get("profile") or {}
    for value in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(value, str) and clean_name(value):
            return clean_name(value)
    return None


class SlackNames:
    """Cached id → name lookups over an ``AsyncWebClient`` (or anything with its methods)."""

    def __init__(self, client: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[str | None]] = {}
        self._groups_loaded_at: float | None = None

    async def user(self, user_id: str) -> str | None:
        """A person's display name (``users.info``), or None if it cannot be resolved."""
        return await self._lookup(f"u:{user_id}", lambda: self._fetch_user(user_id))

    async def channel(self, channel_id: str) -> str | None:
        """A channel's name without ``#`` (``conversations.info``), or None."""
        return await self._lookup(f"c:{channel_id}", lambda: self._fetch_channel(channel_id))

    async def usergroup(self, group_id: str) -> str | None:
        """A user group's handle without ``@`` (``usergroups.list``, loaded once), or None."""
        key = f"g:{group_id}"
        hit = self._get(key)
        if hit is not None:
            return hit[1]
        now = self._clock()
        if self._groups_loaded_at is None or now - self._groups_loaded_at > MISS_TTL_S:
            self._groups_loaded_at = now
            await self._lookup("g:*", self._fetch_groups)
        hit = self._get(key)
        if hit is None:
            self._put(key, None, MISS_TTL_S)
            return None
        return hit[1]

    # ------------------------------------------------------------------ cache
    def _get(self, key: str) -> tuple[float, str | None] | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        if entry[0] < self._clock():
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return entry

    def _put(self, key: str, value: str | None, ttl: float) -> None:
        self._cache[key] = (self._clock() + ttl, value)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_ENTRIES:
            self._cache.popitem(last=False)

    async def _lookup(self, key: str, fetch: Callable[[], Awaitable[str | None]]) -> str | None:
        hit = self._get(key)
        if hit is not None:
            return hit[1]
        pending = self._inflight.get(key)
        if pending is not None:  # one request per id, however many messages ask at once
            return await asyncio.shield(pending)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            try:
                value = await fetch()
            except SlackApiError as exc:
                log.info("could not resolve %s: %s", key, exc.response.get("error"))
                value = None
            except Exception as exc:  # network trouble: fall back to the id, retry later
                log.info("could not resolve %s: %s", key, type(exc).__name__)
                value = None
            self._put(key, value, NAME_TTL_S if value is not None else MISS_TTL_S)
            future.set_result(value)
            return value
        finally:
            self._inflight.pop(key, None)

    # ------------------------------------------------------------------ Web API
    async def _fetch_user(self, user_id: str) -> str | None:
        resp = await self.client.users_info(user=user_id)
        return display_name_of(resp.get("user") or {})

    async def _fetch_channel(self, channel_id: str) -> str | None:
        resp = await self.client.conversations_info(channel=channel_id)
        name = (resp.get("channel") or {}).get("name")
        return clean_name(str(name)) if name else None

    async def _fetch_groups(self) -> str | None:
        resp = await self.client.usergroups_list()
        for group in resp.get("usergroups") or []:
            if isinstance(group, dict) and group.get("id") and group.get("handle"):
                self._put(f"g:{group['id']}", clean_name(str(group["handle"])), NAME_TTL_S)
        return "loaded"
