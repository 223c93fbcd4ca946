"""Workspace tools ``read``, ``write``, ``edit`` and ``bash``, confined to one directory per session.

Upstream ran these on the host with no gate at all, synchronously, and tracked "files read" in a
module global shared by every session. Here:

* every path goes through :func:`resolve_workspace_path`, which resolves symlinks and ``..``
  *before* checking containment, so neither ``../../etc/passwd`` nor a symlink planted inside
  the workspace can reach outside it;
* the read-before-edit set lives in ``ctx.session_state`` (per session);
* file I/O runs in a worker thread and writes are atomic (temp file + ``os.replace``);
* ``bash`` is offered only when ``config.tools.bash_enabled`` is true, every command needs a
  person's approval (class ``bash``, the command on the card), it runs in its own process group
  with a minimal environment (no HF/Slack/LLM secrets), and the whole group is killed on timeout,
  on interrupt (``ctx.cancel_event``) and on task cancellation.

Scripts written here can be submitted to ``hf_jobs`` by path: the jobs tool calls
:func:`resolve_workspace_path` and reads the file itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from .. import policy
from ..policy import ApprovalRequirement
from ..sandbox.fileops import (
    ANSI,
    EDIT_MODES,
    READ_DEFAULT_LIMIT,
    READ_OUTPUT_BUDGET,
    WRITE_MAX_BYTES,
    FileOpError,
    OutputCapture,
    apply_edit,
    atomic_write,
    list_dir,
    numbered,
    python_warnings,
    read_text,
)
from .base import Services, ToolContext, ToolSpec

BASH_OUTPUT_CAP = 25_000
BASH_MAX_TIMEOUT_S = 3600.0
BASH_KILL_GRACE_S = 2.0
_READ_SET_KEY = "workspace_read_files"


WorkspaceError = FileOpError


# --------------------------------------------------------------------------- paths


def resolve_workspace_path(ctx: ToolContext, path: str | os.PathLike[str]) -> Path:
    """Resolve ``path`` inside this session's workspace, or raise :class:`ValueError`.

    Public on purpose: ``hf_jobs`` uses it to turn ``script="train.py"`` into a file it can read.

    * A relative path is taken relative to the workspace root.
    * An absolute path is accepted only if it already points inside the workspace.
    * ``..`` components and symlinks (anywhere in the path, including a dangling final link) are
      resolved with :func:`os.path.realpath` first; if the real location is outside the
      workspace the call is refused. The returned path is that real location.
    """
    raw = os.fspath(path).strip() if path is not None else ""
    if not raw:
        raise WorkspaceError("path must not be empty")
    if "\x00" in raw:
        raise WorkspaceError("path must not contain NUL bytes")
    root = Path(os.path.realpath(ctx.workspace()))
    candidate = Path(raw)
    if not candidate.is_absolute():
        candidate = root / candidate
    real = Path(os.path.realpath(candidate))
    if real != root and root not in real.parents:
        raise WorkspaceError(
            f"path '{raw}' resolves outside this session's workspace ({root}); "
            "use a path relative to the workspace (symlinks and '..' may not leave it)"
        )
    return real


def _display(ctx: ToolContext, real: Path) -> str:
    root = Path(os.path.realpath(ctx.workspace()))
    rel = real.relative_to(root).as_posix() if real != root else "."
    return rel


def _read_set(ctx: ToolContext) -> set[str]:
    value = ctx.session_state.get(_READ_SET_KEY)
    if not isinstance(value, set):
        value = set(value or ())
        ctx.session_state[_READ_SET_KEY] = value
    return value


def mark_read(ctx: ToolContext, real: Path) -> None:
    """Record that the model has seen this file's current content (enables write/edit)."""
    _read_set(ctx).add(str(real))


def was_read(ctx: ToolContext, real: Path) -> bool:
    return str(real) in _read_set(ctx)


# --------------------------------------------------------------------------- file helpers


# --------------------------------------------------------------------------- read


READ_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {
            "type": "string",
            "description": "File (or directory) path, relative to the workspace.",
        },
        "offset": {"type": "integer", "description": "First line to show (1-based). Default 1."},
        "limit": {
            "type": "integer",
            "description": f"Number of lines. Default {READ_DEFAULT_LIMIT}.",
        },
    },
    "required": ["path"],
}


async def read_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    try:
        target = resolve_workspace_path(ctx, args.get("path") or "")
        offset = max(1, int(args.get("offset") or 1))
        limit = max(1, int(args.get("limit") or READ_DEFAULT_LIMIT))
    except (ValueError, TypeError) as exc:
        return f"ERROR: {exc}", False
    if not target.exists():
        return f"ERROR: {_display(ctx, target)} does not exist in the workspace", False
    if target.is_dir():
        listing = await asyncio.to_thread(list_dir, target)
        return f"Directory {_display(ctx, target)}:\n{listing}", True
    try:
        text = await asyncio.to_thread(read_text, target)
    except WorkspaceError as exc:
        return f"ERROR: {exc}", False
    mark_read(ctx, target)
    return numbered(text, offset, limit, _display(ctx, target))


# --------------------------------------------------------------------------- write


WRITE_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "File path, relative to the workspace."},
        "content": {"type": "string", "description": "The complete new file content."},
    },
    "required": ["path", "content"],
}


async def write_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    content = args.get("content")
    if not isinstance(content, str):
        return "ERROR: 'content' must be a string with the whole file", False
    if len(content.encode("utf-8")) > WRITE_MAX_BYTES:
        return f"ERROR: content exceeds {WRITE_MAX_BYTES} bytes; split it into smaller files", False
    try:
        target = resolve_workspace_path(ctx, args.get("path") or "")
    except ValueError as exc:
        return f"ERROR: {exc}", False
    shown = _display(ctx, target)
    if target.is_dir():
        return f"ERROR: {shown} is a directory", False
    if target.exists() and not was_read(ctx, target):
        return (
            f"ERROR: {shown} already exists and has not been read in this session. "
            "Call read on it first (or use edit) so you do not overwrite work you have not seen."
        ), False
    try:
        await asyncio.to_thread(atomic_write, target, content)
    except OSError as exc:
        return f"ERROR: could not write {shown}: {exc.strerror or exc}", False
    mark_read(ctx, target)
    notes = python_warnings(target, content)
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    msg = f"Wrote {shown} ({len(content)} chars, {lines} lines)."
    return "\n".join([msg, *notes]), True


# --------------------------------------------------------------------------- edit

EDIT_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "File path, relative to the workspace."},
        "old_str": {
            "type": "string",
            "description": "Text to find (must be unique unless replace_all).",
        },
        "new_str": {"type": "string", "description": "Replacement (or text to insert, see mode)."},
        "replace_all": {
            "type": "boolean",
            "description": "Apply to every occurrence. Default false.",
        },
        "mode": {
            "type": "string",
            "enum": list(EDIT_MODES),
            "description": "replace (default), append_after or prepend_before old_str.",
        },
    },
    "required": ["path", "old_str", "new_str"],
}


def _snippet(content: str, needle: str, context: int = 3) -> str:
    idx = content.find(needle) if needle else -1
    lines = content.splitlines()
    if idx == -1:
        return ""
    first = content.count("\n", 0, idx)
    last = first + needle.count("\n")
    lo, hi = max(0, first - context), min(len(lines), last + context + 1)
    return "\n".join(f"{i + 1:6d}\t{lines[i]}" for i in range(lo, hi))


async def edit_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    old, new = args.get("old_str"), args.get("new_str")
    if not isinstance(old, str) or not isinstance(new, str):
        return "ERROR: old_str and new_str must be strings", False
    mode = str(args.get("mode") or "replace")
    try:
        target = resolve_workspace_path(ctx, args.get("path") or "")
    except ValueError as exc:
        return f"ERROR: {exc}", False
    shown = _display(ctx, target)
    if not target.is_file():
        return f"ERROR: {shown} does not exist (use write to create it)", False
    if not was_read(ctx, target):
        return (
            f"ERROR: read {shown} first; edit only changes files you have seen in this session",
            False,
        )
    try:
        content = await asyncio.to_thread(read_text, target)
        updated, count = apply_edit(content, old, new, mode, bool(args.get("replace_all")))
        await asyncio.to_thread(atomic_write, target, updated)
    except WorkspaceError as exc:
        return f"ERROR: {exc}", False
    except OSError as exc:
        return f"ERROR: could not edit {shown}: {exc.strerror or exc}", False
    notes = python_warnings(target, updated)
    snippet = _snippet(updated, new) if new else ""
    msg = f"Edited {shown}: {count} place{'s' if count != 1 else ''} ({mode})."
    parts = [msg]
    if snippet:
        parts.append(snippet)
    return "\n".join(parts + notes), True


# --------------------------------------------------------------------------- bash

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

_ENV_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


def bash_environment(workspace: Path) -> dict[str, str]:
    """A minimal environment: never the process's tokens (HF, Slack, LLM keys, GitHub)."""
    env = {k: os.environ[k] for k in _ENV_PASSTHROUGH if os.environ.get(k)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        {
            "HOME": str(workspace),
            "TMPDIR": str(workspace / ".tmp"),
            "PYTHONUNBUFFERED": "1",
            "TERM": "dumb",
            "NO_COLOR": "1",
        }
    )
    return env


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
    pgid = proc.pid  # start_new_session=True → the shell leads its own group
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
        return f"ERROR: work_dir {_display(ctx, cwd)} is not a directory", False
    default_timeout = ctx.config.tools.bash_timeout_s if ctx.services.config else 120.0
    try:
        timeout = float(args.get("timeout") or default_timeout)
    except (TypeError, ValueError):
        return "ERROR: timeout must be a number of seconds", False
    timeout = min(max(timeout, 1.0), BASH_MAX_TIMEOUT_S)
    workspace = Path(os.path.realpath(ctx.workspace()))
    (workspace / ".tmp").mkdir(exist_ok=True)

    proc = await asyncio.create_subprocess_shell(
        command,
        cwd=str(cwd),
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


# --------------------------------------------------------------------------- provider


def tools(services: Services) -> list[ToolSpec]:
    if services.sandboxes is not None:
        return []  # the same tool names run in the session's sandbox (sandbox_tools)
    specs = [
        ToolSpec(
            name="read",
            description=(
                "Read a file from your workspace (numbered lines; use offset/limit for long "
                "files) or list a directory. Paths are relative to the workspace."
            ),
            parameters=READ_PARAMETERS,
            handler=read_handler,
            read_only=True,
            output_cap=READ_OUTPUT_BUDGET + 2_000,
            key_argument="path",
        ),
        ToolSpec(
            name="write",
            description=(
                "Create or overwrite a file in your workspace (atomic). Overwriting needs a prior "
                "read of that file. Scripts written here can be submitted to hf_jobs by path."
            ),
            parameters=WRITE_PARAMETERS,
            handler=write_handler,
            read_only=False,
            output_cap=4_000,
            key_argument="path",
        ),
        ToolSpec(
            name="edit",
            description=(
                "Edit a workspace file you have read: replace old_str with new_str (unique "
                "match unless replace_all), or insert new_str after/before it (mode)."
            ),
            parameters=EDIT_PARAMETERS,
            handler=edit_handler,
            read_only=False,
            output_cap=8_000,
            key_argument="path",
        ),
    ]
    config = services.config
    if config is not None and config.tools.bash_enabled:
        specs.append(
            ToolSpec(
                name="bash",
                description=(
                    "Run a shell command in your workspace (each command needs approval). "
                    "No secrets are in its environment. Output is capped; long-running work "
                    "belongs in hf_jobs, not here."
                ),
                parameters=BASH_PARAMETERS,
                handler=bash_handler,
                read_only=False,
                approval=bash_approval,
                output_cap=BASH_OUTPUT_CAP + 2_000,
                key_argument="command",
            )
        )
    return specs
