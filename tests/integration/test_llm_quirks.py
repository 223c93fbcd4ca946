"""Open models' quirks on an OpenAI-compatible server, each named after what the model did.

The server is :class:`FakeLLM` (vLLM/TGI/Ollama all speak this wire format); the quirky streams
are scripted delta by delta, the way those servers emit them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest

from agent_core.llm import LLMClient, LLMError
from agent_core.llm.errors import CONTEXT_OVERFLOW
from agent_core.llm.result import EMPTY_NAME_ERROR, EMPTY_NAME_PLACEHOLDER
from tests.engine_harness import make_config
from tests.fakes.fake_llm import FakeLLM, Reply, error, raw, text
from tests.llm_transports import llm_transport  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("llm_transport")  # every test on both transports

MODEL = "openai/local-model"


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeLLM]:
    async with FakeLLM(strict=True) as fake:
        monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs no real key
        yield fake


async def ask(
    server: FakeLLM, *replies: Reply, history: list | None = None
) -> tuple[object, list[str]]:
    server.push(*replies)
    shown: list[str] = []

    async def on_chunk(piece: str) -> None:
        shown.append(piece)

    llm = LLMClient(make_config(model_name=MODEL, reasoning_effort="high"))
    try:
        result = await llm.complete(
            history or [{"role": "user", "content": "go"}], model=MODEL, on_chunk=on_chunk
        )
    finally:
        await llm.aclose()
    return result, shown


def tc(
    index: int | None, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict:
    fn = {k: v for k, v in (("name", name), ("arguments", args)) if v is not None}
    out: dict = {"function": fn, "type": "function"}
    if index is not None:
        out["index"] = index
    if id is not None:
        out["id"] = id
    return {"tool_calls": [out]}


async def test_two_calls_sharing_index_zero_are_two_calls(server: FakeLLM) -> None:
    result, _ = await ask(server, raw(
        tc(0, "call_a", "read", '{"path": "a"}'),
        tc(0, "call_b", "read", '{"path": "b"}'),
    ))  # fmt: skip
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in result.tool_calls] == [
        ("call_a", "read", {"path": "a"}), ("call_b", "read", {"path": "b"})]  # fmt: skip


async def test_name_repeated_in_every_chunk_is_not_glued(server: FakeLLM) -> None:
    result, _ = await ask(
        server, raw(tc(0, "c1", "read", '{"pa'), tc(0, None, "read", 'th": "a"}'))
    )
    assert [(c["name"], c["arguments"]) for c in result.tool_calls] == [("read", '{"path": "a"}')]


async def test_local_server_gets_a_placeholder_key_and_no_effort(server: FakeLLM) -> None:
    await ask(server, text("hi"))
    request = server.requests[0]
    assert request.headers["authorization"] == "Bearer sk-local-no-key-required"
    assert "reasoning_effort" not in request and "prompt_cache_key" not in request


async def test_reused_call_ids_are_made_unique_within_a_response_and_against_history(
    server: FakeLLM,
) -> None:
    history = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "functions.read:0", "type": "function", "function": {"name": "read", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "functions.read:0", "content": "old"},
        {"role": "user", "content": "again"},
    ]  # fmt: skip
    result, _ = await ask(server, raw(
        tc(0, "functions.read:0", "read", '{"path": "a"}'),
        tc(1, "dup", "read", '{"path": "b"}'),
        tc(2, "dup", "read", '{"path": "c"}'),
    ), history=history)  # fmt: skip
    ids = [c["id"] for c in result.tool_calls]
    assert len(set(ids)) == 3 and "functions.read:0" not in ids and ids[1] == "dup"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)  # ids Claude also accepts back
    assert [json.loads(c["arguments"])["path"] for c in result.tool_calls] == ["a", "b", "c"]


async def test_hermes_tool_call_written_as_text_becomes_a_call_and_is_not_shown(
    server: FakeLLM,
) -> None:
    answer = (
        'Let me check.\n<tool_call>\n{"name": "read", "arguments": {"path": "a.txt"}}\n</tool_call>'
    )
    result, shown = await ask(server, text(answer, chunk_size=4))
    assert result.content == "Let me check."
    assert [(c["name"], json.loads(c["arguments"])) for c in result.tool_calls] == [
        ("read", {"path": "a.txt"})
    ]
    assert "".join(shown).strip() == "Let me check." and "<" not in "".join(shown)


async def test_kimi_tool_call_section_becomes_calls(server: FakeLLM) -> None:
    answer = (
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.read:0<|tool_call_argument_begin|>"
        '{"path": "a"}<|tool_call_end|><|tool_call_begin|>functions.write:1<|tool_call_argument_begin|>'
        '{"path": "b"}<|tool_call_end|><|tool_calls_section_end|>'
    )
    result, shown = await ask(server, text(answer, chunk_size=7))
    assert [(c["name"], json.loads(c["arguments"])) for c in result.tool_calls] == [
        ("read", {"path": "a"}), ("write", {"path": "b"})]  # fmt: skip
    assert result.content == "" and "".join(shown) == ""


async def test_function_tag_with_parameters_becomes_a_call(server: FakeLLM) -> None:
    answer = (
        "<function=read><parameter=path>a.txt</parameter><parameter=limit>5</parameter></function>"
    )
    result, _ = await ask(server, text(answer))
    assert [(c["name"], json.loads(c["arguments"])) for c in result.tool_calls] == [
        ("read", {"path": "a.txt", "limit": 5})]  # fmt: skip


async def test_call_without_a_name_is_answered_with_a_nudge_not_run(server: FakeLLM) -> None:
    result, _ = await ask(server, raw(tc(0, "c1", "", '{"path": "a"}')))
    (only,) = result.tool_calls
    assert only["name"] == EMPTY_NAME_PLACEHOLDER and only["error"] == EMPTY_NAME_ERROR


async def test_tgi_422_overflow_is_a_context_overflow(server: FakeLLM) -> None:
    overflow = "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens"
    server.push(error(422, overflow), error(422, overflow))
    with pytest.raises(LLMError) as caught:
        await ask(server)
    assert caught.value.kind == CONTEXT_OVERFLOW


async def test_clean_early_end_on_openai_wire_is_retried(server: FakeLLM) -> None:
    early = Reply(kind="text", content="abcdefgh", chunk_size=4, end_clean_after_chunks=0)
    result, _ = await ask(server, early, text("whole"))
    assert result.content == "whole" and len(server.requests) == 2
