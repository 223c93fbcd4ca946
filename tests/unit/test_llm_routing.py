"""The one routing rule (agent_core/llm/routing.py), prompt-cache hints and effort per route."""

from __future__ import annotations

import pytest

from agent_core.llm import routing
from agent_core.llm.caching import apply_markers, cache_kwargs, shape_messages
from agent_core.llm.effort import EffortBook, clamp
from agent_core.llm.errors import AUTH, LLMError
from agent_core.llm.pricing import add_to_totals, context_window
from agent_core.llm.textcalls import MarkupFilter
from tests.engine_harness import make_config

HF = "hf_" + "r" * 34
OPENAI = "sk-proj-" + "o" * 48
ANTHROPIC = "sk-ant-" + "a" * 40


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_BASE", "OPENAI_BASE_URL", "ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_TOKEN", HF)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC)


@pytest.mark.parametrize(
    ("model", "provider", "litellm_model"),
    [
        ("moonshotai/Kimi-K2.6", routing.ROUTER, "openai/moonshotai/Kimi-K2.6"),
        ("moonshotai/Kimi-K2.6:novita", routing.ROUTER, "openai/moonshotai/Kimi-K2.6:novita"),
        ("huggingface/zai-org/GLM-5.1", routing.ROUTER, "openai/zai-org/GLM-5.1"),
        # Hub ids under orgs that are also litellm prefixes stay on the router …
        ("openai/gpt-oss-120b", routing.ROUTER, "openai/openai/gpt-oss-120b"),
        (
            "anthropic/claude-opus-4.8:fal-ai",
            routing.ROUTER,
            "openai/anthropic/claude-opus-4.8:fal-ai",
        ),
        ("openai/gpt-5.5:fal-ai", routing.ROUTER, "openai/openai/gpt-5.5:fal-ai"),
        # … while the providers' own models go to the providers.
        ("anthropic/claude-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4-5"),
        ("openai/gpt-4o-mini", "openai", "openai/gpt-4o-mini"),
        ("claude-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4-5"),
        ("gpt-4o-mini", "openai", "openai/gpt-4o-mini"),
    ],
)
def test_routing_rule(keys: None, model: str, provider: str, litellm_model: str) -> None:
    route = routing.resolve(model, make_config())
    assert (route.provider, route.litellm_model) == (provider, litellm_model)


def test_each_host_gets_only_its_own_key(keys: None) -> None:
    config = make_config()
    assert routing.resolve("moonshotai/Kimi-K2.6", config).api_key == HF
    assert routing.resolve("openai/gpt-oss-120b", config).api_key == HF
    assert routing.resolve("openai/gpt-4o-mini", config).api_key == OPENAI
    assert routing.resolve("anthropic/claude-sonnet-4-5", config).api_key == ANTHROPIC


def test_router_url_env_overrides_config(keys: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(routing.ROUTER_URL_ENV, "http://127.0.0.1:9/v1/")
    assert routing.resolve("Qwen/Qwen3-8B", make_config()).api_base == "http://127.0.0.1:9/v1"


def test_openai_base_override_sends_unknown_openai_ids_there(keys: None, monkeypatch) -> None:
    """A user who points OPENAI_API_BASE at their own server means it for `openai/<name>`."""
    monkeypatch.setenv("OPENAI_API_BASE", "http://10.0.0.5:8000/v1")
    route = routing.resolve("openai/my-finetune", make_config())
    assert route.provider == "openai" and route.local and route.api_key == OPENAI


def test_missing_keys_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "none"))
    for name in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENAI_API_BASE",
    ):
        monkeypatch.delenv(name, raising=False)
    for model, env in (("Qwen/Qwen3-8B", "HF_TOKEN"), ("openai/gpt-4o", "OPENAI_API_KEY"),
                       ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY")):  # fmt: skip
        with pytest.raises(LLMError) as caught:
            routing.resolve(model, make_config())
        assert caught.value.kind == AUTH and f"set {env}" in caught.value.message


def test_context_windows_come_from_litellm_including_router_models(keys: None) -> None:
    config = make_config(context_window=None)
    assert context_window(routing.resolve("moonshotai/Kimi-K2.6", config)) == 262_144
    assert context_window(routing.resolve("anthropic/claude-sonnet-4-5", config)) == 200_000
    assert context_window(routing.resolve("some-org/unlisted-model", config)) == 200_000


def test_cache_hints_per_provider(keys: None) -> None:
    config = make_config()
    router = routing.resolve("moonshotai/Kimi-K2.6", config)
    openai = routing.resolve("openai/gpt-4o-mini", config)
    claude = routing.resolve("anthropic/claude-sonnet-4-5", config)
    assert cache_kwargs(router, "s1") == {"extra_headers": {"X-HF-Session-id": "s1"}}
    assert cache_kwargs(openai, "s1") == {"prompt_cache_key": "s1"}
    assert cache_kwargs(claude, "s1") == {}


def test_markers_never_touch_the_stored_history() -> None:
    history = [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"},
               {"role": "assistant", "content": "a"}, {"role": "user", "content": "u2"}]  # fmt: skip
    snapshot = [dict(m) for m in history]
    marked, tools = apply_markers(history, [{"type": "function", "function": {"name": "t"}}])
    assert history == snapshot
    assert sum("cache_control" in str(m) for m in marked) + ("cache_control" in tools[-1]) == 4


def test_thinking_goes_only_to_anthropic_with_thinking_on(keys: None) -> None:
    config = make_config()
    msg = [
        {
            "role": "assistant",
            "content": "x",
            "thinking_blocks": [{"type": "thinking"}],
            "reasoning_content": "r",
        }
    ]
    claude = routing.resolve("anthropic/claude-sonnet-4-5", config)
    assert "thinking_blocks" in shape_messages(claude, msg, thinking=True)[0]
    assert "thinking_blocks" not in shape_messages(claude, msg, thinking=False)[0]
    router = routing.resolve("moonshotai/Kimi-K2.6", config)
    assert set(shape_messages(router, msg, thinking=True)[0]) == {"role", "content"}


def test_effort_levels_per_provider_and_heal_memory(keys: None) -> None:
    config = make_config()
    sonnet45 = routing.resolve("anthropic/claude-sonnet-4-5", config)
    opus48 = routing.resolve("anthropic/claude-opus-4-8", config)
    assert clamp(sonnet45, "max") == "high"  # litellm: no max/xhigh on sonnet-4-5
    assert clamp(opus48, "max") == "max" and clamp(opus48, "xhigh") == "xhigh"
    book = EffortBook("high")
    assert book.level_for(sonnet45) == "high"
    assert book.heal(sonnet45, "high") == "medium" and book.level_for(sonnet45) == "medium"
    assert book.heal(sonnet45, "low") is None and book.level_for(sonnet45) is None
    book.forget()
    assert book.level_for(sonnet45) == "high"


def test_markup_filter_holds_back_half_a_tag() -> None:
    f = MarkupFilter()
    assert f.feed("Sure <tool_") == "Sure "
    assert f.feed("call>{...}") == ""
    assert f.flush() == ""
    g = MarkupFilter()
    assert g.feed("a < b and <fun") == "a < b and "
    assert g.feed("ny>") + g.flush() == "<funny>"


def test_session_totals_count_cost_and_unpriced_calls() -> None:
    totals: dict = {}
    add_to_totals(
        totals,
        {"prompt_tokens": 10, "completion_tokens": 2, "cache_read_tokens": 8, "cost_usd": 0.5},
    )
    add_to_totals(totals, {"prompt_tokens": 5, "cost_usd": None})
    assert totals == {"calls": 2, "prompt_tokens": 15, "completion_tokens": 2, "cache_read_tokens": 8,
                      "cache_creation_tokens": 0, "cost_usd": 0.5, "unpriced_calls": 1}  # fmt: skip


def test_reasoning_content_goes_back_only_where_the_provider_requires_it(keys, monkeypatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot-" + "m" * 30)
    moonshot = routing.resolve("moonshot/kimi-k2-thinking", make_config())
    calls = [{"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{}"}}]
    msg = [{"role": "assistant", "content": None, "tool_calls": calls, "reasoning_content": "why"}]
    assert shape_messages(moonshot, msg, thinking=True)[0]["reasoning_content"] == "why"
    plain = [{"role": "assistant", "content": "x", "reasoning_content": "why"}]
    assert "reasoning_content" not in shape_messages(moonshot, plain, thinking=True)[0]


@pytest.mark.parametrize(
    "model",
    ["https://evil.example/v1/model", "evil.example/model", "huggingface/https://evil.example/x",
     "moonshotai/Kimi-K2.6@evil.example", "hosted_vllm/http://evil.example/x", "../../etc/passwd"],
)  # fmt: skip
def test_a_model_id_typed_in_slack_cannot_choose_where_a_key_goes(keys: None, model: str) -> None:
    """Anyone in a thread can say `model <id>`; the id must never pick the host a key is sent to."""
    route = routing.resolve(model, make_config())
    if route.api_key == HF:
        assert route.api_base == "https://router.huggingface.co/v1"
    else:
        assert (
            route.api_base is None and route.api_key is None
        )  # litellm's own per-provider settings


async def test_text_markup_is_left_alone_when_the_model_made_real_calls() -> None:
    from agent_core.llm.result import finalize_calls

    content = 'Done. <tool_call>{"name": "hf_jobs", "arguments": {"operation": "run"}}</tool_call>'
    real = [{"id": "c1", "name": "read", "arguments": "{}"}]
    text, calls = finalize_calls(content, real, set())
    assert [c["name"] for c in calls] == ["read"] and text == content
