"""How long something took, as text — the one duration formatter for the engine, the bot
and the gateways, so a job's "ran 1h 02m" reads the same wherever it is shown.

Two styles, because two kinds of reader: ``short`` for a glance in a chat message (the two
largest units, zero-padded so a live counter does not jitter: ``5s``, ``1m 05s``, ``1h 01m``);
``exact`` for notifications and status lines (every non-zero unit: ``1h 2m 3s``, ``10m``,
and tenths under ten seconds: ``0.4s``).
"""

from __future__ import annotations

from typing import Literal, overload

Style = Literal["short", "exact"]


@overload
def format_duration(seconds: None, style: Style = "short") -> None: ...
@overload
def format_duration(seconds: float, style: Style = "short") -> str: ...


def format_duration(seconds: float | None, style: Style = "short") -> str | None:
    """``seconds`` as text in ``style`` (see the module docs); None (unknown) stays None."""
    if seconds is None:
        return None
    try:
        value = max(float(seconds), 0.0)
    except (TypeError, ValueError):
        return None
    if style == "exact":
        if value < 10 and value != int(value):
            return f"{value:.1f}s"
        hours, rest = divmod(int(round(value)), 3600)
        minutes, secs = divmod(rest, 60)
        parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
        return " ".join(parts) or "0s"
    whole = int(value)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
