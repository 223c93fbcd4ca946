"""Child processes for the benchmarks: start, wait for readiness, and always clean up.

Every fake and every bot runs as a real process, because what we measure (Socket Mode acks,
Web API traffic, resident memory, a ``kill -9``) only means something across process
boundaries. The price is that a crashed or interrupted benchmark must not leave servers
behind on a shared 2-core machine. Four layers make sure it does not:

1. :class:`ProcessPool` is an async context manager: leaving it (normally or by an exception)
   sends SIGTERM to each child's process group, waits a bounded time, then SIGKILLs.
2. Each child is the leader of its own session (``start_new_session``), so killing the group
   also reaches anything it spawned (``bash`` tools, helpers).
3. Each child gets ``PR_SET_PDEATHSIG = SIGKILL``: if this driver dies, even by ``kill -9``,
   the kernel kills the children.
4. :func:`kill_all` runs at interpreter exit and is what the driver's signal handlers call,
   for whatever the first three missed.

Readiness: fakes print ``READY <url>`` on stdout; :meth:`ProcessPool.spawn` waits for that
line (bounded) and keeps draining stdout into the child's log file afterwards, since a full
pipe would block the child. Bots have no such line; their readiness is observed from the
Slack emulator (a Socket Mode connection), which is also what the cold-start figure times.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
_live: dict[int, str] = {}  # pid (= pgid) -> name, for kill_all


class ProcessError(RuntimeError):
    """A child did not become ready; the message names its log file."""


def _pdeathsig() -> None:
    """preexec_fn: die with the parent (Linux only; harmless elsewhere)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def kill_all() -> None:
    """SIGKILL every child group still registered (exit path of last resort)."""
    for pid in list(_live):
        _signal_group(pid, signal.SIGKILL)
        _live.pop(pid, None)


atexit.register(kill_all)


class Proc:
    """One child process: its pid, the URL it announced (if any) and its log file."""

    def __init__(
        self,
        name: str,
        process: asyncio.subprocess.Process,
        log_path: Path,
        log_file: IO[bytes],
        started_at: float,
    ) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path
        self.started_at = started_at  # time.monotonic() just before exec
        self.url: str | None = None
        self.ready_at: float | None = None
        self._log_file = log_file
        self._drain: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def wait_ready(self, prefix: str = "READY", timeout: float = 30.0) -> str:
        """Read stdout until ``<prefix> <url>``; returns the URL. Fails if the child exits."""
        stdout = self.process.stdout
        assert stdout is not None, "spawned without a stdout pipe"
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await stdout.readline()
                    if not line:
                        raise ProcessError(
                            f"{self.name} exited (rc={await self.process.wait()}) before "
                            f"printing {prefix}; see {self.log_path}"
                        )
                    self._log_file.write(line)
                    text = line.decode(errors="replace").strip()
                    if text.startswith(prefix):
                        self.url = text[len(prefix) :].strip()
                        self.ready_at = time.monotonic()
                        break
        except TimeoutError:
            raise ProcessError(
                f"{self.name} printed no {prefix} line within {timeout}s; see {self.log_path}"
            ) from None
        self._drain = asyncio.create_task(self._drain_stdout())
        return self.url

    async def _drain_stdout(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with contextlib.suppress(Exception):
            while chunk := await stdout.read(65536):
                self._log_file.write(chunk)

    def rss_bytes(self) -> int | None:
        """Resident set size of the child (psutil), or None once it is gone."""
        import psutil

        try:
            return int(psutil.Process(self.pid).memory_info().rss)
        except psutil.Error:
            return None

    async def kill9(self) -> None:
        """``kill -9`` the whole group now (the restart benchmark) and reap it."""
        _signal_group(self.pid, signal.SIGKILL)
        await self._reap(5.0)

    async def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the group, wait up to ``timeout``, then SIGKILL. Idempotent."""
        if self.alive:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                log.warning("%s ignored SIGTERM for %.0fs: killing", self.name, timeout)
        _signal_group(self.pid, signal.SIGKILL)  # stragglers in the group, if any
        await self._reap(5.0)
        return self.process.returncode

    async def _reap(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), timeout)
        if self._drain is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._drain, 1.0)
        with contextlib.suppress(Exception):
            self._log_file.flush()
        if self.process.returncode is not None:
            _live.pop(self.pid, None)

    def close_log(self) -> None:
        with contextlib.suppress(Exception):
            self._log_file.close()


class ProcessPool:
    """Spawns children into ``log_dir`` and stops them all (reverse order) on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    async def __aenter__(self) -> ProcessPool:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_all()

    async def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        ready_prefix: str | None = "READY",
        ready_timeout: float = 30.0,
    ) -> Proc:
        """Start ``argv``; with ``ready_prefix``, return only once it announced its URL."""
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the Proc, closed in stop_all
        full_env = {**os.environ, **(env or {})}
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if ready_prefix else log_file,
            stderr=log_file,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_pdeathsig,
            limit=1 << 20,
        )
        _live[process.pid] = name
        proc = Proc(name, process, log_path, log_file, started)
        self.procs.append(proc)
        if ready_prefix:
            try:
                await proc.wait_ready(ready_prefix, ready_timeout)
            except BaseException:
                await proc.stop(timeout=2.0)
                raise
        return proc

    async def stop(self, proc: Proc, timeout: float = 10.0) -> int | None:
        rc = await proc.stop(timeout)
        proc.close_log()
        if proc in self.procs:
            self.procs.remove(proc)
        return rc

    async def stop_all(self, timeout: float = 10.0) -> None:
        for proc in reversed(list(self.procs)):
            with contextlib.suppress(Exception):
                await self.stop(proc, timeout)


def python_argv(module: str, *args: str) -> list[str]:
    """``[sys.executable, -m, module, *args]``: the same venv as the driver."""
    return [sys.executable, "-m", module, *args]


def install_signal_exit(loop: asyncio.AbstractEventLoop, main_task: asyncio.Task[Any]) -> None:
    """SIGINT/SIGTERM cancel the driver's main task, so every ``ProcessPool`` unwinds."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, main_task.cancel)
