"""litellm's model map (prices, context windows, capabilities) read without importing litellm.

``import litellm`` costs seconds of CPU; the map it ships is one JSON file
(``model_prices_and_context_window_backup.json``, the file ``LITELLM_LOCAL_MODEL_COST_MAP``
makes litellm itself load). Reading it with :mod:`json` takes milliseconds, so routing,
context windows, effort support and the cost of an OpenAI-compatible call never pull litellm
onto the first turn's path. These are still litellm's prices — same file, same keys — and the
lookups follow litellm's ``get_model_info`` / ``cost_per_token`` (tested side by side with
litellm in ``tests/unit/test_model_map.py``).
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

MAP_FILE = "model_prices_and_context_window_backup.json"
# Prompt-size tiers litellm prices separately (``input_cost_per_token_above_200k_tokens`` …).
# Entries litellm prices with code of its own (off-peak windows, tier tables, a provider's
# cache discount): :func:`cost_per_token` declines them and litellm prices them.
_OWN_PRICING_KEYS = ("tiered_pricing", "off_peak_pricing")
_OWN_PRICING_PROVIDERS = frozenset({"fireworks_ai"})
_TIERS = (("512k", 512_000), ("272k", 272_000), ("200k", 200_000), ("128k", 128_000),
          ("100k", 100_000))  # fmt: skip


@cache
def model_cost() -> dict[str, dict[str, Any]]:
    """The whole map (``{key: info}``), loaded once; empty when litellm is not installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / MAP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    # Models only: the file also holds a template ("sample_spec") and litellm's alias rules.
    return {k: v for k, v in data.items() if isinstance(v, dict) and "litellm_provider" in v}


@lru_cache(maxsize=1024)
def model_info(model: str, provider: str | None = None) -> dict[str, Any] | None:
    """The entry for ``model`` the way litellm's ``get_model_info`` finds it: the exact key,
    else ``<provider>/<name>`` written as the bare ``name`` listed under that provider."""
    for name in (model, model.lower()):
        info = _lookup(name)
        if info is not None and (provider is None or _provider_matches(info, provider)):
            return info
        prefix, _, rest = name.partition("/")
        if rest and (provider is None or provider == prefix):
            info = _lookup(rest)
            if info is not None and _provider_matches(info, prefix):
                return info
    return None


def _lookup(name: str) -> dict[str, Any] | None:
    """The entry keyed ``name``, matched case-insensitively like litellm's lookup."""
    table = model_cost()
    info = table.get(name)
    if info is None:
        key = _lowercase_keys().get(name.lower())
        info = table.get(key) if key else None
    return info


@cache
def _lowercase_keys() -> dict[str, str]:
    return {k.lower(): k for k in model_cost()}


def _provider_matches(info: dict[str, Any], provider: str) -> bool:
    return str(info.get("litellm_provider") or "") == provider


def provider_of(model: str) -> str | None:
    """The provider the map lists a bare id under (``gpt-4o-mini`` → ``openai``)."""
    info = model_cost().get(model)
    return str(info["litellm_provider"]) if info and info.get("litellm_provider") else None


@lru_cache(maxsize=256)
def hosted_entries(hub_id: str) -> tuple[str, ...]:
    """Chat entries naming the same Hub weights under some host (``<host>/<org>/<model>``)."""
    wanted = "/" + hub_id.lower()
    return tuple(
        sorted(
            key
            for key, info in model_cost().items()
            if key.lower().endswith(wanted) and info.get("mode", "chat") == "chat"
        )
    )


def _rate(info: dict[str, Any], name: str, prompt_tokens: int) -> float:
    """``name``'s per-token price, at the tier ``prompt_tokens`` falls in."""
    for label, threshold in _TIERS:
        tiered = info.get(f"{name}_above_{label}_tokens")
        if tiered is not None and prompt_tokens > threshold:
            return float(tiered)
    return float(info.get(name) or 0.0)


def cost_per_token(key: str, usage: dict[str, int]) -> tuple[float, float] | None:
    """(prompt USD, completion USD) for ``usage`` (normalized: prompt/completion tokens incl.
    cache reads/writes and reasoning tokens) priced by entry ``key``; ``KeyError`` if unlisted;
    None for entries only litellm's own code prices (see ``_OWN_PRICING_KEYS``).

    OpenAI-style usage counts cached tokens inside ``prompt_tokens``: they are billed at the
    cache-read rate and the rest at the input rate, as litellm's generic pricing does."""
    info = model_cost()[key]
    if info.get("litellm_provider") in _OWN_PRICING_PROVIDERS or any(
        k in info for k in _OWN_PRICING_KEYS
    ):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    read = int(usage.get("cache_read_tokens") or 0)
    write = int(usage.get("cache_creation_tokens") or 0)
    input_rate = _rate(info, "input_cost_per_token", prompt)
    read_rate = info.get("cache_read_input_token_cost")
    write_rate = info.get("cache_creation_input_token_cost")
    uncached = max(prompt - read - write, 0)
    prompt_cost = uncached * input_rate
    prompt_cost += read * (
        _rate(info, "cache_read_input_token_cost", prompt) if read_rate is not None else input_rate
    )
    prompt_cost += write * (_rate(info, "cache_creation_input_token_cost", prompt) if write_rate is not None else input_rate)  # fmt: skip
    output_rate = _rate(info, "output_cost_per_token", prompt)
    reasoning = int(usage.get("reasoning_tokens") or 0)
    reasoning_rate = info.get("output_cost_per_reasoning_token")
    if reasoning and reasoning_rate is not None:
        completion_cost = (completion - reasoning) * output_rate + reasoning * float(reasoning_rate)
    else:
        completion_cost = completion * output_rate
    return prompt_cost, completion_cost
