"""The text-editing rule behind the ``edit`` tool: find ``old_str`` (exactly, then line-wise
forgiving whitespace and quote drift), and replace or insert around it. Pure functions, no I/O.

Standard library only: the same rule runs in the host workspace tools and, shipped with
:mod:`.server`, inside a sandbox.
"""

from __future__ import annotations

import unicodedata
from typing import Any

EDIT_MODES = ("replace", "append_after", "prepend_before")


class WorkspaceError(ValueError):
    """A path or argument problem, phrased so the model can correct its call."""


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


def snippet(content: str, needle: str, context: int = 3) -> str:
    idx = content.find(needle) if needle else -1
    lines = content.splitlines()
    if idx == -1:
        return ""
    first = content.count("\n", 0, idx)
    last = first + needle.count("\n")
    lo, hi = max(0, first - context), min(len(lines), last + context + 1)
    return "\n".join(f"{i + 1:6d}\t{lines[i]}" for i in range(lo, hi))
