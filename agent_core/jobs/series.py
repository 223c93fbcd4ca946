"""A job's metric history: every recognised training metric by step, hardware by time.

Why series and not just the latest value: a loss of 0.9 says nothing; a loss that was 0.4
twenty steps ago and is 0.9 now is a diverging run. The health checks (:mod:`.health`) and
the curve images (:mod:`.charts`) both read these series.

Memory stays bounded however long a run is: each series keeps at most ``max_points`` points;
when full, every other point of the older half is dropped (the newest half keeps full
resolution, since that is what the health checks look at). The whole thing round-trips
through compact JSON so it survives a restart in the job's row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .metrics import parse_line

DEFAULT_MAX_POINTS = 400

#: Keys that are positions (x values), never curves of their own.
_POSITION_KEYS = {"step", "steps_total", "epoch", "epochs_total"}

#: Hardware series names, read from the Jobs metrics stream (``HfApi.fetch_job_metrics``).
GPU_UTIL = "gpu_utilization_pct"
GPU_MEM = "gpu_memory_pct"
CPU = "cpu_pct"
RAM = "ram_pct"


@dataclass
class Series:
    """Points ``(x, y)`` in arrival order, bounded by downsampling the older half."""

    max_points: int = DEFAULT_MAX_POINTS
    points: list[tuple[float, float]] = field(default_factory=list)

    def add(self, x: float, y: float) -> None:
        if self.points and x <= self.points[-1][0]:
            # A restarted counter (e.g. eval steps logged again) replaces, never goes backwards.
            if x == self.points[-1][0]:
                self.points[-1] = (x, y)
                return
        self.points.append((x, y))
        if len(self.points) > self.max_points:
            half = len(self.points) // 2
            self.points = self.points[:half:2] + self.points[half:]

    @property
    def xs(self) -> list[float]:
        return [p[0] for p in self.points]

    @property
    def ys(self) -> list[float]:
        return [p[1] for p in self.points]

    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None

    def tail(self, n: int) -> list[tuple[float, float]]:
        return self.points[-n:] if n > 0 else []

    def since(self, x_min: float) -> list[tuple[float, float]]:
        return [p for p in self.points if p[0] >= x_min]

    def __len__(self) -> int:
        return len(self.points)


def _finite_or_nan(value: float) -> float:
    return value if isinstance(value, float | int) else math.nan


@dataclass
class JobSeries:
    """Training metrics by step and hardware by elapsed seconds, for one job."""

    max_points: int = DEFAULT_MAX_POINTS
    metrics: dict[str, Series] = field(default_factory=dict)
    hardware: dict[str, Series] = field(default_factory=dict)
    #: Wall-clock seconds (job-relative) when the step counter last moved forward.
    last_step_at: float | None = None
    _records: int = 0

    # ----------------------------------------------------------------- training metrics

    def add_record(self, record: Mapping[str, float], *, at: float | None = None) -> None:
        """One parsed log record (``{'loss': .., 'step': ..}``); steps inferred when absent."""
        values = {k: v for k, v in record.items() if k not in _POSITION_KEYS}
        if not values:
            return
        self._records += 1
        previous = max((s.points[-1][0] for s in self.metrics.values() if s.points), default=None)
        step = record.get("step")
        if step is None:
            # No step on the line: continue after the last known step so curves stay ordered.
            step = previous + 1 if previous is not None else float(self._records)
        for key, value in values.items():
            series = self.metrics.setdefault(key, Series(self.max_points))
            series.add(float(step), _finite_or_nan(value))
        if at is not None and (previous is None or float(step) > previous):
            self.last_step_at = at

    def add_log_lines(self, lines: Iterable[str], *, at: float | None = None) -> int:
        """Parse log lines into the series; returns how many records carried metrics."""
        count = 0
        for line in lines:
            record = parse_line(line)
            if any(k not in _POSITION_KEYS for k in record):
                self.add_record(record, at=at)
                count += 1
        return count

    # ----------------------------------------------------------------- hardware

    def add_hardware(self, sample: Mapping[str, Any], *, at: float) -> None:
        """One sample of the Jobs metrics stream (the shape ``fetch_job_metrics`` yields).

        GPU figures are averaged over the job's GPUs; memory becomes a percentage of total,
        which is what "near the limit" means whatever the card.
        """
        gpus = sample.get("gpus") or {}
        utils: list[float] = []
        mems: list[float] = []
        for gpu in gpus.values() if isinstance(gpus, Mapping) else []:
            if not isinstance(gpu, Mapping):
                continue
            if isinstance(gpu.get("utilization"), int | float):
                utils.append(float(gpu["utilization"]))
            total = gpu.get("memory_total_bytes")
            used = gpu.get("memory_used_bytes")
            if isinstance(total, int | float) and total > 0 and isinstance(used, int | float):
                mems.append(100.0 * used / total)
        if utils:
            self._hw(GPU_UTIL).add(at, sum(utils) / len(utils))
        if mems:
            self._hw(GPU_MEM).add(at, max(mems))
        cpu = sample.get("cpu_usage_pct")
        if isinstance(cpu, int | float):
            self._hw(CPU).add(at, float(cpu))
        total = sample.get("memory_total_bytes")
        used = sample.get("memory_used_bytes")
        if isinstance(total, int | float) and total > 0 and isinstance(used, int | float):
            self._hw(RAM).add(at, 100.0 * used / total)

    def _hw(self, name: str) -> Series:
        return self.hardware.setdefault(name, Series(self.max_points))

    # ----------------------------------------------------------------- queries

    def loss_key(self) -> str | None:
        """The training-loss series: ``loss`` or ``train_loss``, whichever the script logs."""
        for key in ("loss", "train_loss"):
            if key in self.metrics and len(self.metrics[key]):
                return key
        return None

    def eval_loss_key(self) -> str | None:
        for key in ("eval_loss", "val_loss", "valid_loss", "validation_loss", "test_loss"):
            if key in self.metrics and len(self.metrics[key]):
                return key
        return None

    def is_empty(self) -> bool:
        return not any(len(s) for s in self.metrics.values()) and not any(
            len(s) for s in self.hardware.values()
        )

    # ----------------------------------------------------------------- persistence

    def to_json(self) -> dict[str, Any]:
        """Compact, JSON-safe (NaN as null) form for the job's row."""

        def pts(s: Series) -> list[list[float | None]]:
            return [[x, None if math.isnan(y) or math.isinf(y) else y] for x, y in s.points]

        return {
            "v": 1,
            "max": self.max_points,
            "m": {k: pts(s) for k, s in self.metrics.items()},
            "h": {k: pts(s) for k, s in self.hardware.items()},
            "ls": self.last_step_at,
            "n": self._records,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> JobSeries:
        """Inverse of :meth:`to_json`; unreadable input gives an empty series, never a crash."""
        out = cls()
        if not isinstance(data, Mapping) or data.get("v") != 1:
            return out
        out.max_points = int(data.get("max") or DEFAULT_MAX_POINTS)
        for target, key in ((out.metrics, "m"), (out.hardware, "h")):
            for name, points in (data.get(key) or {}).items():
                s = Series(out.max_points)
                for p in points:
                    if isinstance(p, list | tuple) and len(p) == 2:
                        s.points.append((float(p[0]), math.nan if p[1] is None else float(p[1])))
                target[str(name)] = s
        ls = data.get("ls")
        out.last_step_at = float(ls) if isinstance(ls, int | float) else None
        out._records = int(data.get("n") or 0)
        return out
