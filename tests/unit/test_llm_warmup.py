"""The warm-up imports litellm only for a model whose calls go through it: on the fast path the
import would hold the GIL for seconds while the first answer is being produced."""

from __future__ import annotations

import pytest

from bot.llm_warmup import LlmWarmup
from tests.engine_harness import make_config


@pytest.mark.parametrize(
    ("model", "transport", "needed"),
    [
        ("moonshotai/Kimi-K2.6", "auto", False),  # the HF router
        ("openai/gpt-4o-mini", "auto", False),
        ("anthropic/claude-sonnet-4-5", "auto", True),
        ("gemini/gemini-2.5-pro", "auto", True),
        ("moonshotai/Kimi-K2.6", "litellm", True),
    ],
)
async def test_litellm_is_warmed_only_when_the_model_needs_it(
    monkeypatch: pytest.MonkeyPatch, model: str, transport: str, needed: bool
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 34)
    warmup = LlmWarmup(make_config(model_name=model, llm_transport=transport))
    assert warmup.needed() is needed
    if not needed:
        await warmup.run()  # returns at once, waiters released
        assert warmup.ready.is_set()


def test_without_a_config_it_warms_as_before() -> None:
    assert LlmWarmup().needed() is True
