"""Small, dependency-free statistics for benchmark figures (percentiles, summaries)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100): an observed value, never an interpolation, so a
    p99 of 30 samples honestly is the maximum."""
    data = sorted(v for v in values if v == v)
    if not data:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(data)))
    return data[min(rank, len(data)) - 1]


def summary(values: Iterable[float], scale: float = 1000.0) -> dict[str, Any]:
    """n, mean, p50, p95, p99, max of ``values`` multiplied by ``scale`` (s → ms by default)."""
    data = [v * scale for v in values if v == v]
    if not data:
        return {"n": 0}
    return {
        "n": len(data),
        "mean": statistics.fmean(data),
        "p50": pct(data, 50),
        "p95": pct(data, 95),
        "p99": pct(data, 99),
        "max": max(data),
    }


def median(values: Iterable[float]) -> float | None:
    data = [v for v in values if v == v]
    return statistics.median(data) if data else None
