"""``bash``: a shell command in the session workspace, run inside a bubblewrap sandbox.

A clean environment is not isolation: a command running as the bot's user can read the bot's
tokens from ``/proc/$PPID/environ``, ``~/.cache/huggingface/token``, the config file or the
store. So every command runs under ``bwrap`` (Debian's ``bubblewrap``) in fresh user, PID,
mount, IPC and UTS namespaces: the filesystem it sees is the system's programs (read-only), a
few files of ``/etc``, a private ``/tmp`` and this session's workspace; ``/proc`` is a new one
that shows only the sandbox's own processes. Network is shared (``pip install`` must work).
If bubblewrap is missing or cannot create namespaces here, ``bash`` refuses to run rather than
run on the host.

Every command still needs a person's approval (class ``bash``, the command on the card). The
sandbox is the leader of its own process group; on timeout, interrupt or task cancellation the
group is killed, and ``--die-with-parent`` plus the PID namespace take everything the command
started down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from .. import policy
from ..policy import ApprovalRequirement
from ..redact import scrub_text
from ..sandbox.fileops import ANSI, OutputCapture
from .base import PreparedCall, ToolContext, ToolSpec, sha256_text
from .workspace import display_path, resolve_workspace_path

BASH_OUTPUT_CAP = 25_000
BASH_MAX_TIMEOUT_S = 3600.0
BASH_KILL_GRACE_S = 2.0

# What of /etc a shell and pip need (name resolution, TLS roots, the dynamic linker's cache,
# Debian's alternatives). Nothing else of the host's /etc is visible.
SANDBOX_ETC = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "group", "host.conf", "hosts",
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "mime.types", "nsswitch.conf",
    "passwd", "pki", "protocols", "python3", "resolv.conf", "services", "ssl",
)  # fmt: skip

BASH_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "Shell command to run in the workspace."},
        "description": {
            "type": "string",
            "description": "What the command is for (shown on the approval card).",
        },
        "work_dir": {
            "type": "string",
            "description": "Directory relative to the workspace. Default '.'.",
        },
        "timeout": {"type": "integer", "description": "Seconds before the command is killed."},
    },
    "required": ["command"],
}

_ENV_PASSTHROUGH = ("LANG", "LC_ALL", "TZ")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot build its namespaces on this host."""


def bash_environment(workspace: Path) -> dict[str, str]:
    """A minimal environment: never the process's tokens (HF, Slack, LLM keys, GitHub)."""
    env = {k: os.environ[k] for k in _ENV_PASSTHROUGH if os.environ.get(k)}
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(workspace),
            "TMPDIR": "/tmp",
            "PYTHONUNBUFFERED": "1",
            "TERM": "dumb",
            "NO_COLOR": "1",
        }
    )
    return env


def sandbox_argv(bwrap: str, workspace: Path, cwd: Path) -> list[str]:
    """The bubblewrap command line that confines one shell to ``workspace``."""
    argv = [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-all",
        "--share-net",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for top in ("bin", "lib", "lib32", "lib64", "sbin"):
        host = Path("/") / top
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), str(host)]
    for name in SANDBOX_ETC:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    argv += [
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--bind", str(workspace), str(workspace),
        "--chdir", str(cwd),
        "--",
        "/bin/sh", "-c",
    ]  # fmt: skip
    return argv


_probed: dict[str, str | None] = {}


async def require_sandbox(bwrap_setting: str) -> str:
    """The bwrap executable, once it has been seen to build a sandbox here (cached)."""
    path = shutil.which(bwrap_setting)
    if path is None:
        raise SandboxUnavailable(
            f"bash runs only inside a bubblewrap sandbox and '{bwrap_setting}' was not found "
            "(install Debian's bubblewrap package, or set tools.bash_sandbox_command)"
        )
    if path not in _probed:
        probe_dir = Path("/tmp")
        proc = await asyncio.create_subprocess_exec(
            *sandbox_argv(path, probe_dir, probe_dir),
            "true",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        _probed[path] = None if proc.returncode == 0 else err.decode(errors="replace")[:300]
    if _probed[path] is not None:
        raise SandboxUnavailable(
            f"bash runs only inside a bubblewrap sandbox and it cannot start here: {_probed[path]}"
        )
    return path


def bash_approval(args: dict[str, Any], config: Any) -> ApprovalRequirement:
    """Every command asks a person, with the command itself as the reason shown on the card."""
    command = str(args.get("command") or "").strip()
    desc = str(args.get("description") or "").strip()
    reason = f"run shell command: {command}" + (f" ({desc})" if desc else "")
    return ApprovalRequirement(True, policy.BASH, reason)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """TERM the whole process group, then KILL it if anything is still there after a grace."""
    pgid = proc.pid  # start_new_session=True → the sandbox leads its own group
    _kill_group(pgid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), BASH_KILL_GRACE_S)
    except TimeoutError:
        pass
    _kill_group(pgid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await proc.wait()


async def bash_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    command = args.get("command")
    if not isinstance(command, str) or not command.strip():
        return "ERROR: 'command' must be a non-empty string", False
    try:
        cwd = resolve_workspace_path(ctx, args.get("work_dir") or ".")
    except ValueError as exc:
        return f"ERROR: {exc}", False
    if not cwd.is_dir():
        return f"ERROR: work_dir {display_path(ctx, cwd)} is not a directory", False
    default_timeout = ctx.config.tools.bash_timeout_s if ctx.services.config else 120.0
    try:
        timeout = float(args.get("timeout") or default_timeout)
    except (TypeError, ValueError):
        return "ERROR: timeout must be a number of seconds", False
    timeout = min(max(timeout, 1.0), BASH_MAX_TIMEOUT_S)
    workspace = Path(os.path.realpath(ctx.workspace()))
    bwrap_setting = ctx.config.tools.bash_sandbox_command if ctx.services.config else "bwrap"
    try:
        bwrap = await require_sandbox(bwrap_setting)
    except SandboxUnavailable as exc:
        return f"ERROR: {exc}", False

    proc = await asyncio.create_subprocess_exec(
        *sandbox_argv(bwrap, workspace, cwd),
        command,
        env=bash_environment(workspace),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )

    async def cleanup() -> None:
        if proc.returncode is None:
            await _terminate(proc)

    ctx.register_cleanup(f"bash:{ctx.tool_call_id}", cleanup)
    capture = OutputCapture(BASH_OUTPUT_CAP // 2)

    async def pump() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            capture.feed(chunk.decode("utf-8", errors="replace"))

    reader = asyncio.create_task(pump())
    waiter = asyncio.create_task(proc.wait())
    cancelled = asyncio.create_task(ctx.cancel_event.wait())
    outcome = "done"
    try:
        done, _ = await asyncio.wait(
            {waiter, cancelled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            outcome = "interrupted" if cancelled in done else "timeout"
            await _terminate(proc)
        # The shell may exit while a background child still holds the pipe: bound the drain.
        try:
            await asyncio.wait_for(asyncio.shield(reader), 5.0)
        except TimeoutError:
            _kill_group(proc.pid, signal.SIGKILL)
            reader.cancel()
    finally:
        cancelled.cancel()
        if proc.returncode is None:  # task cancelled (turn interrupted) or an error above
            await _terminate(proc)
        # Nothing the command started may outlive it (long work belongs in hf_jobs).
        _kill_group(proc.pid, signal.SIGKILL)
        if not reader.done():
            reader.cancel()
        waiter.cancel()

    output = ANSI.sub("", capture.render()).strip() or "(no output)"
    if outcome == "timeout":
        return f"{output}\n\nERROR: command timed out after {timeout:.0f}s and was killed", False
    if outcome == "interrupted":
        return f"{output}\n\nERROR: interrupted; the command was killed", False
    code = proc.returncode
    if code != 0:
        return f"{output}\n\nERROR: exit code {code}", False
    return output, True


async def prepare_bash(args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
    """The card shows the whole command (scrubbed) and its hash, and where it will run."""
    command = str(args.get("command") or "")
    return PreparedCall(
        args,
        {
            "kind": "bash",
            "command": scrub_text(command),
            "command_sha256": sha256_text(command),
            "work_dir": str(args.get("work_dir") or "."),
            "sandbox": "bubblewrap: sees only this session's workspace and system programs",
        },
    )


def bash_spec() -> ToolSpec:
    return ToolSpec(
        name="bash",
        description=(
            "Run a shell command in your workspace (each command needs approval), inside a "
            "sandbox that sees only the workspace and the system's programs. No secrets are "
            "reachable from it. Output is capped; long-running work belongs in hf_jobs."
        ),
        parameters=BASH_PARAMETERS,
        handler=bash_handler,
        read_only=False,
        approval=bash_approval,
        output_cap=BASH_OUTPUT_CAP + 2_000,
        key_argument="command",
        prepare=prepare_bash,
    )
