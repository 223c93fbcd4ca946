"""Collapsing repeated identical errors from one session into one notification with a count.

Design: the first error of a kind is notified at once and opens a window
(``collapse_window_s``, default 10 min). Identical errors inside the window (same kind and text,
numbers and whitespace normalised — :func:`gateways.compose.error_fingerprint`) are not sent;
each one bumps a counter and (re)writes a single follow-up outbox row — "Agent error (repeated
3×…)" — that is due when the window closes. Because the follow-up lives in the outbox and the
window state in the store's ``kv`` table, a restart neither loses the count nor sends twice.
An error after the window closes starts a new window.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from agent_core.store import Store

KV_NAMESPACE = "gateways.collapse"


@dataclass(frozen=True)
class Occurrence:
    first: bool  # True → notify normally; False → fold into the window's follow-up
    first_seq: int
    count: int  # occurrences so far in this window, the first included
    window_end: float


class ErrorCollapser:
    def __init__(self, store: Store, window_s: float) -> None:
        self.store = store
        self.window_s = window_s
        self._lock = asyncio.Lock()

    @staticmethod
    def _key(session_id: str, fingerprint: str) -> str:
        digest = hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:20]
        return f"{session_id}|{digest}"

    async def observe(self, session_id: str, fingerprint: str, seq: int, now: float) -> Occurrence:
        """Record one error occurrence and say whether it opens a window or repeats one."""
        if self.window_s <= 0:
            return Occurrence(True, seq, 1, now)
        key = self._key(session_id, fingerprint)
        async with self._lock:
            state = await self.store.kv_get(KV_NAMESPACE, key)
            if state:
                first_seq, last_seq = int(state["first_seq"]), int(state["last_seq"])
                count, window_end = int(state["count"]), float(state["window_end"])
                if first_seq <= seq <= last_seq:  # a replayed event: answer as before
                    return Occurrence(seq == first_seq, first_seq, count, window_end)
                if now < window_end:
                    state.update(count=count + 1, last_seq=seq)
                    await self.store.kv_set(KV_NAMESPACE, key, state)
                    return Occurrence(False, first_seq, count + 1, window_end)
            return await self._open(key, seq, now)

    async def _open(self, key: str, seq: int, now: float) -> Occurrence:
        state = {"first_seq": seq, "last_seq": seq, "count": 1, "window_end": now + self.window_s}
        await self.store.kv_set(KV_NAMESPACE, key, state)
        return Occurrence(True, seq, 1, state["window_end"])

    async def restart_window(self, session_id: str, fingerprint: str, seq: int, now: float) -> None:
        """The follow-up was already on its way: treat this occurrence as a new first one."""
        async with self._lock:
            await self._open(self._key(session_id, fingerprint), seq, now)

    async def prune(self, before: float) -> None:
        """Forget windows that closed before ``before``."""
        async with self._lock:
            windows = await self.store.kv_items(KV_NAMESPACE)
            stale = [k for k, v in windows.items() if float(v.get("window_end", 0)) < before]
            await self.store.kv_delete(KV_NAMESPACE, stale)
