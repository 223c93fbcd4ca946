"""Workspace tools ``read``, ``write`` and ``edit``, confined to one directory per session.

Upstream ran these on the host with no gate at all, synchronously, and tracked "files read" in a
module global shared by every session. Here:

* every path goes through :func:`resolve_workspace_path`, which resolves symlinks and ``..``
  *before* checking containment, so neither ``../../etc/passwd`` nor a symlink planted inside
  the workspace can reach outside it; a file with more than one hard link (which may be the
  same inode as a file outside), a FIFO or device, and anything under ``/proc`` are refused,
  and files are opened with ``O_NOFOLLOW`` so a link swapped in after the check is not followed;
* a session's workspace has a quota (``tools.workspace_quota_bytes``) and no write or edit may
  make a file larger than the write cap;
* the read-before-edit set lives in ``ctx.session_state`` (per session);
* file I/O runs in a worker thread and writes are atomic (temp file + ``os.replace``).

``bash`` lives in :mod:`.bash_tool` (sandboxed, approval-gated). Scripts written here can be
submitted to ``hf_jobs`` by path: the jobs tool calls :func:`resolve_workspace_path` and
:func:`read_workspace_text`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from pathlib import Path
from typing import Any

from ..sandbox.fileops import (
    READ_DEFAULT_LIMIT,
    READ_OUTPUT_BUDGET,
    WRITE_MAX_BYTES,
    atomic_write,
    list_dir,
    numbered,
    python_warnings,
)
from ..sandbox.text_edit import EDIT_MODES, WorkspaceError, apply_edit, snippet
from .base import Services, ToolContext, ToolSpec

_READ_SET_KEY = "workspace_read_files"


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
    try:
        real = Path(os.path.realpath(candidate))
    except OSError as exc:  # e.g. a link into /proc that the kernel will not resolve
        raise WorkspaceError(f"path '{raw}' cannot be resolved: {exc.strerror or exc}") from exc
    if real != root and root not in real.parents:
        raise WorkspaceError(
            f"path '{raw}' resolves outside this session's workspace ({root}); "
            "use a path relative to the workspace (symlinks and '..' may not leave it)"
        )
    if real.parts[:2] == ("/", "proc"):
        raise WorkspaceError(f"path '{raw}' is under /proc, which workspace tools never read")
    _refuse_foreign_inode(raw, real)
    return real


def _refuse_foreign_inode(raw: str, real: Path) -> None:
    """A hard link shares its inode with a file that may live outside the workspace, and a FIFO
    or device is not a file: neither is something the workspace tools may touch."""
    try:
        info = os.lstat(real)
    except OSError:
        return  # does not exist (yet): a new file
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        raise WorkspaceError(
            f"'{raw}' is a hard link ({info.st_nlink} names for one file); workspace tools "
            "refuse hard links because the other name may be outside the workspace"
        )
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise WorkspaceError(f"'{raw}' is not a regular file or directory")


def read_workspace_text(target: Path) -> str:
    """Read a resolved workspace file without following a link swapped in since the check."""
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            raise WorkspaceError(f"{target.name} is not a plain file of this workspace")
        data = fh.read()
    if b"\x00" in data[:8192]:
        raise WorkspaceError(f"{target.name} is a binary file ({len(data)} bytes); not shown")
    return data.decode("utf-8", errors="replace")


def display_path(ctx: ToolContext, real: Path) -> str:
    """``real`` as the model should name it: relative to the workspace root."""
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


def workspace_usage(root: Path, *, skip: Path | None = None) -> int:
    """Bytes used by the files under ``root`` (without following links), except ``skip``."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if skip is not None and path == str(skip):
                continue
            with contextlib.suppress(OSError):
                total += os.lstat(path).st_size
    return total


def _check_quota(ctx: ToolContext, target: Path, new_size: int) -> None:
    """Refuse a write that would take this session's workspace over its quota."""
    quota = ctx.config.tools.workspace_quota_bytes if ctx.services.config else None
    if not quota:
        return
    root = Path(os.path.realpath(ctx.workspace()))
    used = workspace_usage(root, skip=target)
    if used + new_size > quota:
        raise WorkspaceError(
            f"this would take the session workspace to {used + new_size} bytes, over its "
            f"quota of {quota} bytes; delete files you no longer need (nothing was written)"
        )


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
        return f"ERROR: {display_path(ctx, target)} does not exist in the workspace", False
    if target.is_dir():
        listing = await asyncio.to_thread(list_dir, target)
        return f"Directory {display_path(ctx, target)}:\n{listing}", True
    try:
        text = await asyncio.to_thread(read_workspace_text, target)
    except WorkspaceError as exc:
        return f"ERROR: {exc}", False
    mark_read(ctx, target)
    return numbered(text, offset, limit, display_path(ctx, target))


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
    shown = display_path(ctx, target)
    if target.is_dir():
        return f"ERROR: {shown} is a directory", False
    if target.exists() and not was_read(ctx, target):
        return (
            f"ERROR: {shown} already exists and has not been read in this session. "
            "Call read on it first (or use edit) so you do not overwrite work you have not seen."
        ), False
    try:
        await asyncio.to_thread(_check_quota, ctx, target, len(content.encode("utf-8")))
        await asyncio.to_thread(atomic_write, target, content)
    except WorkspaceError as exc:
        return f"ERROR: {exc}", False
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


async def edit_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    old, new = args.get("old_str"), args.get("new_str")
    if not isinstance(old, str) or not isinstance(new, str):
        return "ERROR: old_str and new_str must be strings", False
    mode = str(args.get("mode") or "replace")
    try:
        target = resolve_workspace_path(ctx, args.get("path") or "")
    except ValueError as exc:
        return f"ERROR: {exc}", False
    shown = display_path(ctx, target)
    if not target.is_file():
        return f"ERROR: {shown} does not exist (use write to create it)", False
    if not was_read(ctx, target):
        return (
            f"ERROR: read {shown} first; edit only changes files you have seen in this session",
            False,
        )
    try:
        content = await asyncio.to_thread(read_workspace_text, target)
        updated, count = apply_edit(content, old, new, mode, bool(args.get("replace_all")))
        size = len(updated.encode("utf-8"))
        if size > WRITE_MAX_BYTES:
            raise WorkspaceError(
                f"the edit would make {shown} {size} bytes, over the {WRITE_MAX_BYTES}-byte "
                "file limit; nothing was changed"
            )
        await asyncio.to_thread(_check_quota, ctx, target, size)
        await asyncio.to_thread(atomic_write, target, updated)
    except WorkspaceError as exc:
        return f"ERROR: {exc}", False
    except OSError as exc:
        return f"ERROR: could not edit {shown}: {exc.strerror or exc}", False
    notes = python_warnings(target, updated)
    shown_lines = snippet(updated, new) if new else ""
    msg = f"Edited {shown}: {count} place{'s' if count != 1 else ''} ({mode})."
    parts = [msg]
    if shown_lines:
        parts.append(shown_lines)
    return "\n".join(parts + notes), True


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
        from .bash_tool import bash_spec  # bash_tool builds on this module

        specs.append(bash_spec())
    return specs
