"""File operations shared by the local workspace tools and the sandbox server.

Standard library only, on purpose: this module is uploaded next to
:mod:`agent_core.sandbox.server` into a sandbox Space (or copied into a local sandbox
directory) and must run there without the rest of the package. One implementation of
"what an edit matches", "how a read is numbered" and "how long output is cut" means the
model sees the same behaviour whether its tools run on the bot's host or in a sandbox.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections import deque
from pathlib import Path

from .text_edit import WorkspaceError

READ_DEFAULT_LIMIT = 2000
READ_MAX_LINE_CHARS = 4000
READ_OUTPUT_BUDGET = 40_000  # characters of numbered lines per read call
WRITE_MAX_BYTES = 2_000_000
OUTPUT_CAP = 25_000
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


def atomic_write(target: Path, data: str) -> None:
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


def read_text(target: Path) -> str:
    data = target.read_bytes()
    if b"\x00" in data[:8192]:
        raise WorkspaceError(f"{target.name} is a binary file ({len(data)} bytes); not shown")
    return data.decode("utf-8", errors="replace")


def list_dir(target: Path, limit: int = 200) -> str:
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


def python_warnings(path: Path, content: str) -> list[str]:
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


def numbered(text: str, offset: int, limit: int, shown: str) -> tuple[str, bool]:
    """Lines ``offset``… of ``text`` as ``%6d\\t`` numbered lines, within the output budget."""
    lines = text.splitlines()
    total = len(lines)
    if total == 0:
        return f"{shown} is empty.", True
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


class OutputCapture:
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
