"""Run-health checks a careful ML engineer makes by eye, as pure functions over a job's series.

Each check answers "is this happening right now?" with the numbers that show it, so a warning
can say *what was seen* ("train loss rose from 0.41 to 1.37 over the last 20 steps") rather
than "something is wrong". :class:`HealthMonitor` turns those answers into *episodes*: a
condition that starts is reported once; it is reported again only after it has cleared. That
is what keeps a 2 a.m. channel from getting the same warning every polling period.

Thresholds come from the team's preferences (:mod:`.preferences`), with defaults a
practitioner would pick.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .series import GPU_MEM, GPU_UTIL, JobSeries, Series

# Condition names: the vocabulary shared by the checks, the preferences file's `when:` and
# the experiment log.
NAN = "nan_loss"
DIVERGING = "loss_diverging"
OVERFITTING = "overfitting"
GPU_IDLE = "gpu_idle"
GPU_MEMORY = "gpu_memory_high"
STALLED = "stalled"
THROUGHPUT = "throughput_collapse"
CONDITIONS = (NAN, DIVERGING, OVERFITTING, GPU_IDLE, GPU_MEMORY, STALLED, THROUGHPUT)


@dataclass(frozen=True)
class Thresholds:
    """When each condition counts as happening. Minutes are wall-clock minutes of the run."""

    gpu_idle_pct: float = 10.0
    gpu_idle_minutes: float = 10.0
    gpu_memory_pct: float = 95.0
    divergence_window: int = 20
    divergence_ratio: float = 1.5
    overfitting_evals: int = 3
    stall_minutes: float = 30.0
    throughput_drop_ratio: float = 0.3


@dataclass(frozen=True)
class Finding:
    """One condition seen now, with the evidence a person (or the agent) needs."""

    condition: str
    summary: str
    numbers: dict[str, float] = field(default_factory=dict)


def _finite(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in points if not (math.isnan(y) or math.isinf(y))]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 when x does not vary)."""
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    if den == 0:
        return 0.0
    return sum((p[0] - mx) * (p[1] - my) for p in points) / den


def check_nan(series: JobSeries, t: Thresholds) -> Finding | None:
    for key, s in series.metrics.items():
        if ("loss" in key or "grad" in key) and s.points:
            y = s.points[-1][1]
            if math.isnan(y) or math.isinf(y):
                step = s.points[-1][0]
                return Finding(NAN, f"{key} is {y} at step {step:g}", {"step": step})
    return None


def check_diverging(series: JobSeries, t: Thresholds) -> Finding | None:
    """Train loss trending up over the window and well above its best value so far."""
    key = series.loss_key()
    if key is None:
        return None
    all_points = _finite(series.metrics[key].points)
    window = all_points[-t.divergence_window :]
    if len(window) < max(5, t.divergence_window // 2):
        return None
    best = min(y for _, y in all_points)
    first_x, first_y = window[0]
    last_x, last_y = window[-1]
    recent = statistics.fmean(y for _, y in window[-max(3, len(window) // 4) :])
    if _slope(window) <= 0 or best <= 0 or recent < best * t.divergence_ratio:
        return None
    return Finding(
        DIVERGING,
        f"{key} rose from {_fmt(first_y)} (step {first_x:g}) to {_fmt(last_y)} "
        f"(step {last_x:g}); best so far {_fmt(best)}, recent mean {_fmt(recent)} "
        f"= {recent / best:.1f}× the best",
        {"from": first_y, "to": last_y, "best": best, "recent_mean": recent, "step": last_x},
    )


def check_overfitting(series: JobSeries, t: Thresholds) -> Finding | None:
    """Eval loss rising for N evaluations in a row while train loss keeps falling."""
    ek, tk = series.eval_loss_key(), series.loss_key()
    if ek is None or tk is None:
        return None
    evals = _finite(series.metrics[ek].points)
    n = t.overfitting_evals
    if len(evals) < n + 1:
        return None
    tail = evals[-(n + 1) :]
    if not all(b[1] > a[1] for a, b in zip(tail, tail[1:], strict=False)):
        return None
    train = [p for p in _finite(series.metrics[tk].points) if p[0] >= tail[0][0]]
    if len(train) < 3 or _slope(train) >= 0:
        return None
    return Finding(
        OVERFITTING,
        f"{ek} rose for {n} evaluations in a row ({_fmt(tail[0][1])} → {_fmt(tail[-1][1])}, "
        f"steps {tail[0][0]:g}–{tail[-1][0]:g}) while {tk} fell "
        f"({_fmt(train[0][1])} → {_fmt(train[-1][1])})",
        {"eval_from": tail[0][1], "eval_to": tail[-1][1], "train_to": train[-1][1]},
    )


def _window_mean(s: Series | None, now: float, minutes: float) -> tuple[float, float] | None:
    """(mean, covered seconds) over the last ``minutes``, when the window is mostly covered."""
    if s is None or not s.points:
        return None
    start = now - minutes * 60
    pts = s.since(start)
    if len(pts) < 2 or pts[0][0] - start > minutes * 60 * 0.2:
        return None  # not enough history yet to call it
    return statistics.fmean(y for _, y in pts), pts[-1][0] - pts[0][0]


def check_gpu_idle(series: JobSeries, t: Thresholds, *, now: float) -> Finding | None:
    got = _window_mean(series.hardware.get(GPU_UTIL), now, t.gpu_idle_minutes)
    if got is None or got[0] >= t.gpu_idle_pct:
        return None
    mean, _ = got
    return Finding(
        GPU_IDLE,
        f"GPU utilisation averaged {mean:.0f}% over the last {t.gpu_idle_minutes:g} min "
        f"(threshold {t.gpu_idle_pct:g}%) while the job is running",
        {"mean_pct": mean, "minutes": t.gpu_idle_minutes},
    )


def check_gpu_memory(series: JobSeries, t: Thresholds) -> Finding | None:
    s = series.hardware.get(GPU_MEM)
    if s is None or s.last() is None or s.last() < t.gpu_memory_pct:
        return None
    return Finding(
        GPU_MEMORY,
        f"GPU memory at {s.last():.0f}% of capacity (threshold {t.gpu_memory_pct:g}%): "
        "an out-of-memory crash is likely on a longer sequence or a bigger eval batch",
        {"pct": s.last()},
    )


def check_stalled(series: JobSeries, t: Thresholds, *, now: float) -> Finding | None:
    if series.last_step_at is None:
        return None
    idle_min = (now - series.last_step_at) / 60
    if idle_min < t.stall_minutes:
        return None
    return Finding(
        STALLED,
        f"no new training step for {idle_min:.0f} min (threshold {t.stall_minutes:g} min)",
        {"minutes": idle_min},
    )


def check_throughput(series: JobSeries, t: Thresholds) -> Finding | None:
    for key in ("train_samples_per_second", "samples_per_second", "tokens_per_second"):
        s = series.metrics.get(key)
        pts = _finite(s.points) if s else []
        if len(pts) < 6:
            continue
        earlier = statistics.median(y for _, y in pts[:-3])
        recent = statistics.fmean(y for _, y in pts[-3:])
        if earlier > 0 and recent < earlier * t.throughput_drop_ratio:
            return Finding(
                THROUGHPUT,
                f"{key} fell to {_fmt(recent)} from a typical {_fmt(earlier)} "
                f"({recent / earlier:.0%} of normal)",
                {"recent": recent, "typical": earlier},
            )
    return None


def check_all(series: JobSeries, t: Thresholds, *, now: float, running: bool) -> list[Finding]:
    """Every condition that holds now. Hardware and stall checks only while RUNNING."""
    checks: list[Callable[[], Finding | None]] = [
        lambda: check_nan(series, t),
        lambda: check_diverging(series, t),
        lambda: check_overfitting(series, t),
        lambda: check_throughput(series, t),
    ]
    if running:
        checks += [
            lambda: check_gpu_idle(series, t, now=now),
            lambda: check_gpu_memory(series, t),
            lambda: check_stalled(series, t, now=now),
        ]
    return [f for f in (c() for c in checks) if f is not None]


def undecided(series: JobSeries, t: Thresholds, *, now: float, running: bool) -> set[str]:
    """Conditions the current data can neither confirm nor clear (a window not yet covered)."""
    out = set()
    if running and _window_mean(series.hardware.get(GPU_UTIL), now, t.gpu_idle_minutes) is None:
        out.add(GPU_IDLE)
    return out


@dataclass
class HealthMonitor:
    """Reports each condition once per episode: on start, and again only after it cleared."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    active: set[str] = field(default_factory=set)

    def update(self, series: JobSeries, *, now: float, running: bool) -> list[Finding]:
        found = check_all(series, self.thresholds, now=now, running=running)
        current = {f.condition for f in found}
        new = [f for f in found if f.condition not in self.active]
        # "Not enough history to call it" is not "cleared": a gap in the hardware stream
        # must not end an idle-GPU episode and re-announce it on the next sample.
        keep = self.active & undecided(series, self.thresholds, now=now, running=running)
        self.active = current | keep
        return new

    def to_json(self) -> list[str]:
        return sorted(self.active)

    @classmethod
    def from_json(cls, active: Any, thresholds: Thresholds | None = None) -> HealthMonitor:
        names = {a for a in active if a in CONDITIONS} if isinstance(active, list) else set()
        return cls(thresholds or Thresholds(), names)
