"""A job's hyper-parameters, read from its command line, and the command after a change.

Why the command line: a relaunch must be the *same* job with one knob turned, and the only
faithful record of the knobs is what was submitted — ``python train.py --learning_rate 5e-5
--num_train_epochs 3`` (or ``--learning-rate=5e-5``). No rewrite of ``train.py`` is needed.

Names are compared normalised (dashes → underscores, ``lr`` → ``learning_rate``), so a team's
rule ``change: {learning_rate: x0.5}`` applies to ``--lr 1e-4`` too; the rewritten command
keeps the flag exactly as the script spells it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_ALIASES = {"lr": "learning_rate", "bs": "batch_size", "epochs": "num_train_epochs"}
_FLAG = re.compile(r"^--(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?:=(?P<value>.*))?$")


def normalize_name(name: str) -> str:
    key = name.strip().lstrip("-").replace("-", "_").lower()
    return _ALIASES.get(key, key)


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None  # NaN is no hyper-parameter


def _flags(command: Sequence[str]) -> list[tuple[int, str, str, bool]]:
    """``(index of the value, flag name, value text, inline)`` for each numeric ``--flag``."""
    out = []
    for i, token in enumerate(command):
        m = _FLAG.match(str(token))
        if not m:
            continue
        if m.group("value") is not None:
            out.append((i, m.group("name"), m.group("value"), True))
        elif i + 1 < len(command) and not str(command[i + 1]).startswith("--"):
            out.append((i + 1, m.group("name"), str(command[i + 1]), False))
    return [f for f in out if _number(f[2]) is not None]


def hyperparameters(command: Sequence[str]) -> dict[str, int | float]:
    """Numeric ``--flag value`` pairs of a command, by normalised name (last one wins)."""
    return {normalize_name(name): _number(value) for _, name, value, _ in _flags(command)}  # type: ignore[misc]


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def with_values(command: Sequence[str], values: dict[str, Any]) -> list[str]:
    """``command`` with the given hyper-parameters set (appended as ``--name value`` when the
    command does not have the flag yet)."""
    out = [str(c) for c in command]
    missing = dict(values)
    for index, name, _value, inline in _flags(out):
        key = normalize_name(name)
        if key not in values:
            continue
        new = _text(values[key])
        out[index] = f"--{name}={new}" if inline else new
        missing.pop(key, None)
    for key, value in missing.items():
        out += [f"--{key}", _text(value)]
    return out


def describe_change(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """``["learning_rate 5e-05 → 2.5e-05"]``: one line per value that changes."""
    return [
        f"{key} {_text(before.get(key, '(unset)'))} → {_text(value)}"
        for key, value in after.items()
        if before.get(key) != value
    ]
