"""An LLM endpoint that attacks the client: never finishes, floods, echoes the key, redirects.

Each test is named after the attack. They run on the fast path (``llm_transport: auto``), the
transport that parses the provider's bytes itself; the bounds are its own
(``agent_core/llm/openai_wire.py``: 8 MiB per event, 32 MiB per whole response, 256 MiB per
stream; ``client.py``: 16 MiB of assembled answer).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_core.events import UserInput
from agent_core.llm import LLMClient, LLMError
from agent_core.llm.errors import TRANSIENT
from tests.adversarial.conftest import store_dump
from tests.engine_harness import ORIGIN, make_config, run_engine
from tests.fakes.fake_hf_router import HF_TOKEN, FakeHFRouter
from tests.fakes.fake_llm import FakeLLM, Reply, call, error, text, tool_calls, wire

MODEL = "openai/local-model"
KIMI = "moonshotai/Kimi-K2.6"


def first_chunk(content: str) -> bytes:
    event = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": content},
                          "finish_reason": None}]}  # fmt: skip
    return f"data: {json.dumps(event)}\n\n".encode()


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeLLM]:
    async with FakeLLM(strict=True) as fake:
        monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield fake


def client(**overrides: object) -> LLMClient:
    settings: dict[str, object] = {"llm_transport": "auto", "llm_max_retries": 0, **overrides}
    return LLMClient(make_config(model_name=MODEL, **settings))


async def test_stream_that_never_sends_done_is_cut_by_the_read_timeout(server: FakeLLM) -> None:
    server.push(wire(first_chunk("I will never finish"), hang_after_body=True))
    llm = client(llm_timeout_s=0.5)
    shown: list[str] = []

    async def on_chunk(piece: str) -> None:
        shown.append(piece)

    try:
        with pytest.raises(LLMError) as caught:
            await llm.complete([{"role": "user", "content": "go"}], model=MODEL, on_chunk=on_chunk)
        assert caught.value.kind == TRANSIENT and "timed out" in caught.value.message
        assert shown == ["I will never finish"]
        await server.wait_for_disconnects(1)  # the hanging connection was closed, not pooled
    finally:
        await llm.aclose()
    assert llm.fast._session is None  # nothing left open


async def test_silent_endpoint_before_the_first_byte_is_transient_and_retried(
    server: FakeLLM,
) -> None:
    server.push(wire(b"", hang_after_body=True), text("second try"))
    llm = client(llm_timeout_s=0.5, llm_max_retries=1, llm_retry_base_s=0.01)
    try:
        result = await llm.complete([{"role": "user", "content": "go"}], model=MODEL)
    finally:
        await llm.aclose()
    assert result.content == "second try" and len(server.requests) == 2


async def refusal(server: FakeLLM, reply: Reply) -> LLMError:
    """The error the fast path ends ``reply`` with."""
    server.push(reply)
    llm = client()
    try:
        with pytest.raises(LLMError) as caught:
            await llm.complete([{"role": "user", "content": "go"}], model=MODEL)
    finally:
        await llm.aclose()
    return caught.value


HUGE_ARGUMENTS = call("write", raw_arguments='{"content": "' + "A" * (50 * 1024 * 1024) + '"}')


async def test_ten_megabyte_event_line_is_refused_not_buffered(server: FakeLLM) -> None:
    err = await refusal(server, wire(b"data: " + b"x" * (10 * 1024 * 1024) + b"\n\n"))
    assert not err.retryable and "too large" in err.message


async def test_fifty_megabyte_tool_arguments_in_one_delta_are_refused(server: FakeLLM) -> None:
    err = await refusal(server, tool_calls(HUGE_ARGUMENTS, args_chunk_size=64 * 1024 * 1024))
    assert not err.retryable and "too large" in err.message


async def test_fifty_megabyte_tool_arguments_in_small_deltas_are_refused(server: FakeLLM) -> None:
    err = await refusal(server, tool_calls(HUGE_ARGUMENTS, args_chunk_size=1024 * 1024))
    assert not err.retryable and "too large" in err.message


@pytest.mark.parametrize("where", ["router", "local"])
async def test_error_body_echoing_the_authorization_header_never_reaches_events_logs_or_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    local_key = "local-vllm-key-" + "q7" * 12  # a --api-key of the user's own choosing
    async with FakeHFRouter() as router, FakeLLM(strict=True) as local:
        fake, key, model = (
            (router, HF_TOKEN, KIMI) if where == "router" else (local, local_key, MODEL)
        )
        echo = error(400, f"Invalid request. Headers received: {{'Authorization': 'Bearer {key}'}}")
        fake.default = echo
        monkeypatch.setenv("ML_INTERN_HF_ROUTER_URL", router.base_url)
        monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
        caplog.set_level(logging.DEBUG)
        config = make_config(model_name=model, llm_transport="auto", llm_max_retries=0)
        async with run_engine(tmp_path / "db", local.base_url, config=config) as eng:
            monkeypatch.setenv("OPENAI_API_KEY", local_key)  # run_engine sets a fake one
            await eng.manager.submit("s", UserInput(text="hi"), origin=ORIGIN)
            failed = await eng.events.wait_for("error", "s")
            assert "Invalid request" in failed.data["error"]  # the provider's words, minus the key
            events = json.dumps([e.data for e in eng.events.of("s")])
        assert fake.requests and fake.requests[0].headers["authorization"] == f"Bearer {key}"
        assert key not in events
        assert key not in caplog.text
        assert key not in store_dump(tmp_path / "db")


async def test_redirect_to_another_host_does_not_carry_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeHFRouter() as router, FakeLLM(strict=False) as elsewhere:
        monkeypatch.setenv("ML_INTERN_HF_ROUTER_URL", router.base_url)
        monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
        target = elsewhere.base_url + "/chat/completions"
        router.default = wire(
            b"", status=307, content_type="text/plain", headers={"Location": target}
        )
        elsewhere.default = text("stolen")
        llm = LLMClient(make_config(model_name=KIMI, llm_transport="auto", llm_max_retries=0))
        try:
            with pytest.raises(LLMError) as caught:
                await llm.complete([{"role": "user", "content": "hi"}], model=KIMI)
        finally:
            await llm.aclose()
        assert elsewhere.requests == [] and len(router.requests) == 1
        assert "redirect" in caught.value.message and "127.0.0.1" in caught.value.message
        assert HF_TOKEN not in caught.value.message
