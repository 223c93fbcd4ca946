"""The fast path sends what litellm sends, reads what litellm reads, fails as litellm fails.

Each case runs the same call twice against one fake — ``llm_transport: auto`` (the lean client)
and ``llm_transport: litellm`` — and compares what reached the fake (the JSON body and the
headers that carry meaning) and what came back (the assembled result, or the classified
error). Request shapes: a plain call, tools, an effort, a prompt-cache key, a router ``:tag``,
a local server, and OpenAI's model families whose parameters litellm rewrites (o-series and
gpt-5 take ``max_completion_tokens``; models listed without reasoning lose ``reasoning_effort``).
Error bodies follow OpenAI's documented shape (platform.openai.com "Error codes"), the HF
router's (``{"error": "<text>"}``) and TGI's 422 (reference notes, real-world-shapes.md).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_core.llm import LLMClient, LLMError, get_litellm
from agent_core.llm.transport import FastTransport
from tests.engine_harness import make_config
from tests.fakes.fake_hf_router import HF_TOKEN, FakeHFRouter
from tests.fakes.fake_llm import FakeLLM, Reply, call, error, text, tool_calls

KIMI = "moonshotai/Kimi-K2.6"
LOCAL = "openai/local-model"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read",
            "description": "Read a file in the workspace.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "relative path"}},
                "required": ["path"],
            },
        },
    }
]
MEANINGFUL_HEADERS = ("authorization", "content-type", "x-hf-session-id", "x-custom")
HISTORY = [{"role": "system", "content": "sys"}, {"role": "user", "content": "read a"}]


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeHFRouter]:
    async with FakeHFRouter() as fake:
        monkeypatch.setenv("ML_INTERN_HF_ROUTER_URL", fake.base_url)
        monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-" + "p" * 48)  # must never reach the router
        yield fake


@pytest.fixture
async def local(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeLLM]:
    async with FakeLLM(strict=True) as fake:
        monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield fake


async def both(fake: FakeLLM, reply: Reply, model: str, **call: Any) -> list[Any]:
    """The same call on each transport; returns [auto outcome, litellm outcome] where an
    outcome is the result or the LLMError."""
    await get_litellm_in_thread()
    outcomes: list[Any] = []
    config = call.pop("config", {})
    for transport in ("auto", "litellm"):
        fake.push(reply)
        llm = LLMClient(make_config(model_name=model, llm_transport=transport,
                                    llm_max_retries=0, **config))  # fmt: skip
        try:
            outcomes.append(await llm.complete(list(call.get("messages", HISTORY)), model=model,
                                               **{k: v for k, v in call.items() if k != "messages"}))  # fmt: skip
        except LLMError as err:
            outcomes.append(err)
        finally:
            await llm.aclose()
    return outcomes


async def get_litellm_in_thread() -> None:
    import asyncio

    await asyncio.to_thread(get_litellm)


def sent(fake: FakeLLM) -> list[tuple[dict[str, Any], dict[str, str]]]:
    return [
        (dict(r), {k: v for k, v in r.headers.items() if k in MEANINGFUL_HEADERS})
        for r in fake.requests
    ]


def same_result(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    if isinstance(a, LLMError):
        assert (a.kind, a.message, a.retry_after) == (b.kind, b.message, b.retry_after)
        return
    left, right = dataclasses.asdict(a), dataclasses.asdict(b)
    for volatile in ("latency_ms",):
        left.pop(volatile), right.pop(volatile)
    for calls in (left["tool_calls"], right["tool_calls"]):
        for i, c in enumerate(calls):
            c["id"] = f"<id {i}>"  # the fake numbers its replies; the client may mint ids
    # The one known difference: when a provider streams reasoning text but reports no
    # completion_tokens_details, litellm estimates reasoning_tokens with its tokenizer; the
    # fast path reports only what the provider reported (the count is informational).
    if "reasoning_tokens" not in left["usage"]:
        right["usage"].pop("reasoning_tokens", None)
    assert left == right


ROUTER_CASES = {
    "plain": ({"model": KIMI}, {}),
    "tools_and_cache_key": ({"model": KIMI}, {"tools": TOOLS, "cache_key": "sess-42"}),
    "effort_max_on_the_router": ({"model": KIMI, "config": {"reasoning_effort": "max"}}, {}),
    "router_tag": ({"model": KIMI + ":novita"}, {"tools": TOOLS}),
    "extra_body_and_headers": (
        {"model": KIMI},
        {"extra": {"extra_body": {"top_k": 5}, "extra_headers": {"X-Custom": "1"}}},
    ),
    "max_tokens": ({"model": KIMI, "config": {"reasoning_effort": None}}, {"max_tokens": 64}),
    # Claude through the router: cache breakpoints on the tools and messages travel as-is.
    "claude_via_router_with_markers": (
        {"model": "anthropic/claude-opus-4.8:fal-ai"},
        {"tools": TOOLS, "cache_key": "sess-7"},
    ),
}


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("case", list(ROUTER_CASES))
async def test_router_requests_are_the_same_on_both_transports(
    router: FakeHFRouter, case: str, stream: bool
) -> None:
    setup, call_kw = ROUTER_CASES[case]
    config = {"stream": stream, **setup.get("config", {})}
    auto, via_litellm = await both(router, text("hello there"), setup["model"], config=config,
                                   **call_kw)  # fmt: skip
    (body_a, headers_a), (body_b, headers_b) = sent(router)
    assert body_a == body_b and headers_a == headers_b
    assert headers_a["authorization"] == f"Bearer {HF_TOKEN}" and router.leaked_keys == []
    same_result(auto, via_litellm)
    assert auto.content == "hello there" and router.rejections == []


async def test_local_server_requests_are_the_same_on_both_transports(local: FakeLLM) -> None:
    auto, via_litellm = await both(local, tool_calls(call("read", {"path": "a"})), LOCAL,
                                   tools=TOOLS, cache_key="sess-1", max_tokens=128)  # fmt: skip
    (body_a, headers_a), (body_b, headers_b) = sent(local)
    assert body_a == body_b and headers_a == headers_b
    assert "reasoning_effort" not in body_a and "prompt_cache_key" not in body_a  # local: neither
    same_result(auto, via_litellm)
    assert auto.tool_calls[0]["name"] == "read"


OPENAI_FAMILIES = ["gpt-4o-mini", "gpt-4.1", "gpt-5", "gpt-5-mini", "o3-mini", "o4-mini", "fake"]


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("model", OPENAI_FAMILIES)
async def test_openai_parameter_rules_match_litellms(model: str, stream: bool) -> None:
    """OpenAI direct (a public base URL cannot be faked on loopback, so the litellm kwargs the
    client builds are sent through each transport as they are)."""
    await get_litellm_in_thread()
    kwargs = {"model": f"openai/{model}", "api_key": "sk-test-key", "messages": HISTORY,
              "tools": TOOLS, "tool_choice": "auto", "max_tokens": 64, "reasoning_effort": "high",
              "prompt_cache_key": "sess-9", "timeout": 30, "num_retries": 0, "max_retries": 0}  # fmt: skip
    if stream:
        kwargs |= {"stream": True, "stream_options": {"include_usage": True}}
    async with FakeLLM(default=text("ok")) as fake:
        kwargs["api_base"] = fake.base_url
        fast = FastTransport(30)
        try:
            response = await fast.complete(kwargs, stream=stream)
            if stream:
                assert [e async for e in response]
        finally:
            await fast.aclose()
        response = await get_litellm().acompletion(**kwargs)
        if stream:
            assert [c async for c in response]
        (body_a, headers_a), (body_b, headers_b) = sent(fake)
    assert body_a == body_b and headers_a == headers_b


ERRORS = {
    "401_openai": error(401, "Incorrect API key provided: sk-test***"),
    "401_router_string_body": error(401, "Invalid credentials in Authorization header"),
    "403": error(403, "You are not allowed to sample from this model"),
    "404": error(404, "The model `nope` does not exist", code="model_not_found"),
    "402_credit": error(402, "You have exceeded your monthly included credits for Inference Providers."),
    "429_retry_after": error(429, "Rate limit reached for requests", retry_after=7),
    "400_context_length_exceeded": error(
        400, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
        code="context_length_exceeded", param="messages"),
    "400_vllm_overflow": error(
        400, "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
        "(4000 in the messages, 1000 in the completion)."),
    "413": error(413, "Request too large for model: the body exceeds the limit"),
    "422_tgi_overflow": error(422, "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096"),
    "500": error(500),
    "502": error(502, "Bad gateway"),
    "503": error(503, "The engine is currently overloaded, please try again later"),
    "400_effort_rejected": error(400, "Unsupported value: 'reasoning_effort' does not support 'high' with this model."),
    "400_plain": error(400, "Invalid 'messages[1].content': string too long."),
}  # fmt: skip


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("case", list(ERRORS))
async def test_errors_are_classified_the_same_on_both_transports(
    local: FakeLLM, case: str, stream: bool
) -> None:
    reply = ERRORS[case]
    if reply.status == 422:  # litellm (and so the fast path) sends a 422'd request twice
        local.default = reply
    auto, via_litellm = await both(local, reply, LOCAL, config={"stream": stream})
    assert isinstance(auto, LLMError), auto
    same_result(auto, via_litellm)
    if reply.retry_after:
        assert auto.retry_after == reply.retry_after


STREAMS = {
    "interleaved_parallel_calls": tool_calls(
        call("read", {"path": "a"}), call("read", {"path": "b"}), interleave=True, args_chunk_size=3
    ),
    "text_then_calls_with_reasoning": tool_calls(
        call("read", {"path": "a"}), text="Let me look.", reasoning="Need a."
    ),
    "length_cut": text("partial answer", finish_reason="length"),
    "refusal": text("", finish_reason="content_filter"),
    "hermes_markup": text(
        'Sure.<tool_call>{"name": "read", "arguments": {"path": "x"}}</tool_call>'
    ),
    "usage_counts": text("counted", prompt_tokens=1234, completion_tokens=56),
}


@pytest.mark.parametrize("case", list(STREAMS))
async def test_streams_assemble_the_same_on_both_transports(local: FakeLLM, case: str) -> None:
    auto, via_litellm = await both(local, STREAMS[case], LOCAL, tools=TOOLS)
    same_result(auto, via_litellm)  # usage included (see the one exception there)
    assert auto.usage["prompt_tokens"] == via_litellm.usage["prompt_tokens"] > 0


async def test_a_router_call_is_priced_the_same_on_both_transports(router: FakeHFRouter) -> None:
    auto, via_litellm = await both(router, text("priced", prompt_tokens=1000, completion_tokens=100),
                                   KIMI + ":together")  # fmt: skip
    assert auto.cost_usd and auto.cost_usd == via_litellm.cost_usd
    assert auto.cost_source == via_litellm.cost_source == "litellm:together_ai/moonshotai/Kimi-K2.6"


async def test_a_422_naming_a_parameter_is_resent_without_it_on_both_transports(
    local: FakeLLM,
) -> None:
    """litellm's heal for servers that validate with FastAPI (a 422 whose message is a JSON
    ``detail`` list naming the field): drop it and send once more. The fast path does the same."""
    detail = json.dumps({"detail": [{"type": "extra_forbidden", "loc": ["body", "max_tokens"],
                                     "msg": "Extra inputs are not permitted"}]})  # fmt: skip
    for _ in range(2):  # one round per transport
        local.push(error(422, detail), text("healed"))
    await get_litellm_in_thread()
    for transport in ("auto", "litellm"):
        llm = LLMClient(make_config(model_name=LOCAL, llm_transport=transport, llm_max_retries=0))
        try:
            result = await llm.complete(HISTORY, model=LOCAL, max_tokens=64)
        finally:
            await llm.aclose()
        assert result.content == "healed"
    bodies = [dict(r) for r in local.requests]
    assert [b.get("max_tokens") for b in bodies] == [64, None, 64, None]
    assert bodies[0] == bodies[2] and bodies[1] == bodies[3]
