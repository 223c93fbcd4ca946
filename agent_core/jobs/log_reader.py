"""Reading a running job's log, tail after tail, without counting a line twice.

The watcher fetches a bounded tail (:meth:`HubClient.job_log_tail`) every few seconds; each
tail overlaps the previous one. :class:`LogReader` keeps what was read — the raw tail, a
display tail with install chatter collapsed, the metrics and dashboard links parsed so far —
and hands back only the lines that are new, which is what metrics, NaN detection and the
stall warning must look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..hub import LogTail
from .metrics import collapse_installs, dashboard_links, parse_metrics


@dataclass
class LogReader:
    """One job's log as read so far. Restored from the job record after a restart."""

    last_ts: str | None = None
    seen_at_last_ts: set[str] = field(default_factory=set)
    raw_tail: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)  # for display (install chatter collapsed)
    metrics: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    @classmethod
    def restore(cls, info: dict[str, Any]) -> LogReader:
        """From a job record's ``info`` (what :meth:`persisted` saved)."""
        return cls(
            last_ts=info.get("last_log_ts"),
            tail=list(info.get("log_tail") or []),
            metrics=dict(info.get("metrics") or {}),
        )

    def persisted(self) -> dict[str, Any]:
        """What a restart needs back (merged into the job record's ``info``)."""
        return {"metrics": self.metrics, "log_tail": self.tail, "last_log_ts": self.last_ts}

    def read(self, tail: LogTail) -> list[str]:
        """Take in a fresh tail; returns its new lines (metrics and links already updated)."""
        new = self.new_lines(tail.entries)
        if tail.lines:
            self.raw_tail = tail.lines
            self.tail = collapse_installs(tail.lines)
        if new:
            self.metrics.update(parse_metrics(new))
            self.links.update(dashboard_links(new))
        return new

    def new_lines(self, entries: list[tuple[str | None, str]]) -> list[str]:
        """Lines not seen in earlier tails, and advance the watermark.

        With server timestamps (the Hub sends ISO times): lines after the last seen timestamp,
        plus lines *at* it that were not seen yet (several lines can share a millisecond).
        Without them: the part of the new tail that does not overlap the previous one.
        """
        if not entries:
            return []
        lines = [line for _, line in entries]
        if all(ts for ts, _ in entries):
            last = self.last_ts
            new = [
                line
                for ts, line in entries
                if last is None
                or str(ts) > last
                or (ts == last and line not in self.seen_at_last_ts)
            ]
            top = max(str(ts) for ts, _ in entries)
            if last is None or top > last:
                self.last_ts = top
                self.seen_at_last_ts = set()
            self.seen_at_last_ts |= {line for ts, line in entries if ts == self.last_ts}
            return new
        prev = self.raw_tail
        if not prev:
            return list(lines)
        # Longest suffix of the previous tail that is a prefix of the new one: the overlap.
        for k in range(min(len(prev), len(lines)), 0, -1):
            if prev[-k:] == lines[:k]:
                return list(lines[k:])
        return [] if lines == prev else list(lines)
