"""Server-Sent Events as OpenAI-compatible servers really send them, on both transports.

Shapes: keep-alive comments (``: ping``, sent by OpenRouter and others between chunks),
``data:`` with and without the space, CRLF line ends and ``event:`` lines (SSE spec, WHATWG
HTML §9.2), one event spread over several ``data:`` lines, a stream without the final blank
line, an ``error`` object in a data line mid-stream (the HF router and vLLM send one), a 200
whose body is a JSON error, gzip. The fast path must read each exactly as litellm does.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_core.llm import LLMClient, LLMError
from agent_core.llm.errors import BAD_REQUEST, TRANSIENT
from tests.engine_harness import make_config
from tests.fakes.fake_llm import FakeLLM, text, wire
from tests.llm_transports import llm_transport  # noqa: F401  (fixture)

# What the lean client does by design and litellm does not (each use says why).
FAST_PATH_ONLY = pytest.mark.parametrize("llm_transport", ["auto"], indirect=True)

MODEL = "openai/local-model"


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip


def sse(*events: dict | str, sep: str = "\n") -> bytes:
    out = []
    for e in events:
        out.append(e if isinstance(e, str) else f"data: {json.dumps(e)}{sep}{sep}")
    return "".join(out).encode()


USAGE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}  # fmt: skip


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch, llm_transport: str) -> AsyncIterator[FakeLLM]:  # noqa: F811
    async with FakeLLM(strict=True) as fake:
        monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield fake


async def ask(server: FakeLLM, *replies, retries: int = 1) -> tuple[object, list[str]]:
    server.push(*replies)
    shown: list[str] = []

    async def on_chunk(piece: str) -> None:
        shown.append(piece)

    llm = LLMClient(make_config(model_name=MODEL, llm_max_retries=retries))
    try:
        result = await llm.complete(
            [{"role": "user", "content": "go"}], model=MODEL, on_chunk=on_chunk
        )
    finally:
        await llm.aclose()
    return result, shown


async def test_comments_bare_data_crlf_event_lines_and_no_final_blank_line(server: FakeLLM) -> None:
    body = (
        b": ping\r\n\r\n"
        + b"event: message\r\ndata:" + json.dumps(chunk({"role": "assistant", "content": "hel"})).encode() + b"\r\n\r\n"
        + b": ping\r\n\r\n"
        + b"data: " + json.dumps(chunk({"content": "lo"}, "stop")).encode() + b"\r\n\r\n"
        + b"data: " + json.dumps(USAGE).encode() + b"\r\n\r\n"
        + b"data: [DONE]"
    )  # fmt: skip
    result, shown = await ask(server, wire(body))
    assert result.content == "hello" and "".join(shown) == "hello"
    assert result.finish_reason == "stop" and result.usage["prompt_tokens"] == 5


async def test_one_event_over_several_data_lines(server: FakeLLM) -> None:
    first = json.dumps(chunk({"role": "assistant", "content": "multi"}), indent=1).splitlines()
    body = ("".join(f"data: {line}\n" for line in first) + "\n").encode() + sse(
        chunk({"content": "line"}, "stop"), "data: [DONE]\n\n"
    )
    result, _ = await ask(server, wire(body))
    assert result.content == "multiline"


async def test_gzip_stream(server: FakeLLM) -> None:
    body = sse(
        chunk({"role": "assistant", "content": "zipped"}), chunk({}, "stop"), "data: [DONE]\n\n"
    )
    result, _ = await ask(server, wire(body, gzip=True))
    assert result.content == "zipped"


async def test_error_object_mid_stream_after_text_keeps_the_text_and_is_not_retried(
    server: FakeLLM,
) -> None:
    body = sse(chunk({"role": "assistant", "content": "half an answer"}),
               {"error": {"message": "Upstream overloaded", "type": "server_error", "code": 503}})  # fmt: skip
    with pytest.raises(LLMError) as caught:
        await ask(server, wire(body), text("never asked"))
    assert caught.value.kind == TRANSIENT and len(server.requests) == 1  # shown text: no repeat


async def test_error_object_before_any_text_is_retried(server: FakeLLM) -> None:
    body = sse({"error": {"message": "Upstream overloaded", "type": "server_error", "code": 503}})
    result, _ = await ask(server, wire(body), text("second try"))
    assert result.content == "second try" and len(server.requests) == 2


async def test_a_200_with_a_json_error_body_is_retried(server: FakeLLM) -> None:
    error_body = json.dumps(
        {"error": {"message": "upstream failed", "type": "server_error"}}
    ).encode()
    result, _ = await ask(server, wire(error_body, content_type="application/json"), text("fine"))
    assert result.content == "fine" and len(server.requests) == 2


@FAST_PATH_ONLY  # litellm reads this body as an empty stream (retried as an early end)
async def test_vllm_bare_error_response_in_a_200_is_a_bad_request(
    server: FakeLLM,
    llm_transport: str,  # noqa: F811
) -> None:
    body = json.dumps({"object": "error", "message": "'temperature' must be >= 0",
                       "type": "BadRequestError", "param": None, "code": 400}).encode()  # fmt: skip
    with pytest.raises(LLMError) as caught:
        await ask(server, wire(body, content_type="application/json"), retries=0)
    assert caught.value.kind == BAD_REQUEST and "temperature" in caught.value.message


@FAST_PATH_ONLY  # the fast path's tolerance; litellm's stream wrapper expects SSE
async def test_a_server_that_ignores_stream_true_still_answers(
    server: FakeLLM,
    llm_transport: str,  # noqa: F811
) -> None:
    completion = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                      "role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                      "function": {"name": "read", "arguments": "{\"path\": \"a\"}"}}]}}],
                  "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}  # fmt: skip
    result, _ = await ask(
        server, wire(json.dumps(completion).encode(), content_type="application/json")
    )
    assert result.tool_calls[0]["name"] == "read" and result.usage["total_tokens"] == 7


@FAST_PATH_ONLY  # the fast path's shared session
async def test_one_connection_carries_consecutive_calls(
    server: FakeLLM,
    llm_transport: str,  # noqa: F811
) -> None:
    server.push(text("one"), text("two", chunk_size=1), text("three"))
    llm = LLMClient(make_config(model_name=MODEL))
    try:
        for _ in range(3):
            await llm.complete([{"role": "user", "content": "go"}], model=MODEL)
    finally:
        await llm.aclose()
    assert len({r.peer for r in server.requests}) == 1  # no new TCP connection per call


async def test_reasoning_under_either_field_name_is_kept_apart_from_the_answer(
    server: FakeLLM,
) -> None:
    body = sse(chunk({"role": "assistant", "reasoning": "think "}),
               chunk({"reasoning_content": "more"}), chunk({"content": "answer"}, "stop"),
               "data: [DONE]\n\n")  # fmt: skip
    result, shown = await ask(server, wire(body))
    assert result.reasoning_content == "think more" and result.content == "answer"
    assert shown == ["answer"]


async def test_a_proxy_named_by_the_environment_carries_the_call(
    monkeypatch: pytest.MonkeyPatch,
    llm_transport: str,  # noqa: F811
) -> None:
    """HTTP(S)_PROXY is honoured on both transports (httpx under litellm honours it): the
    fake, as the proxy, receives the request for the real host in absolute form."""
    async with FakeLLM(strict=True, default=text("via proxy")) as proxy:
        for name in (
            "NO_PROXY",
            "no_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url.removesuffix("/v1"))
        monkeypatch.setenv("OPENAI_API_BASE", "http://llm.example.invalid/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-proxy-test-key")
        llm = LLMClient(make_config(model_name=MODEL, llm_max_retries=0))
        try:
            result = await llm.complete([{"role": "user", "content": "go"}], model=MODEL)
        finally:
            await llm.aclose()
    assert result.content == "via proxy"
    assert proxy.requests[0].headers["host"] == "llm.example.invalid"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no default CA bundle trusts (made with openssl)."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@FAST_PATH_ONLY  # litellm caches its HTTP client per process: the CA cannot change mid-test
async def test_tls_is_verified_and_ssl_cert_file_names_the_ca(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    llm_transport: str,  # noqa: F811
) -> None:
    """An endpoint whose certificate no default bundle trusts is refused; the same endpoint is
    reached once ``SSL_CERT_FILE`` names its CA (the variable httpx, under litellm, reads)."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    async with FakeLLM(strict=True, default=text("over tls"), ssl_context=context) as server:
        monkeypatch.setenv("OPENAI_API_BASE", server.base_url)
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        llm = LLMClient(make_config(model_name=MODEL, llm_max_retries=0))
        try:
            with pytest.raises(LLMError) as refused:
                await llm.complete([{"role": "user", "content": "go"}], model=MODEL)
        finally:
            await llm.aclose()
        assert refused.value.kind == TRANSIENT and server.requests == []
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        llm = LLMClient(make_config(model_name=MODEL, llm_max_retries=0))
        try:
            result = await llm.complete([{"role": "user", "content": "go"}], model=MODEL)
        finally:
            await llm.aclose()
    assert result.content == "over tls"
