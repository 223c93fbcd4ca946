"""Curve images of a run (and of several runs side by side), as PNG bytes.

People would rather look at a loss curve than read a table of numbers, and a multimodal model
can look at it too. Rendering uses matplotlib's object API on an Agg canvas — no pyplot global
state, so it is safe in a worker thread — and callers run it off the event loop with
:func:`render_curves_async` (a chart takes ~100 ms of CPU).

The layout is portrait and the fonts are large so the image reads on a phone: losses on top
(train and eval on one chart, where divergence and overfitting show), then learning rate, then
GPU utilisation and memory.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .series import GPU_MEM, GPU_UTIL, JobSeries, Series

WIDTH_IN, DPI = 7.0, 150
_LOSS_KEYS = ("loss", "train_loss", "eval_loss", "val_loss", "validation_loss", "test_loss")


@dataclass
class Run:
    """One run for a comparison chart: a label, its series and the hyper-parameters to table."""

    label: str
    series: JobSeries
    hyperparameters: dict[str, Any] = field(default_factory=dict)


def _figure(rows: int, height_per_row: float):
    # Imported here: matplotlib costs ~0.3 s to import and most processes never draw.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, max(3.0, rows * height_per_row)), dpi=DPI)
    fig.set_layout_engine("constrained")
    return fig


def _plot(ax, s: Series, label: str, **kw: Any) -> bool:
    pts = [(x, y) for x, y in s.points if math.isfinite(y)]
    if not pts:
        return False
    ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, linewidth=2, **kw)
    return True


def _style(ax, title: str, xlabel: str) -> None:
    ax.set_title(title, fontsize=13, loc="left")
    ax.set_xlabel(xlabel, fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=10, loc="best")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def render_curves(series: JobSeries, title: str) -> bytes:
    """The run's curves as a PNG. Panels without data are left out (a CPU job has no GPU row)."""
    loss_series = [(k, series.metrics[k]) for k in _LOSS_KEYS if k in series.metrics]
    lr = series.metrics.get("learning_rate")
    hw = [(k, series.hardware[k]) for k in (GPU_UTIL, GPU_MEM) if k in series.hardware]
    other = [
        (k, s)
        for k, s in series.metrics.items()
        if k not in _LOSS_KEYS and k != "learning_rate" and ("acc" in k or "reward" in k)
    ]
    panels = [p for p in ("loss", "other", "lr", "hw") if _has(p, loss_series, other, lr, hw)]
    if not panels:
        panels = ["empty"]
    fig = _figure(len(panels), 3.0)
    fig.suptitle(title, fontsize=14)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "loss":
            for key, s in loss_series:
                _plot(
                    ax, s, key, linestyle="--" if key.startswith(("eval", "val", "test")) else "-"
                )
            _style(ax, "Loss", "step")
        elif panel == "other":
            for key, s in other:
                _plot(ax, s, key)
            _style(ax, "Accuracy / reward", "step")
        elif panel == "lr":
            _plot(ax, lr, "learning_rate", color="tab:purple")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
            _style(ax, "Learning rate", "step")
        elif panel == "hw":
            for key, s in hw:
                label = "GPU utilisation %" if key == GPU_UTIL else "GPU memory %"
                _plot(ax, _minutes(s), label)
            ax.set_ylim(0, 105)
            _style(ax, "GPU", "minutes")
        else:
            ax.text(0.5, 0.5, "no metrics logged yet", ha="center", va="center", fontsize=12)
            ax.set_axis_off()
    return _png(fig)


def _has(panel: str, loss, other, lr, hw) -> bool:
    def any_points(items) -> bool:
        return any(any(math.isfinite(y) for _, y in s.points) for _, s in items)

    if panel == "loss":
        return any_points(loss)
    if panel == "other":
        return any_points(other)
    if panel == "lr":
        return lr is not None and any_points([("lr", lr)])
    return any_points(hw)


def _minutes(s: Series) -> Series:
    out = Series(s.max_points)
    out.points = [(x / 60.0, y) for x, y in s.points]
    return out


def render_comparison(runs: Sequence[Run], title: str = "Runs compared") -> bytes:
    """Loss curves of several runs on one chart, with their hyper-parameters in a table."""
    fig = _figure(2, 3.4)
    fig.suptitle(title, fontsize=14)
    ax_curves, ax_table = fig.subplots(2, 1, height_ratios=[3, 2])
    for run in runs:
        key = run.series.loss_key()
        if key:
            _plot(ax_curves, run.series.metrics[key], f"{run.label} · {key}")
        ek = run.series.eval_loss_key()
        if ek:
            _plot(ax_curves, run.series.metrics[ek], f"{run.label} · {ek}", linestyle="--")
    _style(ax_curves, "Loss", "step")
    ax_table.set_axis_off()
    keys = sorted({k for r in runs for k in r.hyperparameters})
    if keys and runs:
        cells = [[_cell(r.hyperparameters.get(k)) for k in keys] for r in runs]
        table = ax_table.table(
            cellText=cells, rowLabels=[r.label for r in runs], colLabels=keys, loc="center"
        )
        table.auto_set_font_size(False)
        table.set_fontsize(10)
        table.scale(1, 1.6)
    else:
        ax_table.text(0.5, 0.5, "no hyper-parameters recorded", ha="center", fontsize=11)
    return _png(fig)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)[:24]


async def render_curves_async(series: JobSeries, title: str) -> bytes:
    """:func:`render_curves` in a worker thread, so the event loop keeps answering Slack."""
    return await asyncio.to_thread(render_curves, series, title)


async def render_comparison_async(runs: Sequence[Run], title: str = "Runs compared") -> bytes:
    return await asyncio.to_thread(render_comparison, runs, title)
