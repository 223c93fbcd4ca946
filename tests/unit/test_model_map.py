"""litellm's model map read as JSON agrees with litellm itself (so nothing on a fast-path turn
needs to import litellm to route, price or size a call)."""

from __future__ import annotations

import pytest

from agent_core.llm import get_litellm, model_map
from agent_core.llm.pricing import normalized_usage

LOOKUPS = [
    "openai/gpt-4o-mini", "openai/gpt-5", "openai/o3-mini", "openai/GPT-4o-mini",
    "openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini", "o3", "anthropic/claude-sonnet-4-5",
    "claude-sonnet-4-5", "together_ai/moonshotai/Kimi-K2.6", "deepinfra/moonshotai/Kimi-K2-Instruct",
    "openai/moonshotai/Kimi-K2.6", "openai/gpt-oss-120b", "openai/fake",
]  # fmt: skip
# Usage shapes as providers report them (OpenAI's usage object: cached tokens inside
# prompt_tokens, reasoning tokens inside completion_tokens), up to the 200k/272k price tiers.
USAGES = [
    {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
    {"prompt_tokens": 300_000, "completion_tokens": 200, "total_tokens": 300_200,
     "prompt_tokens_details": {"cached_tokens": 100_000}},
    {"prompt_tokens": 5000, "completion_tokens": 2000, "total_tokens": 7000,
     "prompt_tokens_details": {"cached_tokens": 4000},
     "completion_tokens_details": {"reasoning_tokens": 1500}},
]  # fmt: skip


@pytest.fixture(scope="module")
def litellm():  # type: ignore[no-untyped-def]
    return get_litellm()


def test_the_map_is_litellms_own_file(litellm) -> None:  # type: ignore[no-untyped-def]
    models = {k for k, v in litellm.model_cost.items() if "litellm_provider" in v}
    assert set(model_map.model_cost()) == models


@pytest.mark.parametrize("model", LOOKUPS)
def test_lookups_find_what_litellm_finds(litellm, model: str) -> None:  # type: ignore[no-untyped-def]
    try:
        info = litellm.get_model_info(model)
        expected = (info["litellm_provider"], info["max_input_tokens"], info["max_output_tokens"])
    except Exception:
        expected = None
    mine = model_map.model_info(model)
    assert (mine and (mine["litellm_provider"], mine.get("max_input_tokens"),
                      mine.get("max_output_tokens"))) == expected  # fmt: skip


def test_generic_prices_match_litellms_for_every_chat_entry(litellm) -> None:  # type: ignore[no-untyped-def]
    checked = declined = 0
    for key, info in model_map.model_cost().items():
        if info.get("mode", "chat") != "chat" or info["litellm_provider"] == "github_copilot":
            continue  # (litellm's Copilot pricing logs in over the network first)
        for usage in USAGES:
            try:
                expected = litellm.cost_per_token(model=key, usage_object=litellm.Usage(**usage))
            except Exception:
                continue
            mine = model_map.cost_per_token(key, normalized_usage(usage))
            if mine is None:  # litellm's own pricing code: the caller asks litellm
                declined += 1
                continue
            checked += 1
            assert mine == pytest.approx(expected, rel=1e-9, abs=1e-12), (key, usage)
    assert checked > 5000 and declined < checked // 5


def test_router_hosts_are_found_under_any_provider_prefix() -> None:
    hosts = model_map.hosted_entries("moonshotai/Kimi-K2.6")
    assert "together_ai/moonshotai/Kimi-K2.6" in hosts
    assert all(k.lower().endswith("/moonshotai/kimi-k2.6") for k in hosts)
