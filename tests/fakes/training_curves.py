"""Scripted training runs: log lines and Jobs-metrics samples that follow a chosen curve.

Used by the babysitter tests and by the fake Hub's time-scaled jobs. Log lines use the
shape transformers' Trainer prints (``{'loss': 0.69, 'grad_norm': 1.2, 'learning_rate':
5e-05, 'epoch': 0.5}``) with a ``step`` key added by its ``log_history``; hardware samples use
the shape documented in ``huggingface_hub.HfApi.fetch_job_metrics``'s docstring.
"""

from __future__ import annotations

import math
from typing import Any

SHAPES = ("healthy", "nan", "diverging", "idle_gpu", "overfitting")


def train_loss(shape: str, step: int) -> float:
    base = 2.0 * math.exp(-step / 40) + 0.3
    if shape == "diverging" and step > 60:
        return base * (1 + 0.06 * (step - 60))
    if shape == "nan" and step >= 50:
        return math.nan
    return base


def eval_loss(shape: str, step: int) -> float:
    base = 2.1 * math.exp(-step / 40) + 0.35
    if shape == "overfitting" and step > 50:
        return base + 0.02 * (step - 50)
    return base


def log_line(shape: str, step: int, lr: float = 5e-5) -> str:
    loss = train_loss(shape, step)
    loss_text = "nan" if math.isnan(loss) else f"{loss:.4f}"
    return (
        f"{{'loss': {loss_text}, 'grad_norm': 1.1, 'learning_rate': {lr * (1 - step / 200):.3e},"
        f" 'epoch': {step / 100:.2f}, 'step': {step}}}"
    )


def eval_line(shape: str, step: int) -> str:
    return (
        f"{{'eval_loss': {eval_loss(shape, step):.4f}, 'epoch': {step / 100:.2f}, 'step': {step}}}"
    )


def run_log(shape: str, steps: int = 100, every: int = 5, eval_every: int = 10) -> list[str]:
    lines: list[str] = []
    for step in range(every, steps + 1, every):
        lines.append(log_line(shape, step))
        if step % eval_every == 0:
            lines.append(eval_line(shape, step))
    return lines


def hardware_sample(shape: str, second: float) -> dict[str, Any]:
    util = 2 if shape == "idle_gpu" else 87
    return {
        "cpu_usage_pct": 35,
        "cpu_millicores": 3500,
        "memory_used_bytes": 6_000_000_000,
        "memory_total_bytes": 15_032_385_536,
        "rx_bps": 0,
        "tx_bps": 0,
        "gpus": {
            "882fa930": {
                "utilization": util,
                "memory_used_bytes": 18_000_000_000,
                "memory_total_bytes": 22_836_000_000,
            }
        },
        "replica": "57vr7",
    }
