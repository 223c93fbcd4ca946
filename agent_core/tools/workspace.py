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
import re
import signal
import tempfile
import unicodedata
from collections import deque
from pathlib import Path
from typing import Any

from .. import policy
from ..policy import ApprovalRequirement
from .base import Services, ToolContext, ToolSpec

READ_DEFAULT_LIMIT = 2000
READ_MAX_LINE_CHARS = 4000
READ_OUTPUT_BUDGET = 40_000  # characters of numbered lines per read call
WRITE_MAX_BYTES = 2_000_000
BASH_OUTPUT_CAP = 25_000
BASH_MAX_TIMEOUT_S = 3600.0
BASH_KILL_GRACE_S = 2.0
_READ_SET_KEY = "workspace_read_files"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


class WorkspaceError(ValueError):
    """A path or argument problem, phrased so the model can correct its call."""


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


def _atomic_write(target: Path, data: str) -> None:
    """Write via a temp file in the same directory and ``os.replace`` it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_text(target: Path) -> str:
    data = target.read_bytes()
    if b"\x00" in data[:8192]:
        raise WorkspaceError(f"{target.name} is a binary file ({len(data)} bytes); not shown")
    return data.decode("utf-8", errors="replace")


def _list_dir(target: Path, limit: int = 200) -> str:
    entries = sorted(target.iterdir(), key=lambda p: (not p.is_dir(), p.name))
    lines = []
    for p in entries[:limit]:
        if p.is_symlink():
            lines.append(f"{p.name}@")
        elif p.is_dir():
            lines.append(f"{p.name}/")
        else:
            lines.append(f"{p.name}  ({p.stat().st_size} bytes)")
    more = f"\n… and {len(entries) - limit} more" if len(entries) > limit else ""
    return "\n".join(lines) + more if lines else "(empty directory)"


def _python_warnings(path: Path, content: str) -> list[str]:
    """Cheap checks that catch the usual mistakes before a job burns GPU time."""
    if path.suffix != ".py":
        return []
    notes: list[str] = []
    try:
        compile(content, str(path.name), "exec")
    except SyntaxError as exc:
        notes.append(f"WARNING: SyntaxError at line {exc.lineno}: {exc.msg}")
    trains = any(
        k in content for k in ("TrainingArguments(", "SFTConfig(", "Trainer(", "GRPOConfig(")
    )
    if trains and "push_to_hub" not in content:
        notes.append(
            "NOTE: this looks like a training script without push_to_hub; job storage is "
            "ephemeral, so set push_to_hub=True and hub_model_id to keep the model."
        )
    return notes


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
        listing = await asyncio.to_thread(_list_dir, target)
        return f"Directory {_display(ctx, target)}:\n{listing}", True
    try:
        text = await asyncio.to_thread(_read_text, target)
    except WorkspaceError as exc:
        return f"ERROR: {exc}", False
    mark_read(ctx, target)
    lines = text.splitlines()
    total = len(lines)
    if total == 0:
        return f"{_display(ctx, target)} is empty.", True
    if offset > total:
        return f"ERROR: offset {offset} is past the end of the file ({total} lines)", False
    out: list[str] = []
    used = 0
    last = offset - 1
    for number in range(offset, min(total, offset + limit - 1) + 1):
        line = lines[number - 1]
        if len(line) > READ_MAX_LINE_CHARS:
            line = line[:READ_MAX_LINE_CHARS] + f"… [line cut, {len(line)} chars]"
        rendered = f"{number:6d}\t{line}"
        if out and used + len(rendered) + 1 > READ_OUTPUT_BUDGET:
            break
        out.append(rendered)
        used += len(rendered) + 1
        last = number
    body = "\n".join(out)
    if last < total:
        body += (
            f"\n\n[Showing lines {offset}-{last} of {total}. "
            f"Call read with offset={last + 1} to continue.]"
        )
    return body, True


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
        await asyncio.to_thread(_atomic_write, target, content)
    except OSError as exc:
        return f"ERROR: could not write {shown}: {exc.strerror or exc}", False
    mark_read(ctx, target)
    notes = _python_warnings(target, content)
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    msg = f"Wrote {shown} ({len(content)} chars, {lines} lines)."
    return "\n".join([msg, *notes]), True


# --------------------------------------------------------------------------- edit

EDIT_MODES = ("replace", "append_after", "prepend_before")

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


def _norm_variants() -> list[Any]:
    return [
        lambda s: s.rstrip(),
        lambda s: s.strip(),
        lambda s: unicodedata.normalize("NFKC", s).strip(),
    ]


def _find_spans(content: str, old: str) -> list[tuple[int, int]]:
    """Character spans of ``old`` in ``content``: exact first, then line-wise fuzzy matches.

    The fuzzy passes compare whole lines after rstrip → strip → NFKC+strip, which forgives the
    whitespace and quote-style drift that models introduce when they retype a snippet.
    """
    spans: list[tuple[int, int]] = []
    start = content.find(old)
    while start != -1:
        spans.append((start, start + len(old)))
        start = content.find(old, start + max(1, len(old)))
    if spans:
        return spans
    old_lines = old.strip("\n").splitlines()
    if not old_lines:
        return []
    lines = content.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    n = len(old_lines)
    for norm in _norm_variants():
        wanted = [norm(x) for x in old_lines]
        found = []
        for i in range(0, len(lines) - n + 1):
            if all(norm(lines[i + k].rstrip("\r\n")) == wanted[k] for k in range(n)):
                end = offsets[i + n]
                if lines[i + n - 1].endswith("\n") and not old.endswith("\n"):
                    end -= 1
                found.append((offsets[i], end))
        if found:
            return found
    return []


def apply_edit(content: str, old: str, new: str, mode: str, replace_all: bool) -> tuple[str, int]:
    """Return the edited content and the number of places changed (raises WorkspaceError)."""
    if old == "":
        raise WorkspaceError("old_str must not be empty")
    if mode not in EDIT_MODES:
        raise WorkspaceError(f"mode must be one of {', '.join(EDIT_MODES)}")
    spans = _find_spans(content, old)
    if not spans:
        raise WorkspaceError(
            "old_str was not found in the file (read the file again and copy it exactly)"
        )
    if len(spans) > 1 and not replace_all:
        raise WorkspaceError(
            f"old_str matches {len(spans)} places; add surrounding lines to make it unique "
            "or set replace_all=true"
        )
    out = []
    last = 0
    for s, e in spans:
        matched = content[s:e]
        piece = {"replace": new, "append_after": matched + new, "prepend_before": new + matched}[
            mode
        ]
        out.append(content[last:s])
        out.append(piece)
        last = e
    out.append(content[last:])
    return "".join(out), len(spans)


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
        content = await asyncio.to_thread(_read_text, target)
        updated, count = apply_edit(content, old, new, mode, bool(args.get("replace_all")))
        await asyncio.to_thread(_atomic_write, target, updated)
    except WorkspaceError as exc:
        return f"ERROR: {exc}", False
    except OSError as exc:
        return f"ERROR: could not edit {shown}: {exc.strerror or exc}", False
    notes = _python_warnings(target, updated)
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


class _Capture:
    """Keeps the first and last ``cap`` characters of a stream, never the whole thing."""

    def __init__(self, cap: int):
        self.cap = cap
        self.head: list[str] = []
        self.head_len = 0
        self.tail: deque[str] = deque()
        self.tail_len = 0
        self.total = 0

    def feed(self, text: str) -> None:
        self.total += len(text)
        if self.head_len < self.cap:
            take = text[: self.cap - self.head_len]
            self.head.append(take)
            self.head_len += len(take)
            text = text[len(take) :]
        if text:
            self.tail.append(text)
            self.tail_len += len(text)
            while self.tail and self.tail_len - len(self.tail[0]) >= self.cap:
                self.tail_len -= len(self.tail.popleft())

    def render(self) -> str:
        head = "".join(self.head)
        tail = "".join(self.tail)[-self.cap :]
        cut = self.total - len(head) - len(tail)
        if cut > 0:
            return f"{head}\n…[{cut} characters cut]…\n{tail}"
        return head + tail


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
    capture = _Capture(BASH_OUTPUT_CAP // 2)

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

    output = _ANSI.sub("", capture.render()).strip() or "(no output)"
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
