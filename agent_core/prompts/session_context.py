"""What the model is told about *now* and *whom it works as*: date, timezone, HF account.

Upstream appends ``[Session context: Date=…, Timezone=…, User=<hf username>]`` so the model
stops guessing namespaces for ``hub_model_id`` and knows what "tomorrow" means. We do the same
with two differences that matter in a Slack bot:

* **No network on the prompt path.** The system prompt is rendered before every LLM call,
  including the first reply to a Slack message. The identity therefore comes only from the Hub
  client's *cached* whoami; when nothing is cached yet, a background lookup is started (at most
  once per :data:`WARM_RETRY_S`) and the prompt simply leaves the account out until it lands.
  Failures are logged at debug level and never surface to the model or the thread.
* **No wall-clock time.** The prompt is re-rendered for every call and prompt caching keys on
  its text; a time-of-day would invalidate the cache on every call. Date + timezone are stable
  for a day, which is what the model needs to reason about schedules.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

WARM_RETRY_S = 300.0
MAX_ORGS_SHOWN = 20


@dataclass(frozen=True)
class SessionContext:
    """The facts rendered into the prompt's *Session context* section."""

    now: datetime  # timezone-aware, in the team's timezone
    timezone: str  # the IANA name (or "UTC")
    hf_user: str | None = None
    hf_orgs: tuple[str, ...] = ()

    @property
    def date(self) -> str:
        return self.now.strftime("%Y-%m-%d (%A)")

    def render(self) -> str:
        offset = self.now.strftime("%z")
        utc = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
        lines = [f"- Date: {self.date}; timezone {self.timezone} ({utc})."]
        if self.hf_user:
            orgs = ", ".join(f"`{o}`" for o in self.hf_orgs[:MAX_ORGS_SHOWN])
            more = len(self.hf_orgs) - MAX_ORGS_SHOWN
            if more > 0:
                orgs += f" and {more} more"
            lines.append(
                f"- Hugging Face account: `{self.hf_user}`"
                + (f" (orgs: {orgs})" if orgs else "")
                + ". Use these namespaces for `hub_model_id`, new repos and Trackio Spaces;"
                " never guess another."
            )
        return "\n".join(lines)


def resolve_timezone(name: str | None) -> tuple[tzinfo, str]:
    """The team's timezone: the configured IANA name, else the host's (``TZ``, else its local
    offset), else UTC.

    A name that does not exist was already refused by the config validator; here an unknown
    name (a host without tzdata) falls back to UTC rather than breaking every prompt.
    """
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown timezone %r; using UTC", name)
            return UTC, "UTC"
    env_name = os.environ.get("TZ", "").strip().lstrip(":")
    if env_name:
        try:
            return ZoneInfo(env_name), env_name
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a POSIX TZ string, not an IANA name: fall through to the local offset
    local = datetime.now().astimezone().tzinfo
    key = getattr(local, "key", None) or (local.tzname(None) if local else None)
    return (local or UTC), (key or "UTC")


class IdentitySource:
    """The HF account for the prompt, from the Hub client's cache only (see module doc).

    ``hub`` is a callable because the host attaches its Hub client after the session manager
    is built (``runtime.attach_jobs``); the provider looks it up at render time.
    """

    def __init__(self, hub: Callable[[], Any]) -> None:
        self._hub = hub
        self._warming: asyncio.Task[Any] | None = None
        self._last_try = -WARM_RETRY_S

    def __call__(self) -> tuple[str | None, tuple[str, ...]]:
        hub = self._hub()
        if hub is None:
            return None, ()
        ident = hub.cached_identity()
        if ident is not None and ident.name:
            return ident.name, tuple(o for o in ident.orgs if o != ident.name)
        self._warm(hub)
        return None, ()

    def _warm(self, hub: Any) -> None:
        if not getattr(hub, "token", None):
            return
        if self._warming is not None and not self._warming.done():
            return
        if time.monotonic() - self._last_try < WARM_RETRY_S:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # rendered outside a loop (a script): no background lookup
        self._last_try = time.monotonic()
        self._warming = loop.create_task(self._lookup(hub), name="whoami-warm")

    @staticmethod
    async def _lookup(hub: Any) -> None:
        try:
            await hub.whoami()
        except Exception as exc:  # the prompt falls back silently; the next try is later
            log.debug("whoami for the session context failed: %s", exc)

    async def aclose(self) -> None:
        task, self._warming = self._warming, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def session_context(
    timezone: str | None,
    identity: Callable[[], tuple[str | None, tuple[str, ...]]] | None = None,
    now: datetime | None = None,
) -> SessionContext:
    zone, name = resolve_timezone(timezone)
    user, orgs = identity() if identity is not None else (None, ())
    moment = (now or datetime.now(UTC)).astimezone(zone)
    return SessionContext(now=moment, timezone=name, hf_user=user, hf_orgs=orgs)
