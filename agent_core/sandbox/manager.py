"""At most one sandbox per session: created on first use, synced with the workspace, torn down.

Why a manager and not the tools themselves: creation takes tens of seconds and two tool calls
of one session may ask at once (one waits for the other, they never create two); a GPU sandbox
bills by the hour, so an idle one is deleted after ``idle_timeout_s`` and every sandbox is
deleted when its session ends or the process stops; and the files the user attached in Slack
live in the session's workspace on the bot's host, so they are copied in before the model's
first command and again whenever new ones arrive.

Secrets: a handle's token lives only in memory. After a restart the old sandbox is an orphan
(swept at startup) and the session gets a fresh one when it next needs it — a restart never
writes a sandbox secret to the store.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .client import SandboxClient, SandboxUnavailable
from .handle import SandboxBackend, SandboxError, SandboxHandle

log = logging.getLogger(__name__)

SYNC_MAX_FILE_BYTES = 50 * 1024 * 1024
SYNC_SKIP_DIRS = {".tmp", ".git", "__pycache__", ".venv"}

LogFn = Callable[[str], Awaitable[None]]


@dataclass
class _Live:
    handle: SandboxHandle
    client: SandboxClient
    last_used: float = field(default_factory=time.monotonic)
    synced: dict[str, float] = field(default_factory=dict)  # workspace path → mtime sent


class SandboxManager:
    def __init__(
        self,
        backend: SandboxBackend,
        *,
        idle_timeout_s: float = 3600.0,
        default_hardware: str = "cpu-basic",
    ) -> None:
        self.backend = backend
        self.idle_timeout_s = idle_timeout_s
        self.default_hardware = default_hardware
        self._live: dict[str, _Live] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._reaper: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> list[str]:
        """Sweep sandboxes a previous process left behind; start the idle reaper."""
        try:
            gone = await self.backend.sweep_orphans(keep=set())
        except Exception as exc:  # noqa: BLE001 - a failed sweep must not stop the bot
            log.warning("sandbox orphan sweep failed: %s", type(exc).__name__)
            gone = []
        if self._reaper is None and self.idle_timeout_s > 0:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())
        return gone

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for session_id in list(self._live):
            await self.teardown(session_id)

    def active(self, session_id: str) -> SandboxHandle | None:
        live = self._live.get(session_id)
        return live.handle if live else None

    async def ensure(
        self,
        session_id: str,
        hardware: str | None = None,
        *,
        workspace: Path | None = None,
        log_fn: LogFn | None = None,
    ) -> tuple[SandboxHandle, bool]:
        """The session's sandbox, created if needed. Returns ``(handle, created_now)``.

        Asking for different hardware than the live sandbox has is refused (as upstream
        does) — except upgrading the automatic cpu-basic one, which is replaced. Every call
        copies in the workspace files that are new since the last one.
        """
        wanted = hardware or self.default_hardware
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            live = self._live.get(session_id)
            created = live is None or (hardware is not None and live.handle.hardware != wanted)
            if created:
                if live is not None:
                    if live.handle.hardware != self.default_hardware:
                        raise SandboxError(
                            f"this session's sandbox runs on {live.handle.hardware}; hardware "
                            "cannot be changed in place. Keep using it (it is deleted when "
                            "idle), or start a new thread for other hardware."
                        )
                    await self._teardown_locked(session_id)
                if log_fn is not None:
                    await log_fn(f"Creating a {wanted} sandbox (this takes a little while)…")
                handle = await self.backend.create(session_id, wanted)
                client = SandboxClient(handle.url, handle.token, self.backend.auth_token())
                live = self._live[session_id] = _Live(handle, client)
                if log_fn is not None:
                    await log_fn(f"Sandbox ready: {handle.id} ({wanted})")
            live.last_used = time.monotonic()
        if workspace is not None:  # files shared since the last call are copied in
            await self.sync(session_id, workspace)
        return live.handle, created

    async def client(
        self, session_id: str, *, workspace: Path | None = None, log_fn: LogFn | None = None
    ) -> SandboxClient:
        """A client for the session's sandbox, creating a default one on first use."""
        await self.ensure(session_id, workspace=workspace, log_fn=log_fn)  # also syncs
        return self._live[session_id].client

    async def teardown(self, session_id: str) -> bool:
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            return await self._teardown_locked(session_id)

    async def _teardown_locked(self, session_id: str) -> bool:
        live = self._live.pop(session_id, None)
        if live is None:
            return False
        await live.client.close()
        try:
            await self.backend.delete(live.handle)
        except SandboxError as exc:
            log.error("sandbox %s of session %s not deleted: %s", live.handle.id, session_id, exc)
        return True

    async def fetch_file(self, session_id: str, path: str) -> str | None:
        """The text of ``path`` in the session's live sandbox, or None (no sandbox / no file).

        Used by ``hf_jobs`` so a script the agent wrote and tested in its sandbox can be
        submitted by path, as upstream does.
        """
        live = self._live.get(session_id)
        if live is None:
            return None
        try:
            result = await live.client.call("download", {"path": path})
        except SandboxUnavailable:
            return None
        if not result.ok or not result.data or "content_b64" not in result.data:
            return None
        return base64.b64decode(result.data["content_b64"]).decode("utf-8", errors="replace")

    # ----------------------------------------------------------------- workspace sync

    async def sync(self, session_id: str, workspace: Path) -> list[str]:
        """Copy workspace files that are new or changed since the last sync into the sandbox."""
        live = self._live.get(session_id)
        if live is None or not workspace.is_dir():
            return []
        sent: list[str] = []
        for path in sorted(workspace.rglob("*")):
            rel = path.relative_to(workspace)
            if any(part in SYNC_SKIP_DIRS for part in rel.parts) or not path.is_file():
                continue
            if path.is_symlink():
                continue  # a link could point outside the workspace
            stat = path.stat()
            key = rel.as_posix()
            if live.synced.get(key) == stat.st_mtime or stat.st_size > SYNC_MAX_FILE_BYTES:
                continue
            data = await asyncio.to_thread(path.read_bytes)
            result = await live.client.call(
                "upload", {"path": key, "content_b64": base64.b64encode(data).decode()}
            )
            if result.ok:
                live.synced[key] = stat.st_mtime
                sent.append(key)
        return sent

    # ----------------------------------------------------------------- idle reaper

    async def reap_idle(self, now: float | None = None) -> list[str]:
        """Delete sandboxes unused for ``idle_timeout_s``; returns the sessions affected."""
        now = time.monotonic() if now is None else now
        stale = [
            sid for sid, live in self._live.items() if now - live.last_used > self.idle_timeout_s
        ]
        for sid in stale:
            await self.teardown(sid)
        return stale

    async def _reap_idle(self) -> None:
        while True:
            await asyncio.sleep(max(30.0, self.idle_timeout_s / 10))
            try:
                await self.reap_idle()
            except Exception:  # noqa: BLE001 - the reaper must keep running
                log.exception("sandbox idle reaper failed")
