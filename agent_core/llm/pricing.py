"""What a model call cost and how much context a model takes, from litellm's model map.

The map is read as JSON (:mod:`.model_map`), so none of this imports litellm.

Direct provider ids (``anthropic/claude-sonnet-4-5``) are in the map as they are. Router ids
(``moonshotai/Kimi-K2.6[:novita]``) are not, but the same weights appear under the hosts that
serve them (``together_ai/moonshotai/Kimi-K2.6``, ``novita/…``): the entry of the tagged host is
used when there is one, otherwise the most expensive host (a cap counted against an estimate
should err high) and the largest context window listed. ``cost_source`` says which entry priced
a call, so a number is never presented as more certain than it is.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from . import model_map
from .routing import OPENAI_WIRE_PROVIDERS, ROUTER, Route

FALLBACK_CONTEXT_WINDOW = 200_000


def _litellm() -> Any:
    from .client import get_litellm

    return get_litellm()


def normalized_usage(usage: Any) -> dict[str, int]:
    """prompt/completion/total tokens plus cache reads and writes, whatever the provider called them."""
    if not usage:
        return {}

    def get(obj: Any, key: str) -> Any:
        return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

    out: dict[str, int] = {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = get(usage, key)
        if isinstance(value, int):
            out[key] = value
    details = get(usage, "prompt_tokens_details")
    read = get(usage, "cache_read_input_tokens") or (
        get(details, "cached_tokens") if details else None
    )
    write = get(usage, "cache_creation_input_tokens") or (
        get(details, "cache_write_tokens") if details else None
    )
    out["cache_read_tokens"] = int(read or 0)
    out["cache_creation_tokens"] = int(write or 0)
    reasoning = get(get(usage, "completion_tokens_details") or {}, "reasoning_tokens")
    if isinstance(reasoning, int) and reasoning:
        out["reasoning_tokens"] = reasoning
    return out


@lru_cache(maxsize=256)
def price_entry(route_model: str, provider: str, tag: str | None) -> str | None:
    """The litellm model-map key that prices ``route_model`` (None when nothing does)."""
    if provider != ROUTER:
        return route_model if model_map.model_info(route_model) is not None else None
    entries = model_map.hosted_entries(route_model)
    if not entries:
        return None
    if tag:
        for key in entries:
            if _host_name(key.split("/", 1)[0]) == _host_name(tag):
                return key
    table = model_map.model_cost()
    return max(entries, key=lambda k: float(table[k].get("input_cost_per_token") or 0))


def _key_of(model: str) -> str:
    """The map's own key for ``model`` (``openai/gpt-4o-mini`` is listed as ``gpt-4o-mini``)."""
    if model in model_map.model_cost():
        return model
    return model.partition("/")[2] or model


def _host_name(name: str) -> str:
    """``fal-ai`` / ``fal_ai`` / ``together_ai`` / ``together`` → one spelling."""
    return name.lower().replace("-", "").replace("_", "").removesuffix("ai")


def call_cost(route: Route, usage_obj: Any) -> tuple[float | None, str]:
    """USD for one call incl. cache-read and cache-write pricing; ``(None, "unknown")`` when the
    model is not priced (a local server, an unlisted router model). Priced from the map read
    directly; only entries litellm prices with code of its own (and every route litellm
    carries, e.g. Anthropic's cache-write tiers) go through ``litellm.cost_per_token``."""
    if route.local or not usage_obj:
        return None, "unknown"
    key = price_entry(route.hub_id if route.provider == ROUTER else route.litellm_model,
                      route.provider, route.router_tag)  # fmt: skip
    if key is None:
        return None, "unknown"
    try:
        costs = None
        if route.provider in OPENAI_WIRE_PROVIDERS:
            costs = model_map.cost_per_token(_key_of(key), normalized_usage(usage_obj))
        if costs is None:
            costs = _litellm().cost_per_token(model=key, usage_object=usage_obj)
        prompt, completion = costs
    except Exception:
        return None, "unknown"
    return round(float(prompt) + float(completion), 8), f"litellm:{key}"


def context_window(route: Route) -> int:
    """The model's input window (litellm's map; router ids via their hosts); 200k if unknown."""
    if route.provider == ROUTER:
        infos = [model_map.model_info(k) for k in model_map.hosted_entries(route.hub_id)]
    else:
        infos = [model_map.model_info(route.litellm_model) or model_map.model_info(route.model)]
    best = max((int(i.get("max_input_tokens") or i.get("max_tokens") or 0) for i in infos if i),
               default=0)  # fmt: skip
    return best or FALLBACK_CONTEXT_WINDOW


def max_output_tokens(route: Route) -> int | None:
    """The model's output ceiling (litellm only defaults Claude with thinking to 8192)."""
    info = model_map.model_info(route.litellm_model)
    value = info.get("max_output_tokens") if info else None
    return int(value) if value else None


def add_to_totals(totals: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Fold one ``llm_call``'s fields into running totals (per session / per user)."""
    totals["calls"] = int(totals.get("calls", 0)) + 1
    for key in ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_creation_tokens"):
        totals[key] = int(totals.get(key, 0)) + int(fields.get(key) or 0)
    cost = fields.get("cost_usd")
    if isinstance(cost, int | float):
        totals["cost_usd"] = round(float(totals.get("cost_usd", 0.0)) + float(cost), 8)
    else:
        totals["unpriced_calls"] = int(totals.get("unpriced_calls", 0)) + 1
    return totals


def record_llm_call(state: dict[str, Any], config: Any, fields: dict[str, Any]) -> None:
    """Fold one call into the session's ``llm_usage`` totals (shown by ``status`` and in the
    finished-task notification) and, in YOLO mode, count its cost against the cap like job
    spend: an agent that may spend on its own must also pay for its own thinking."""
    add_to_totals(state.setdefault("llm_usage", {}), fields)
    cost = fields.get("cost_usd")
    if not isinstance(cost, int | float) or cost <= 0:
        return
    from .. import policy

    if policy.yolo_enabled(state, config):
        ledger = policy.yolo_state(state, config)
        ledger["spent_usd"] = round(float(ledger["spent_usd"]) + float(cost), 8)


def describe_llm_usage(usage: dict[str, Any] | None) -> str | None:
    """One line for people (``status``, the finished-task notification); None before any call."""
    if not usage or not usage.get("calls"):
        return None
    from ..pricing import format_usd

    calls = int(usage["calls"])
    cost = usage.get("cost_usd")
    spent = format_usd(float(cost)) if isinstance(cost, int | float) else "unknown"
    if usage.get("unpriced_calls"):
        spent += f" (+{usage['unpriced_calls']} unpriced call(s))"
    tokens = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
    line = f"{spent} over {calls} model call(s), {tokens:,} tokens"
    read = int(usage.get("cache_read_tokens", 0))
    if read:
        line += f" ({read:,} read from the prompt cache)"
    return line


USER_USAGE_NAMESPACE = "llm_usage_by_user"


async def record_user_usage(
    store: Any, lock: Any, user: str | None, fields: dict[str, Any]
) -> None:
    """Add one call to the requester's totals across all their threads (the store's key-value
    table; ``lock`` serialises the read-modify-write between concurrent sessions)."""
    if not user:
        return
    async with lock:
        totals = await store.kv_get(USER_USAGE_NAMESPACE, user) or {}
        await store.kv_set(USER_USAGE_NAMESPACE, user, add_to_totals(dict(totals), fields))
