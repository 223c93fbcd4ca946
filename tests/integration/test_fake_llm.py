"""Drive ``tests.fakes.fake_llm.FakeLLM`` through the real litellm client.

These tests double as the executable record of how litellm 1.106.2 surfaces the OpenAI wire
format (exception classes, where Retry-After lives, which kwarg disables SDK retries); the
module docstring of ``fake_llm`` summarises the findings for the engine.
"""

# ruff: noqa: E402  (the environment must be prepared before litellm is imported)

from __future__ import annotations

import os
import sys
from pathlib import Path

# Must precede the litellm import: otherwise it fetches the model cost map from GitHub.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# tests/unit has no __init__.py, so plain `pytest` (rootdir not on sys.path) could not import
# `tests.fakes`; keep the module runnable without relying on a conftest or pyproject setting.
REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import litellm
import pytest

from tests.fakes.fake_llm import (
    FakeLLM,
    RecordedRequest,
    call,
    delay,
    error,
    last_user_text,
    text,
    tool_calls,
)

litellm.suppress_debug_info = True

MESSAGES = [{"role": "user", "content": "hi there"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} tool",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    for name in ("plan_tool", "hf_jobs", "x")
]
CONTEXT_MSG = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens. Please reduce the length of the messages."
)


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as fake:
        yield fake


async def complete(llm: FakeLLM, **kwargs: Any) -> Any:
    """litellm call as the engine makes it: no litellm/SDK retries."""
    params: dict[str, Any] = {
        "model": "openai/fake",
        "api_base": llm.base_url,
        "api_key": "sk-fake",
        "messages": MESSAGES,
        "num_retries": 0,
    }
    params.update(kwargs)
    return await litellm.acompletion(**params)


async def collect(stream: Any) -> list[Any]:
    return [chunk async for chunk in stream]


# -- happy paths ---------------------------------------------------------------------------


async def test_streaming_text_is_rebuilt_with_usage(llm: FakeLLM) -> None:
    llm.push(
        text("Hello from the fake model!", chunk_size=4, prompt_tokens=11, completion_tokens=7)
    )

    stream = await complete(llm, stream=True, stream_options={"include_usage": True})
    chunks = await collect(stream)

    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert pieces[:2] == ["Hell", "o fr"]
    assert len(pieces) == 7
    rebuilt = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    assert rebuilt.choices[0].message.content == "Hello from the fake model!"
    assert rebuilt.choices[0].finish_reason == "stop"
    assert (rebuilt.usage.prompt_tokens, rebuilt.usage.completion_tokens) == (11, 7)

    (req,) = await llm.wait_for_requests(1)
    assert req["model"] == "fake"  # "openai/" prefix stripped
    assert req["stream"] is True
    assert req["stream_options"] == {"include_usage": True}
    assert req["messages"] == MESSAGES
    assert req.headers["authorization"] == "Bearer sk-fake"
    assert req.path == "/v1/chat/completions"
    assert llm.remaining == 0


async def test_text_split_into_n_chunks(llm: FakeLLM) -> None:
    llm.push(text("abcdefghij", chunks=3))
    chunks = await collect(await complete(llm, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert pieces == ["abcd", "efgh", "ij"]


async def test_streamed_parallel_tool_calls_rebuilt_exactly(llm: FakeLLM) -> None:
    todos = {"todos": [{"id": 1, "content": "train model", "status": "pending"}]}
    job = {"script": "print('hi')", "flavor": "a10g-small", "timeout": "1h"}
    llm.push(
        tool_calls(
            call("plan_tool", todos, id="call_plan"),
            call("hf_jobs", job),
            text="Let me plan.",
            args_chunk_size=3,
            interleave=True,
        )
    )

    chunks = await collect(await complete(llm, stream=True, tools=TOOLS))
    fragments = [
        tc.function.arguments
        for c in chunks
        for tc in (c.choices[0].delta.tool_calls or [])
        if tc.function.arguments
    ]
    assert len(fragments) > 20  # arguments really arrived in many small pieces
    rebuilt = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    choice = rebuilt.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me plan."
    calls = choice.message.tool_calls
    assert [(tc.id, tc.function.name) for tc in calls] == [
        ("call_plan", "plan_tool"),
        ("call_fake_1_1", "hf_jobs"),  # deterministic default id: call_fake_<reply#>_<index>
    ]
    assert json.loads(calls[0].function.arguments) == todos
    assert json.loads(calls[1].function.arguments) == job
    assert llm.requests[0]["tools"] == TOOLS


async def test_non_streaming_tool_call(llm: FakeLLM) -> None:
    llm.push(tool_calls(call("plan_tool", {"todos": ["a", "b"]}), prompt_tokens=50))

    resp = await complete(llm, tools=TOOLS)

    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    (tc,) = choice.message.tool_calls
    assert tc.function.name == "plan_tool"
    assert json.loads(tc.function.arguments) == {"todos": ["a", "b"]}
    assert tc.id.startswith("call_fake_")
    assert resp.usage.prompt_tokens == 50


async def test_malformed_arguments_arrive_verbatim(llm: FakeLLM) -> None:
    llm.push(
        tool_calls(call("x", raw_arguments='{"a": ')), tool_calls(call("x", raw_arguments="{"))
    )

    rebuilt = litellm.stream_chunk_builder(
        await collect(await complete(llm, stream=True, tools=TOOLS)), messages=MESSAGES
    )
    assert rebuilt.choices[0].message.tool_calls[0].function.arguments == '{"a": '
    resp = await complete(llm, tools=TOOLS)
    assert resp.choices[0].message.tool_calls[0].function.arguments == "{"


@pytest.mark.parametrize("stream", [True, False])
async def test_finish_reason_length_override(llm: FakeLLM, stream: bool) -> None:
    llm.push(text("truncated answ", finish_reason="length"))
    resp = await complete(llm, stream=stream)
    if stream:
        resp = litellm.stream_chunk_builder(await collect(resp), messages=MESSAGES)
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].message.content == "truncated answ"


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
async def test_rate_limit_surfaces_retry_after(llm: FakeLLM, stream: bool) -> None:
    llm.push(error(429, "Rate limit reached", retry_after=7, code="rate_limit_exceeded"))

    with pytest.raises(litellm.RateLimitError) as info:
        await complete(llm, stream=stream)

    exc = info.value
    assert exc.status_code == 429
    # The provider's headers live on litellm_response_headers; exc.response is a dummy.
    assert exc.litellm_response_headers["retry-after"] == "7"
    assert "retry-after" not in exc.response.headers
    assert exc.body == {
        "message": "Rate limit reached",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert len(llm.requests) == 1  # num_retries=0 → no silent SDK retries


async def test_sdk_retries_unless_disabled(llm: FakeLLM) -> None:
    """Without num_retries/max_retries the OpenAI SDK retries twice behind our back."""
    for _ in range(3):
        llm.push(error(429, "Rate limit reached", retry_after=0.01))
    with pytest.raises(litellm.RateLimitError):
        await complete(llm, num_retries=None)
    assert len(llm.requests) == 3

    for _ in range(3):
        llm.push(error(429, "Rate limit reached", retry_after=0.01))
    with pytest.raises(litellm.RateLimitError):
        await complete(llm, num_retries=None, max_retries=0)
    assert len(llm.requests) == 4
    llm.clear()


@pytest.mark.parametrize("stream", [True, False])
async def test_context_length_maps_to_context_window_error(llm: FakeLLM, stream: bool) -> None:
    llm.push(error(400, CONTEXT_MSG, code="context_length_exceeded", param="messages"))
    with pytest.raises(litellm.ContextWindowExceededError) as info:
        await complete(llm, stream=stream)
    assert isinstance(info.value, litellm.BadRequestError)
    assert info.value.status_code == 400


async def test_plain_400_is_bad_request_not_context(llm: FakeLLM) -> None:
    llm.push(error(400, "Invalid 'messages[1].content'", param="messages"))
    with pytest.raises(litellm.BadRequestError) as info:
        await complete(llm)
    assert not isinstance(info.value, litellm.ContextWindowExceededError)


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (500, litellm.InternalServerError),
        (502, litellm.BadGatewayError),
        (503, litellm.ServiceUnavailableError),
    ],
)
async def test_server_errors(llm: FakeLLM, status: int, exc_type: type[Exception]) -> None:
    llm.push(error(status))
    with pytest.raises(exc_type) as info:
        await complete(llm, stream=True)
    assert info.value.status_code == status


async def test_exhausted_script_fails_loudly(llm: FakeLLM) -> None:
    with pytest.raises(litellm.InternalServerError, match="FakeLLM script exhausted"):
        await complete(llm)
    assert llm.script_misses == 1
    assert len(llm.requests) == 1


async def test_connection_dropped_mid_stream(llm: FakeLLM) -> None:
    llm.push(text("hello world, how are you", chunk_size=3, drop_after_chunks=2))
    received: list[str] = []
    stream = await complete(llm, stream=True)
    with pytest.raises(litellm.ServiceUnavailableError):  # MidStreamFallbackError
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "hello "


# -- timing, interrupts, waiting -------------------------------------------------------------


async def test_stall_then_client_cancel_records_disconnect(llm: FakeLLM) -> None:
    llm.push(text("partial answer that never finishes", chunk_size=4, stall_after_chunks=2))
    stream = await complete(llm, stream=True)
    got_two = asyncio.Event()
    received: list[str] = []

    async def consume() -> None:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
            if len(received) == 2:
                got_two.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_two.wait(), 5)
    task.cancel()  # what the engine does on a user interrupt
    with pytest.raises(asyncio.CancelledError):
        await task

    await llm.wait_for_disconnects(1, timeout=5)
    assert llm.disconnects == 1
    assert received == ["part", "ial "]


async def test_stop_releases_stalled_request() -> None:
    llm = await FakeLLM().start()
    llm.push(text("x", stall_after_chunks=0))
    task = asyncio.create_task(complete(llm))
    await llm.wait_for_requests(1)
    started = time.monotonic()
    await llm.stop()
    assert time.monotonic() - started < 1.0
    # litellm maps the openai SDK's APIConnectionError to InternalServerError (status 500).
    with pytest.raises(litellm.InternalServerError, match="Connection error"):
        await task


async def test_gate_holds_reply_until_released(llm: FakeLLM) -> None:
    gate = asyncio.Event()
    llm.push(text("released", gate=gate))
    task = asyncio.create_task(complete(llm))
    await llm.wait_for_requests(1)  # request is in flight and held
    assert not task.done()
    gate.set()
    resp = await asyncio.wait_for(task, 5)
    assert resp.choices[0].message.content == "released"


async def test_delay_and_per_chunk_delay(llm: FakeLLM) -> None:
    llm.push(delay(0.2, text("abc", chunk_size=1, per_chunk_delay=0.05)))
    started = time.monotonic()
    chunks = await collect(await complete(llm, stream=True))
    assert time.monotonic() - started >= 0.3
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "abc"


async def test_wait_for_requests_times_out_clearly(llm: FakeLLM) -> None:
    with pytest.raises(TimeoutError, match="waiting for 1 request"):
        await llm.wait_for_requests(1, timeout=0.05)


# -- fallbacks -------------------------------------------------------------------------------


async def test_default_reply_and_plain_strings() -> None:
    async with FakeLLM(default=text("ok")) as llm:
        llm.push("scripted first")
        first = await complete(llm)
        second = await complete(llm)
    assert first.choices[0].message.content == "scripted first"
    assert second.choices[0].message.content == "ok"


async def test_responders_sync_and_async() -> None:
    def route(body: RecordedRequest) -> str | None:
        return "session A" if "[A]" in last_user_text(body) else None

    async with FakeLLM(responder=route, default="fallback") as llm:
        a = await complete(llm, messages=[{"role": "user", "content": "[A] go"}])
        other = await complete(llm, messages=[{"role": "user", "content": "[B] go"}])

        async def async_echo(body: RecordedRequest) -> str:
            await asyncio.sleep(0)
            return f"echo: {last_user_text(body)}"

        llm.responder = async_echo
        llm.push("queue beats responder")
        queued = await complete(llm)
        echoed = await complete(
            llm,
            messages=[{"role": "user", "content": [{"type": "text", "text": "parts"}]}],
            stream=True,
        )
        echoed = litellm.stream_chunk_builder(await collect(echoed), messages=MESSAGES)

    assert a.choices[0].message.content == "session A"
    assert other.choices[0].message.content == "fallback"
    assert queued.choices[0].message.content == "queue beats responder"
    assert echoed.choices[0].message.content == "echo: parts"


async def test_responder_exception_is_reported() -> None:
    def broken(body: RecordedRequest) -> str:
        raise KeyError("oops")

    async with FakeLLM(responder=broken) as llm:
        with pytest.raises(litellm.InternalServerError, match="responder raised KeyError"):
            await complete(llm)
    assert [type(e) for e in llm.responder_errors] == [KeyError]


async def test_models_endpoint(llm: FakeLLM) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{llm.base_url}/models") as resp:
            body = await resp.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["fake"]


async def test_cli_prints_ready_and_echoes() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.fake_llm",
        "--port",
        "0",
        "--mode",
        "echo",
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base_url = line.removeprefix("READY ")
        resp = await litellm.acompletion(
            model="openai/fake",
            api_base=base_url,
            api_key="sk-fake",
            messages=[{"role": "user", "content": "ping"}],
            num_retries=0,
        )
        assert resp.choices[0].message.content == "echo: ping"
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
