"""Split long Markdown into Slack-sized pieces on safe boundaries.

Rules, in order of preference: cut between paragraphs, then between lines, then between
words, and only as a last resort inside a word. A fenced code block is never left open: when
one must be cut, the piece is closed with the block's fence and the next piece reopens it with
the same opener (language included), so every piece renders as valid Markdown on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


@dataclass
class _Segment:
    kind: str  # "text" | "code"
    text: str  # raw text including trailing newlines (segments concatenate to the input)
    opener: str = ""  # code: the opening fence line without newline, e.g. "```python"
    fence: str = ""  # code: the fence characters, e.g. "```"


def _segments(text: str) -> list[_Segment]:
    """Paragraphs and fenced code blocks, each with the blank lines that follow it."""
    lines = text.splitlines(keepends=True)
    segs: list[_Segment] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i].rstrip("\n"))
        if m:
            fence = m.group(1)
            j = i + 1
            while j < len(lines):
                close = lines[j].strip()
                if close.startswith(fence[0] * len(fence)) and set(close) <= {fence[0]}:
                    j += 1
                    break
                j += 1
            body = "".join(lines[i:j])
            segs.append(_Segment("code", body, opener=lines[i].rstrip("\n").strip(), fence=fence))
            i = j
        else:
            j = i
            while j < len(lines) and lines[j].strip() and not _FENCE.match(lines[j].rstrip("\n")):
                j += 1
            if j == i:  # a blank line on its own
                j = i + 1
            segs.append(_Segment("text", "".join(lines[i:j])))
            i = j
        # blank lines belong to the segment they follow
        while i < len(lines) and not lines[i].strip():
            segs[-1].text += lines[i]
            i += 1
    return segs


def _hard_pieces(line: str, limit: int) -> list[str]:
    """Cut one over-long line at whitespace when possible, else at ``limit``."""
    out: list[str] = []
    rest = line
    while len(rest) > limit:
        cut = rest.rfind(" ", limit // 2, limit)
        if cut <= 0:
            cut = limit
        out.append(rest[:cut])
        rest = rest[cut:].lstrip(" ") if cut < limit else rest[cut:]
    if rest:
        out.append(rest)
    return out


def _split_text_segment(text: str, limit: int) -> list[str]:
    pieces: list[str] = []
    cur = ""
    for line in text.splitlines(keepends=True):
        parts = [line] if len(line) <= limit else _hard_pieces(line, limit)
        for part in parts:
            if len(cur) + len(part) > limit and cur:
                pieces.append(cur)
                cur = ""
            cur += part
    if cur:
        pieces.append(cur)
    return pieces


def _split_code_segment(seg: _Segment, limit: int) -> list[str]:
    lines = seg.text.splitlines(keepends=True)
    body = lines[1:]
    # drop the closing fence (and blank lines after it); we add our own to every piece
    while body and not body[-1].strip():
        body.pop()
    if body and body[-1].strip() and set(body[-1].strip()) <= {seg.fence[0]}:
        body.pop()
    head = seg.opener + "\n"
    tail = seg.fence + "\n"
    room = max(1, limit - len(head) - len(tail))
    pieces: list[str] = []
    cur = ""
    for line in body:
        parts = [line] if len(line) <= room else _hard_pieces(line, room)
        for part in parts:
            if not part.endswith("\n"):
                part += "\n"
            if len(cur) + len(part) > room and cur:
                pieces.append(head + cur + tail)
                cur = ""
            cur += part
    if cur or not pieces:
        pieces.append(head + cur + tail)
    return pieces


def split_markdown(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, each with balanced code fences."""
    if limit < 20:
        raise ValueError("limit too small to split Markdown sensibly")
    text = text or ""
    if len(text) <= limit and is_balanced(text):
        return [text] if text.strip() else []
    chunks: list[str] = []
    cur = ""
    for seg in _segments(text):
        seg_text = seg.text
        if seg.kind == "code" and not is_balanced(seg_text):
            seg_text = seg_text.rstrip("\n") + "\n" + seg.fence + "\n"  # close a dangling fence
        if len(cur) + len(seg_text) <= limit:
            cur += seg_text
            continue
        if cur.strip():
            chunks.append(cur)
        cur = ""
        if len(seg_text) <= limit:
            cur = seg_text
            continue
        pieces = (
            _split_code_segment(seg, limit)
            if seg.kind == "code"
            else _split_text_segment(seg_text, limit)
        )
        chunks.extend(pieces[:-1])
        cur = pieces[-1]
    if cur.strip():
        chunks.append(cur)
    return [c.strip("\n") for c in chunks if c.strip()]


def is_balanced(text: str) -> bool:
    """True when every opened code fence in ``text`` is closed."""
    open_fence: str | None = None
    for line in text.splitlines():
        m = _FENCE.match(line)
        if not m:
            continue
        fence = m.group(1)
        if open_fence is None:
            open_fence = fence
        elif fence[0] == open_fence[0] and len(fence) >= len(open_fence) and not m.group(2).strip():
            open_fence = None
    return open_fence is None


def preview(text: str, limit: int) -> tuple[str, bool]:
    """The first safe piece of ``text`` within ``limit`` chars, and whether anything was cut."""
    pieces = split_markdown(text, limit)
    if not pieces:
        return "", False
    return pieces[0], len(pieces) > 1


def clip(text: str, limit: int, marker: str = "…") -> str:
    """Plain-text truncation for short fields (labels, key arguments)."""
    text = text or ""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker
