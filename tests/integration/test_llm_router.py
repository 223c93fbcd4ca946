"""Router models (``org/model[:provider]``) through litellm against the HF-router fake."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_core.llm import LLMClient, LLMError
from agent_core.llm.errors import AUTH
from tests.engine_harness import make_config
from tests.fakes.fake_hf_router import HF_TOKEN, FakeHFRouter
from tests.fakes.fake_llm import call, error, text, tool_calls
from tests.llm_transports import llm_transport  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("llm_transport")  # every test on both transports

KIMI = "moonshotai/Kimi-K2.6"
PROVIDER_KEY = "sk-proj-" + "p" * 48


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeHFRouter]:
    async with FakeHFRouter() as fake:
        monkeypatch.setenv("ML_INTERN_HF_ROUTER_URL", fake.base_url)
        monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
        # A provider key in the environment must never reach the router.
        monkeypatch.setenv("OPENAI_API_KEY", PROVIDER_KEY)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-" + "a" * 40)
        yield fake


_OPEN: list[LLMClient] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    """Close the fast path's HTTP session of every client a test made."""
    yield
    while _OPEN:
        await _OPEN.pop().aclose()


def client(effort: str | None = "high", model: str = KIMI) -> LLMClient:
    llm = LLMClient(make_config(model_name=model, reasoning_effort=effort))
    _OPEN.append(llm)
    return llm


async def test_router_model_runs_a_tool_turn_with_the_hf_token_and_nothing_else(
    router: FakeHFRouter,
) -> None:
    router.push(tool_calls(call("read", {"path": "a"}), reasoning="Need the file."), text("done"))
    llm = client()
    history = [{"role": "system", "content": "sys"}, {"role": "user", "content": "read a"}]
    first = await llm.complete(history, model=KIMI, tools=_TOOLS, cache_key="sess-42")
    calls = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
             for c in first.tool_calls]  # fmt: skip
    message = first.assistant_message(calls)
    assert message["reasoning_content"] == "Need the file."  # kept in history …
    history += [
        message,
        {"role": "tool", "tool_call_id": calls[0]["id"], "name": "read", "content": "x"},
    ]
    final = await llm.complete(history, model=KIMI, tools=_TOOLS, cache_key="sess-42")
    assert final.content == "done" and router.rejections == []  # … but not sent back
    assert [r.headers["authorization"] for r in router.requests] == [f"Bearer {HF_TOKEN}"] * 2
    assert router.leaked_keys == []
    assert [r["model"] for r in router.requests] == [KIMI, KIMI]
    assert router.session_ids == ["sess-42", "sess-42"]
    assert router.requests[0]["reasoning_effort"] == "high"
    assert "reasoning_content" not in router.requests[1]["messages"][2]


async def test_thinking_fields_from_history_never_reach_the_router(router: FakeHFRouter) -> None:
    """A thread that started on Claude and switched to a router model keeps working."""
    router.push(text("fine"))
    history = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "hello",
            "thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "sig"}],
            "reasoning_content": "t",
        },  # fmt: skip
        {"role": "user", "content": "again"},
    ]
    result = await client().complete(history, model=KIMI)
    assert result.content == "fine" and router.rejections == []


async def test_max_and_xhigh_become_the_routers_highest_level(router: FakeHFRouter) -> None:
    router.push(text("a"), text("b"))
    await client("max").complete([{"role": "user", "content": "hi"}], model=KIMI)
    await client("minimal").complete([{"role": "user", "content": "hi"}], model=KIMI)
    assert [r["reasoning_effort"] for r in router.requests] == ["high", "low"]


async def test_missing_hf_token_is_named_at_once_and_the_openai_key_is_not_tried(
    router: FakeHFRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HF_TOKEN")
    _no_cached_login(monkeypatch, tmp_path)
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        await client().complete([{"role": "user", "content": "hi"}], model=KIMI)
    assert time.monotonic() - started < 1.0
    assert caught.value.kind == AUTH and "set HF_TOKEN" in caught.value.message
    assert router.requests == [] and router.leaked_keys == []


async def test_hf_auth_login_cached_token_counts_as_credentials(
    router: FakeHFRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HF_TOKEN")
    token_file = _no_cached_login(monkeypatch, tmp_path)
    token_file.write_text(HF_TOKEN)  # what `hf auth login` leaves behind
    router.push(text("ok"))
    result = await client().complete([{"role": "user", "content": "hi"}], model=KIMI)
    assert (
        result.content == "ok"
        and router.requests[0].headers["authorization"] == f"Bearer {HF_TOKEN}"
    )


async def test_rejected_hf_token_is_permanent_and_names_hf_token(
    router: FakeHFRouter, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_" + "z" * 34)
    with pytest.raises(LLMError) as caught:
        await client().complete([{"role": "user", "content": "hi"}], model=KIMI)
    assert caught.value.kind == AUTH and "HF_TOKEN" in caught.value.message
    assert len(router.requests) == 1


async def test_router_call_is_priced_from_a_host_of_the_same_weights(router: FakeHFRouter) -> None:
    router.push(text("ok", prompt_tokens=1000, completion_tokens=100))
    result = await client().complete([{"role": "user", "content": "hi"}], model=KIMI)
    assert result.cost_source.startswith("litellm:") and result.cost_source.lower().endswith(
        "/moonshotai/kimi-k2.6"
    )
    assert result.cost_usd and result.cost_usd > 0
    assert result.usage["prompt_tokens"] == 1000 and result.usage["cache_read_tokens"] == 0


def _no_cached_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point huggingface_hub's token cache at an empty temp dir (HF_HOME is read at import)."""
    from huggingface_hub import constants

    token_file = tmp_path / "token"
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(token_file))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "stored_tokens"))
    return token_file


_TOOLS = [{"type": "function", "function": {"name": "read", "description": "Read a file.",
           "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}]  # fmt: skip


async def test_claude_through_the_router_gets_cache_breakpoints(router: FakeHFRouter) -> None:
    router.push(text("ok"))
    model = "anthropic/claude-opus-4.8:fal-ai"
    history = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    await client(model=model).complete(history, model=model, tools=_TOOLS, cache_key="s")
    sent = router.requests[0]
    assert sent["model"] == model and router.rejections == []
    assert sent["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent["tools"][-1]["cache_control"] == {"type": "ephemeral"}


async def test_out_of_credit_is_permanent_and_says_so(router: FakeHFRouter) -> None:
    router.push(
        error(402, "You have exceeded your monthly included credits for Inference Providers.")
    )
    with pytest.raises(LLMError) as caught:
        await client().complete([{"role": "user", "content": "hi"}], model=KIMI)
    assert caught.value.kind == "billing" and "HF_TOKEN" in caught.value.message
    assert len(router.requests) == 1


async def test_unroutable_model_suggests_dropping_the_provider_suffix(router: FakeHFRouter) -> None:
    model = "moonshotai/Kimi-K2.6:nope-ai"
    router.push(error(400, f"Model {model} is not supported by provider nope-ai."))
    with pytest.raises(LLMError) as caught:
        await client(model=model).complete([{"role": "user", "content": "hi"}], model=model)
    assert "Drop the `:provider` suffix" in caught.value.message
