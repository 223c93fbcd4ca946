"""The Anthropic fake refuses what the Messages API refuses (raw HTTP, no litellm in between)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.fake_anthropic import API_KEY, FakeAnthropic, reply, thinking, tool_use

HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
USE = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}}],
}
RESULT = {
    "role": "user",
    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(default=reply("ok")) as f:
        yield f


async def post(
    fake: FakeAnthropic, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    payload = {"model": "claude-sonnet-4-5", "max_tokens": 2048, **body}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{fake.base_url}/v1/messages",
            json=payload,
            headers=HEADERS if headers is None else headers,
        ) as resp:
            return resp.status, await resp.json()


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


@pytest.mark.parametrize(
    ("headers", "kind"),
    [({}, "authentication_error"), ({"x-api-key": "sk-ant-other", "anthropic-version": "2023-06-01"},
      "authentication_error"), ({"x-api-key": API_KEY}, "invalid_request_error")],
)  # fmt: skip
async def test_credentials_and_version_header_are_required(fake, headers, kind) -> None:
    status, body = await post(fake, {"messages": [user("hi")]}, headers)
    assert status in (400, 401) and body["type"] == "error" and body["error"]["type"] == kind


async def test_tool_use_without_its_result_is_refused(fake) -> None:
    status, body = await post(fake, {"messages": [user("hi"), USE, user("next")]})
    assert (
        status == 400
        and "`tool_use` ids were found without `tool_result` blocks" in body["error"]["message"]
    )


async def test_tool_result_without_its_use_is_refused(fake) -> None:
    status, body = await post(
        fake, {"messages": [user("hi"), {"role": "assistant", "content": "x"}, RESULT]}
    )
    assert status == 400 and "unexpected `tool_use_id`" in body["error"]["message"]


async def test_more_than_four_cache_breakpoints_are_refused(fake) -> None:
    marked = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    status, body = await post(fake, {"messages": [{"role": "user", "content": [marked] * 5}]})
    assert status == 400 and "A maximum of 4 blocks with cache_control" in body["error"]["message"]


async def test_thinking_budget_rules(fake) -> None:
    status, _ = await post(
        fake, {"messages": [user("hi")], "thinking": {"type": "enabled", "budget_tokens": 512}}
    )
    assert status == 400
    status, body = await post(fake, {"messages": [user("hi")], "max_tokens": 2000,
                                     "thinking": {"type": "enabled", "budget_tokens": 4096}})  # fmt: skip
    assert status == 400 and "greater than `thinking.budget_tokens`" in body["error"]["message"]


async def test_thinking_on_requires_the_last_tool_turn_to_start_with_signed_thinking(fake) -> None:
    on = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    status, body = await post(fake, {"messages": [user("hi"), USE, RESULT], **on})
    assert (
        status == 400
        and "Expected `thinking` or `redacted_thinking`, but found `tool_use`"
        in body["error"]["message"]
    )
    forged = {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "made up", "signature": "c2lnbmF0dXJl"}, *USE["content"]]}  # fmt: skip
    status, body = await post(fake, {"messages": [user("hi"), forged, RESULT], **on})
    assert status == 400 and "Invalid `signature` in `thinking` block" in body["error"]["message"]
    signed = {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "real", "signature": fake.sign("real")}, *USE["content"]]}  # fmt: skip
    status, body = await post(fake, {"messages": [user("hi"), signed, RESULT], **on})
    assert status == 200 and body["content"] == [{"type": "text", "text": "ok"}]


async def test_non_streaming_message_shape_and_cache_usage(fake) -> None:
    fake.push(reply(thinking("hmm"), "Reading.", tool_use("read", {"path": "a"}, id="toolu_x")))
    system = [{"type": "text", "text": "s" * 4000, "cache_control": {"type": "ephemeral"}}]
    status, body = await post(fake, {"system": system, "messages": [user("hi")]})
    assert status == 200 and body["stop_reason"] == "tool_use" and body["type"] == "message"
    assert [b["type"] for b in body["content"]] == ["thinking", "text", "tool_use"]
    assert body["content"][0]["signature"] == fake.sign("hmm")
    assert (
        body["usage"]["cache_creation_input_tokens"] > 1000
        and body["usage"]["cache_read_input_tokens"] == 0
    )
    status, again = await post(fake, {"system": system, "messages": [user("hi")]})
    assert again["usage"]["cache_read_input_tokens"] == body["usage"]["cache_creation_input_tokens"]
    assert again["usage"]["cache_creation_input_tokens"] == 0
