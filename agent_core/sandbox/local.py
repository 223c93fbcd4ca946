"""The ``local`` sandbox backend: the sandbox server as a subprocess, for air-gapped teams.

Opt-in (``sandbox.backend: local``), because a process on the bot's host is a weaker wall than
a separate machine. What it does to keep the agent away from the bot:

* its own directory (``<state dir>/sandboxes/<id>/work``) as root and ``HOME``; the server
  package is copied in, so the subprocess never imports the bot's code;
* an environment built from scratch — ``PATH``, locale, ``HOME``/``TMPDIR`` and its own
  secret — never the bot's tokens;
* resource limits (address space, file size, open files, processes);
* when the bot runs as root, the server runs as an unprivileged user (``nobody`` by default),
  which is what makes the bot's database, ``.env`` and ``/proc/<bot pid>/environ`` unreadable.
  Without root that last wall is missing; :attr:`LocalBackend.isolated` says so and ``check``
  reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import sys
from pathlib import Path

from .bundle import PACKAGE, write_package
from .client import SandboxClient
from .handle import SandboxError, SandboxHandle

START_TIMEOUT_S = 20.0
_ENV_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


class LocalBackend:
    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        memory_mb: int = 8192,
        max_file_mb: int = 4096,
        max_processes: int = 256,
        run_as: str = "nobody",
        python: str | None = None,
    ) -> None:
        self.root = root
        self.memory_mb = memory_mb
        self.max_file_mb = max_file_mb
        self.max_processes = max_processes
        self.run_as = run_as
        self.python = python
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    @property
    def isolated(self) -> bool:
        """True when the server runs under another user than the bot (needs root)."""
        return os.geteuid() == 0 and self._user() is not None

    def _user(self) -> pwd.struct_passwd | None:
        try:
            return pwd.getpwnam(self.run_as)
        except KeyError:
            return None

    def auth_token(self) -> str | None:
        return None

    async def create(self, session_id: str, hardware: str) -> SandboxHandle:
        if hardware != "cpu-basic":
            raise SandboxError(
                f"the local sandbox runs on this host's CPU; hardware {hardware!r} needs the "
                "hf_space backend (sandbox.backend: hf_space)"
            )
        sid = f"sandbox-{secrets.token_hex(4)}"
        base = self.root / sid
        work = base / "work"
        server_dir = base / "server"
        token = secrets.token_urlsafe(32)
        await asyncio.to_thread(self._prepare, work, server_dir)
        interpreter = self._interpreter()
        env = {k: os.environ[k] for k in _ENV_PASSTHROUGH if os.environ.get(k)}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        # The sandbox's own venv (made below) comes first: `python` and `pip` are its own.
        env["PATH"] = f"{work}/.venv/bin:{work}/.bin:{env['PATH']}"
        env.update(
            {
                "HOME": str(work),
                "TMPDIR": str(work / ".tmp"),
                "SANDBOX_API_TOKEN": token,
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        proc = await asyncio.create_subprocess_exec(
            interpreter,
            "-I",  # isolated: ignore PYTHON* variables and user site, never the bot's code
            "-c",
            f"import sys; sys.path.insert(0, {str(server_dir)!r}); "
            f"from {PACKAGE}.server import main; main(sys.argv[1:])",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--root",
            str(work),
            cwd=str(work),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=self._limits,  # noqa: PLW1509 - rlimits and uid drop must run in the child
        )
        try:
            port = await asyncio.wait_for(self._read_port(proc), START_TIMEOUT_S)
        except (TimeoutError, SandboxError):
            await self._stop(proc)
            detail = await _tail(proc.stderr)
            raise SandboxError(f"the local sandbox server did not start: {detail}") from None
        handle = SandboxHandle(
            id=sid,
            backend=self.name,
            url=f"http://127.0.0.1:{port}",
            hardware=hardware,
            token=token,
            extra={"session_id": session_id, "isolated": self.isolated, "dir": str(base)},
        )
        self._procs[sid] = proc
        client = SandboxClient(handle.url, token)
        try:
            if not await client.health():
                raise SandboxError("the local sandbox server does not answer its health check")
            # A private venv, so `pip install` works without touching the host's Python;
            # where venv is unavailable, at least `python` resolves.
            await client.call(
                "bash",
                {
                    "command": f'"{interpreter}" -m venv "$HOME/.venv" >/dev/null 2>&1 || '
                    f'(mkdir -p "$HOME/.bin" && ln -sf "{interpreter}" "$HOME/.bin/python")',
                    "timeout": 180,
                },
            )
        except BaseException:
            await self.delete(handle)
            raise
        finally:
            await client.close()
        return handle

    def _interpreter(self) -> str:
        """A Python the sandbox user can run: the configured one, else the system's.

        The bot's own interpreter often lives where ``nobody`` cannot reach (a venv under
        ``/root``), and the sandbox should not share the bot's packages anyway.
        """
        candidates = [self.python] if self.python else []
        if self.isolated:
            candidates += ["/usr/bin/python3", "/usr/local/bin/python3"]
        candidates.append(sys.executable)
        for candidate in candidates:
            if candidate and (not self.isolated or _reachable_by_others(candidate)):
                return candidate
        raise SandboxError(
            "no Python interpreter the sandbox user can run; set sandbox.local_python"
        )

    def _prepare(self, work: Path, server_dir: Path) -> None:
        if self.isolated and not _reachable_by_others(str(self.root), directory=True):
            raise SandboxError(
                f"the sandbox user cannot reach {self.root}; put sandbox.local_root in a "
                "directory every user can traverse (e.g. /var/tmp/ml-intern-sandboxes)"
            )
        (work / ".tmp").mkdir(parents=True, exist_ok=True)
        write_package(server_dir)
        user = self._user() if os.geteuid() == 0 else None
        if user is not None:
            for path in (work, work / ".tmp"):
                os.chown(path, user.pw_uid, user.pw_gid)
            # The sandbox dir's parents must be traversable by the unprivileged user.
            for parent in (work.parent, self.root):
                os.chmod(parent, 0o755)

    def _limits(self) -> None:
        """Runs in the child between fork and exec: limits first, then drop privileges."""
        import resource

        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (self.memory_mb * mb, self.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.max_file_mb * mb, self.max_file_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
        if os.geteuid() == 0:
            user = self._user()
            if user is not None:
                os.setgroups([])
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (self.max_processes, self.max_processes))

    @staticmethod
    async def _read_port(proc: asyncio.subprocess.Process) -> int:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            text = line.decode(errors="replace").strip()
            if text.startswith("LISTENING "):
                return int(text.split()[1])
        raise SandboxError("the sandbox server exited before listening")

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
                return
            except TimeoutError:
                continue

    async def delete(self, handle: SandboxHandle) -> None:
        proc = self._procs.pop(handle.id, None)
        if proc is not None:
            await self._stop(proc)
        await asyncio.to_thread(shutil.rmtree, self.root / handle.id, True)

    async def sweep_orphans(self, keep: set[str]) -> list[str]:
        """Sandbox directories left by a previous run (their servers died with it)."""
        if not self.root.is_dir():
            return []
        gone = []
        for entry in self.root.iterdir():
            if entry.name.startswith("sandbox-") and entry.name not in keep:
                if entry.name in self._procs:
                    continue
                await asyncio.to_thread(shutil.rmtree, entry, True)
                gone.append(entry.name)
        return gone

    async def close(self) -> None:
        for sid in list(self._procs):
            proc = self._procs.pop(sid)
            await self._stop(proc)


def _reachable_by_others(path: str, *, directory: bool = False) -> bool:
    """True when every directory on the way to ``path`` (and the path itself) is world-x."""
    real = Path(os.path.realpath(path))
    if directory:
        real.mkdir(parents=True, exist_ok=True)
        os.chmod(real, 0o755)
    elif not real.is_file():
        return False
    return all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents])


async def _tail(stream: asyncio.StreamReader | None) -> str:
    if stream is None:
        return "no output"
    try:
        data = await asyncio.wait_for(stream.read(4000), 2.0)
    except TimeoutError:
        return "no output"
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"
