"""A job's log as the Hub streams it: the SSE lines, cleaned, and the bounded tail we keep.

``/api/jobs/<ns>/<id>/logs`` is Server-Sent Events: ``data: {"data": "<line>", "timestamp":
"<iso>"}`` per log line, replayed for the requested tail and then (while the job runs)
followed live. Progress bars redraw with carriage returns and colour with ANSI codes, so each
line is cleaned before anyone parses metrics from it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

LOG_LINE_MAX_CHARS = 500
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_JOB_STARTED_BANNER = "===== Job started"


@dataclass
class LogTail:
    """The last lines of a job's log. ``ended`` is True when the server closed the stream
    (the job is over, or has no more output) rather than our deadline cutting it."""

    lines: list[str] = field(default_factory=list)
    ended: bool = False
    entries: list[tuple[str | None, str]] = field(default_factory=list)  # (timestamp, line)

    @property
    def last_timestamp(self) -> str | None:
        stamps = [ts for ts, _ in self.entries if ts]
        return max(stamps) if stamps else None


def clean_log_line(line: str) -> str:
    """Strip ANSI codes and carriage-return redraws (progress bars); cap the length."""
    line = _ANSI.sub("", line)
    if "\r" in line:
        parts = [p for p in line.split("\r") if p.strip()]
        line = parts[-1] if parts else ""
    line = line.rstrip()
    if len(line) > LOG_LINE_MAX_CHARS:
        line = line[: LOG_LINE_MAX_CHARS - 1] + "…"
    return line


def sse_json(raw: str) -> dict[str, Any] | None:
    """The JSON object of one SSE ``data: {...}`` line; None for keep-alives, ``event:``
    lines and junk (the Jobs logs and metrics streams both send one object per line)."""
    if not raw.startswith("data: {"):
        return None
    try:
        event = json.loads(raw[6:])
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def parse_log_event(raw: str) -> tuple[str | None, str] | None:
    """One SSE line → ``(timestamp, cleaned line)``; None for keep-alives, banners, junk."""
    event = sse_json(raw)
    if event is None:
        return None
    text = str(event.get("data", ""))
    if text.startswith(_JOB_STARTED_BANNER):
        return None
    stamp = event.get("timestamp")
    return (str(stamp) if stamp else None, clean_log_line(text))


def parse_metrics_event(raw: str) -> dict[str, Any] | None:
    """One SSE line of the Jobs metrics stream → the sample dict; None for anything else.

    The stream sends ``event: metric`` then ``data: {...}`` (see ``HfApi.fetch_job_metrics``).
    """
    return sse_json(raw)
