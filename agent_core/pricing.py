"""Hardware prices and job cost estimates.

A static table (USD per hour, from upstream) is the floor; the Hub's live hardware catalog,
when fetched, overrides it. The catalog is process-wide on purpose: prices are the same for
every session, so sharing them is safe and saves a request per estimate.
"""

from __future__ import annotations

import re
import threading
from typing import Any

CPU_FLAVORS: tuple[str, ...] = ("cpu-basic", "cpu-upgrade")

STATIC_PRICES_USD_PER_HOUR: dict[str, float] = {
    "cpu-basic": 0.05, "cpu-upgrade": 0.25, "cpu-performance": 0.50, "cpu-xl": 1.00,
    "t4-small": 0.60, "t4-medium": 0.90, "l4x1": 1.0, "l4x4": 4.0, "l40sx1": 2.0,
    "l40sx4": 8.0, "l40sx8": 16.0, "a10g-small": 1.0, "a10g-large": 2.0,
    "a10g-largex2": 4.0, "a10g-largex4": 8.0, "a100-large": 4.0, "a100x4": 16.0,
    "a100x8": 32.0, "h100": 6.0, "h100x8": 48.0, "h200": 10.0, "h200x2": 20.0,
    "h200x4": 40.0, "h200x8": 80.0, "inf2x6": 6.0,
}  # fmt: skip

DEFAULT_TIMEOUT_HOURS = 0.5

_lock = threading.Lock()
_live_prices: dict[str, float] = {}


def update_prices(prices: dict[str, float]) -> None:
    """Merge prices fetched from the Hub's hardware catalog over the static table."""
    clean = {k: float(v) for k, v in prices.items() if isinstance(v, int | float) and v >= 0}
    with _lock:
        _live_prices.update(clean)


def price_per_hour(flavor: str) -> float | None:
    flavor = (flavor or "").strip().lower()
    with _lock:
        if flavor in _live_prices:
            return _live_prices[flavor]
    return STATIC_PRICES_USD_PER_HOUR.get(flavor)


def all_prices() -> dict[str, float]:
    with _lock:
        return {**STATIC_PRICES_USD_PER_HOUR, **_live_prices}


def is_cpu_flavor(flavor: str) -> bool:
    return (flavor or "").strip().lower() in CPU_FLAVORS


_TIMEOUT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_HOURS = {"": 1 / 3600, "s": 1 / 3600, "m": 1 / 60, "h": 1.0, "d": 24.0}


def parse_timeout_hours(timeout: str | int | float | None) -> float | None:
    """Upstream's rules: None/'' → 0.5 h; a number is seconds; '<n>[s|m|h|d]'; junk → None."""
    if timeout is None or timeout == "":
        return DEFAULT_TIMEOUT_HOURS
    if isinstance(timeout, bool):
        return None
    if isinstance(timeout, int | float):
        return timeout / 3600 if timeout > 0 else None
    m = _TIMEOUT_RE.match(str(timeout))
    if not m:
        return None
    value = float(m.group(1)) * _UNIT_HOURS[m.group(2).lower()]
    return value if value > 0 else None


def parse_timeout_seconds(timeout: str | int | float | None) -> int | None:
    hours = parse_timeout_hours(timeout)
    return None if hours is None else int(round(hours * 3600))


def estimate_job_cost(flavor: str, timeout: str | int | float | None) -> float | None:
    """Worst-case cost of a job: price × timeout. None when either is unknown."""
    price = price_per_hour(flavor)
    hours = parse_timeout_hours(timeout)
    if price is None or hours is None:
        return None
    return round(price * hours, 4)


def format_usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def hardware_entry(hw: Any) -> dict[str, Any]:
    """A plain dict for one ``JobHardwareInfo`` (or a dict from a raw response), its price
    normalised to USD per hour whatever unit the catalog quotes (hour, minute, second)."""
    get = (
        (lambda k, d=None: hw.get(k, d))
        if isinstance(hw, dict)
        else (lambda k, d=None: getattr(hw, k, d))
    )
    name = str(get("name") or "")
    cost = get("unit_cost_usd")
    if cost is None:
        cost = get("unitCostUSD")
    micro = get("unit_cost_micro_usd")
    if micro is None:
        micro = get("unitCostMicroUSD")
    label = str(get("unit_label") or get("unitLabel") or "hour")
    per_hour: float | None = None
    try:
        value = (
            float(cost) if cost is not None else (float(micro) / 1e6 if micro is not None else None)
        )
    except (TypeError, ValueError):
        value = None
    if value is not None:
        lab = label.lower()
        per_hour = value * 60 if "minute" in lab else value * 3600 if "second" in lab else value
        per_hour = round(per_hour, 4)
    acc = get("accelerator")
    accel = None
    if acc:
        ag = (lambda k: acc.get(k)) if isinstance(acc, dict) else (lambda k: getattr(acc, k, None))
        accel = " ".join(str(x) for x in (ag("quantity"), ag("model"), ag("vram")) if x)
    return {
        "name": name,
        "pretty_name": str(get("pretty_name") or get("prettyName") or name),
        "cpu": get("cpu"),
        "ram": get("ram"),
        "accelerator": accel,
        "unit_cost_usd_per_hour": per_hour,
        "source": "hub",
    }
