"""Wake-ups between replicas: "session X has queued work", sent through the store.

On Postgres a wake-up is ``pg_notify`` (``LISTEN``/``NOTIFY``) reaching every replica that
listens on the channel; on SQLite (one process) the store calls its own listeners directly.
:meth:`~.database.Database.notify` runs on its own, after the caller's writes committed, so
"enqueue the operation durably, then wake its owner" never wakes a listener before the row is
visible. A wake-up is only a hint: a replica that missed one (it was
restarting) still finds the work by scanning the store, so nothing depends on delivery.

Callbacks run on the event loop and must not block; a failing callback is logged and the others
still run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

log = logging.getLogger(__name__)

Callback = Callable[[str], None]

_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_channel(channel: str) -> str:
    """A channel name both backends accept (Postgres identifiers are at most 63 bytes)."""
    if not _CHANNEL.fullmatch(channel):
        raise ValueError(f"not a wake-up channel name: {channel!r} (use [a-z_][a-z0-9_]*)")
    return channel


class Listeners:
    """The callbacks registered per channel, fanned out on delivery."""

    def __init__(self) -> None:
        self._by_channel: dict[str, list[Callback]] = {}

    def add(self, channel: str, callback: Callback) -> bool:
        """Register; True when it is the channel's first listener (start listening)."""
        callbacks = self._by_channel.setdefault(check_channel(channel), [])
        callbacks.append(callback)
        return len(callbacks) == 1

    def remove(self, channel: str, callback: Callback) -> bool:
        """Unregister; True when the channel has no listener left (stop listening)."""
        callbacks = self._by_channel.get(channel, [])
        if callback in callbacks:
            callbacks.remove(callback)
        if callbacks:
            return False
        self._by_channel.pop(channel, None)
        return True

    def channels(self) -> list[str]:
        """The channels someone listens on (to subscribe again after a reconnect)."""
        return list(self._by_channel)

    def deliver(self, channel: str, payload: str) -> None:
        for callback in list(self._by_channel.get(channel, ())):
            try:
                callback(payload)
            except Exception:
                log.exception("wake-up listener on %s failed", channel)
