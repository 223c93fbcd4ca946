"""Where a team's babysitting preferences live: per thread, per channel, or the config default.

A ``preferences.md`` set in a thread applies to that thread's jobs; one set for a channel
applies to every thread there that has none of its own; otherwise the file named by
``jobs.preferences_file`` in the config; otherwise the built-in thresholds with no rules
(warnings only). The text is stored as written (the prose is the team's intent and is shown
back verbatim) and re-validated on every read, so a stored file can never be half-applied.

Scopes are plain strings so the engine stays gateway-neutral: ``thread:<session id>`` and
``channel:<origin channel>``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .preferences import Preferences, PreferencesError, parse_preferences

if TYPE_CHECKING:
    from ..store import Store

log = logging.getLogger(__name__)

KV_NAMESPACE = "job_preferences"
MAX_PREFERENCES_CHARS = 20_000


def thread_scope(session_id: str) -> str:
    return f"thread:{session_id}"


def channel_scope(channel: str) -> str:
    return f"channel:{channel}"


def scopes_for(session_id: str, origin: dict[str, Any] | None) -> list[str]:
    """The scopes that may hold preferences for a session, most specific first."""
    scopes = [thread_scope(session_id)]
    channel = (origin or {}).get("channel")
    if channel:
        scopes.append(channel_scope(str(channel)))
    return scopes


class PreferenceBook:
    """Reads and writes preferences by scope, with the config default as the fallback."""

    def __init__(self, store: Store, default_file: str | None = None) -> None:
        self.store = store
        self.default_file = default_file

    async def set(self, scope: str, text: str, *, set_by: str | None = None) -> Preferences:
        """Validate and store; raises :class:`PreferencesError` (nothing stored) when bad."""
        if len(text) > MAX_PREFERENCES_CHARS:
            raise PreferencesError(
                f"preferences.md is {len(text):,} characters; the limit is "
                f"{MAX_PREFERENCES_CHARS:,}"
            )
        prefs = parse_preferences(text, source=_label(scope))
        await self.store.kv_set(
            KV_NAMESPACE, scope, {"text": text, "set_by": set_by, "at": time.time()}
        )
        return prefs

    async def clear(self, scope: str) -> bool:
        return await self.store.kv_delete(KV_NAMESPACE, [scope]) > 0

    async def stored(self, scope: str) -> dict[str, Any] | None:
        value = await self.store.kv_get(KV_NAMESPACE, scope)
        return value if isinstance(value, dict) and isinstance(value.get("text"), str) else None

    async def for_session(self, session_id: str, origin: dict[str, Any] | None) -> Preferences:
        """The preferences that apply to a session's jobs (never raises)."""
        for scope in scopes_for(session_id, origin):
            entry = await self.stored(scope)
            if entry is None:
                continue
            try:
                return parse_preferences(entry["text"], source=_label(scope))
            except PreferencesError:
                # Validated when stored; only a newer, stricter parser gets here. Fall through
                # to the next scope rather than watching with half a policy.
                log.warning("stored preferences for %s no longer validate", scope)
        return self.default()

    def default(self) -> Preferences:
        if self.default_file:
            try:
                text = Path(self.default_file).read_text(encoding="utf-8")
                return parse_preferences(text, source=Path(self.default_file).name)
            except (OSError, PreferencesError):
                log.exception("the default preferences file %s is unusable", self.default_file)
        return Preferences(source="built-in defaults")


def _label(scope: str) -> str:
    kind = scope.split(":", 1)[0]
    names = {"thread": "this thread's preferences.md", "channel": "this channel's preferences.md"}
    return names.get(kind, f"preferences.md ({scope})")
