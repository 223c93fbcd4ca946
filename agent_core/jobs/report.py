"""The end of a job, decided once: :class:`JobFinished`.

The watcher builds one report when a job reaches a terminal stage; it travels as the data of
the ``job_finished`` event. Everyone who tells people (or the agent) about the end of a job
formats *this* value — the Slack job card and thread message (:mod:`bot.jobs`), the
notifications (:mod:`gateways.compose`) and the note that resumes the agent
(:func:`finished_note`) — so they can differ in markup, never in facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..durations import format_duration
from ..pricing import format_usd
from .stages import Outcome, normalize_stage, outcome_of

NOTE_TAIL_LINES = 8
NOTE_MAX_CHARS = 2_000
MAX_ERROR_CHARS = 1_000


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class JobFinished:
    """How a job ended: stage, time, cost, the last log lines and metrics, who cancelled it."""

    job_id: str
    stage: str
    wall_time_s: float | None = None
    cost_usd: float | None = None
    url: str = ""
    flavor: str = ""
    namespace: str = ""
    requester: str | None = None
    tool_call_id: str | None = None
    log_tail: tuple[str, ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    canceled_by: str | None = None
    reported_after_restart: bool = False

    @property
    def outcome(self) -> Outcome | None:
        return outcome_of(self.stage)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> JobFinished:
        """The report from a ``job_finished`` event's data (or a job card's merged state).

        Tolerant: events persisted by older builds, or hand-written in tests, may lack fields.
        """
        tail = data.get("log_tail")
        if isinstance(tail, str):
            tail = tail.splitlines()
        metrics, links = data.get("metrics"), data.get("links")
        return cls(
            job_id=str(data.get("job_id") or "?"),
            stage=normalize_stage(data.get("stage")),
            wall_time_s=_float(data.get("wall_time_s")),
            cost_usd=_float(data.get("cost_usd")),
            url=str(data.get("url") or ""),
            flavor=str(data.get("flavor") or ""),
            namespace=str(data.get("namespace") or ""),
            requester=str(data["requester"]) if data.get("requester") else None,
            tool_call_id=str(data["tool_call_id"]) if data.get("tool_call_id") else None,
            log_tail=tuple(str(line) for line in tail or ()),
            metrics=dict(metrics) if isinstance(metrics, Mapping) else {},
            links=dict(links) if isinstance(links, Mapping) else {},
            error=str(data["error"]) if data.get("error") else None,
            canceled_by=str(data["canceled_by"]) if data.get("canceled_by") else None,
            reported_after_restart=bool(data.get("reported_after_restart")),
        )

    def to_data(self) -> dict[str, Any]:
        """The ``job_finished`` event's data (optional facts only when present)."""
        data: dict[str, Any] = {
            "job_id": self.job_id,
            "stage": self.stage,
            "wall_time_s": None if self.wall_time_s is None else round(self.wall_time_s, 1),
            "cost_usd": self.cost_usd,
            "url": self.url,
            "log_tail": list(self.log_tail),
            "flavor": self.flavor,
            "namespace": self.namespace,
            "requester": self.requester,
            "tool_call_id": self.tool_call_id,
            "metrics": dict(self.metrics),
            "links": dict(self.links),
        }
        if self.error:
            data["error"] = self.error[:MAX_ERROR_CHARS]
        if self.canceled_by:
            data["canceled_by"] = self.canceled_by
        if self.reported_after_restart:
            data["reported_after_restart"] = True
        return data

    def last_lines(self, count: int) -> list[str]:
        """The last ``count`` non-empty log lines."""
        return [line for line in self.log_tail if line][-count:] if count > 0 else []

    def metric_pairs(self, count: int) -> list[tuple[str, Any]]:
        """The first ``count`` metrics as (name, value)."""
        return list(self.metrics.items())[:count]


def finished_note(report: JobFinished) -> str:
    """The system note that resumes the agent after a job ends (short, no secrets)."""
    parts = [
        f"[SYSTEM: HF job {report.job_id} on {report.flavor} finished with stage "
        f"{report.stage} after {format_duration(report.wall_time_s) or 'unknown'} "
        f"(cost ≈ {format_usd(report.cost_usd)}). URL: {report.url}."
    ]
    if report.error:
        parts.append(f"Error: {report.error[:300]}")
    if report.canceled_by:
        parts.append(f"It was cancelled by {report.canceled_by}.")
    if report.metrics:
        parts.append("Last metrics: " + ", ".join(f"{k}={v}" for k, v in report.metric_pairs(8)))
    tail = report.last_lines(NOTE_TAIL_LINES)
    if tail:
        parts.append("Last log lines:\n" + "\n".join(tail))
    parts.append(
        "Follow up as planned (check the outputs, evaluate, push or report the result to the "
        "user); if it failed, explain why and propose a fix instead of resubmitting blindly.]"
    )
    text = "\n".join(parts)
    return text if len(text) <= NOTE_MAX_CHARS else text[: NOTE_MAX_CHARS - 2] + "…]"
