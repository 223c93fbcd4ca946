"""Training metrics read from log lines, and the NaN check the watcher warns on.

Why parse logs at all: a job card that shows ``loss 0.41 · step 1200 · epoch 1.6`` tells a
person whether to wait or cancel without opening the Hub; a NaN loss is the single most
common reason to cancel a run early, so it is flagged the moment it shows up.

What is recognised (the shapes that Trainer/TRL/Accelerate/plain scripts print):

* dict-ish records: ``{'loss': 0.69, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'epoch': 0.5}``
* ``key=value`` / ``key: value`` pairs: ``step=100 loss=2.31``, ``train/loss: 0.4``
* progress counters: ``step 100/1000``, ``Epoch 2/3``, ``Step: 40``
* NaN/inf values for any loss or gradient key, and phrases like ``loss is nan``.
* dashboard links (Trackio Spaces, W&B runs) so the card can link to live curves.

Only a fixed vocabulary of keys is kept (plus ``train_*``/``eval_*``/``val_*``/``test_*``
variants), so a stray ``id: 123`` in a log line never becomes a "metric".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

MAX_METRICS = 12

_BASE_KEYS = {
    "loss",
    "step",
    "global_step",
    "epoch",
    "learning_rate",
    "lr",
    "grad_norm",
    "accuracy",
    "acc",
    "f1",
    "perplexity",
    "ppl",
    "reward",
    "rewards",
    "kl",
    "bleu",
    "rouge",
    "wer",
    "runtime",
    "samples_per_second",
    "tokens_per_second",
}
_PREFIXES = ("train", "eval", "val", "valid", "validation", "test")
_ALIASES = {"global_step": "step", "lr": "learning_rate", "acc": "accuracy", "ppl": "perplexity"}
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf(?:inity)?"
_PAIR = re.compile(
    r"""['"]?(?P<key>[A-Za-z][A-Za-z0-9_./-]{0,40})['"]?\s*(?:=|:)\s*['"]?(?P<val>"""
    + _NUM
    + r""")(?![A-Za-z0-9_])""",
    re.IGNORECASE,
)
_COUNTER = re.compile(
    r"\b(?P<key>step|epoch|iter(?:ation)?)\s*[:#]?\s*(?P<cur>\d+(?:\.\d+)?)\s*/\s*(?P<tot>\d+)",
    re.IGNORECASE,
)
_NAN_PHRASE = re.compile(
    r"\b(?:loss|grad(?:ient)?s?(?:[ _]norm)?)\b[^\n]{0,20}\b(?:is|became|=|:)\s*(?:nan|inf)\b"
    r"|\bnan (?:loss|detected)\b|\bloss (?:diverged|exploded)\b",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://[^\s'\"<>)\]]+")
_INSTALLED = re.compile(r"Installed \d+ packages? in [\d.]+\s*m?s")


def normalize_key(key: str) -> str | None:
    """The canonical metric name for ``key``, or None when it is not a metric we keep."""
    k = key.strip().strip("'\"").lower().replace("-", "_")
    k = k.replace("/", "_").replace(".", "_")
    if k in _BASE_KEYS:
        return _ALIASES.get(k, k)
    for prefix in _PREFIXES:
        if k.startswith(prefix + "_"):
            rest = k[len(prefix) + 1 :]
            if rest in _BASE_KEYS:
                return f"{prefix}_{_ALIASES.get(rest, rest)}"
    return None


def _to_number(text: str) -> float:
    t = text.strip().lower()
    if t.lstrip("+-") in ("nan",):
        return math.nan
    if t.lstrip("+-") in ("inf", "infinity"):
        return -math.inf if t.startswith("-") else math.inf
    return float(t)


def _clean(value: float) -> float | int | str:
    """JSON-safe: NaN/inf become strings (JSON has no NaN); whole counters become ints."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < 1e15:
        return int(value)
    return float(f"{value:.6g}")


def parse_line(line: str) -> dict[str, float]:
    """Metrics on one line (raw floats, NaN kept as NaN)."""
    out: dict[str, float] = {}
    for m in _COUNTER.finditer(line):
        key = m.group("key").lower()
        key = "step" if key.startswith("iter") else key
        try:
            out[key] = float(m.group("cur"))
            out[f"{key}s_total"] = float(m.group("tot"))
        except ValueError:
            continue
    for m in _PAIR.finditer(line):
        key = normalize_key(m.group("key"))
        if key is None:
            continue
        try:
            out[key] = _to_number(m.group("val"))
        except ValueError:
            continue
    return out


def parse_metrics(lines: Iterable[str]) -> dict[str, float | int | str]:
    """The latest value of each recognised metric across ``lines`` (later lines win)."""
    latest: dict[str, float] = {}
    for line in lines:
        latest.update(parse_line(line))
    ordered = sorted(latest.items(), key=lambda kv: _order(kv[0]))
    return {k: _clean(v) for k, v in ordered[:MAX_METRICS]}


def _order(key: str) -> tuple[int, str]:
    """Loss first, then step/epoch, then the rest — what a card shows when space is short."""
    rank = {"loss": 0, "train_loss": 1, "eval_loss": 2, "step": 3, "epoch": 4, "learning_rate": 5}
    return rank.get(key, 10), key


def _is_bad(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower().lstrip("+-") in ("nan", "inf")
    return isinstance(value, float) and (math.isnan(value) or math.isinf(value))


def nan_detected(lines: Iterable[str], metrics: dict[str, Any] | None = None) -> bool:
    """True when a loss or gradient norm is NaN/inf in ``lines`` (or in parsed ``metrics``)."""
    lines = list(lines)
    parsed = metrics if metrics is not None else parse_metrics(lines)
    for key, value in parsed.items():
        if ("loss" in key or "grad" in key) and _is_bad(value):
            return True
    for line in lines:
        if _NAN_PHRASE.search(line):
            return True
        for key, value in parse_line(line).items():
            if ("loss" in key or "grad" in key) and _is_bad(value):
                return True
    return False


def dashboard_links(lines: Iterable[str]) -> dict[str, str]:
    """Links worth a button on the job card (Trackio Space, W&B run), last one wins."""
    found: dict[str, str] = {}
    for line in lines:
        for url in _URL.findall(line):
            low = url.lower()
            if "trackio" in low or ("/spaces/" in low and "track" in line.lower()):
                found["trackio"] = url.rstrip(".,;")
            elif "wandb.ai/" in low:
                found["wandb"] = url.rstrip(".,;")
            elif "tensorboard" in low:
                found["tensorboard"] = url.rstrip(".,;")
    return found


def collapse_installs(lines: list[str]) -> list[str]:
    """Drop the dependency-install chatter before uv's ``Installed N packages`` line."""
    for i in range(len(lines) - 1, -1, -1):
        if _INSTALLED.search(lines[i]):
            return ["[installs truncated]", *lines[i + 1 :]]
    return lines
