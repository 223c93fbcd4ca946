"""Claude through litellm against a Messages-API fake that enforces Anthropic's rules.

Every test runs the production path: ``LLMClient`` → litellm's Anthropic adapter → HTTP/SSE on
127.0.0.1 → litellm's stream parser → our assembly. Nothing in litellm is patched.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_core.llm import LLMClient, LLMError
from agent_core.llm.client import (
    CUT_OFF_NOTE,
    EFFORT_HEALED,
    REFUSAL_TEXT,
    THINKING_HEALED,
    get_litellm,
)
from agent_core.llm.errors import AUTH, CONTEXT_OVERFLOW, TRANSIENT
from agent_core.redact import scrub
from tests.engine_harness import make_config
from tests.fakes.fake_anthropic import (
    API_KEY,
    FakeAnthropic,
    Reply,
    error,
    redacted_thinking,
    reply,
    thinking,
    tool_use,
)

MODEL = "anthropic/claude-sonnet-4-5"
TOOLS = [
    {"type": "function", "function": {"name": "read", "description": "Read a file.",
     "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "write", "description": "Write a file.",
     "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
]  # fmt: skip
SYSTEM = {"role": "system", "content": "You are an ML engineering agent. " * 40}


@pytest.fixture
async def claude(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
        monkeypatch.setenv("ANTHROPIC_API_BASE", fake.base_url)
        yield fake


def client(**overrides: Any) -> LLMClient:
    return LLMClient(make_config(**{"model_name": MODEL, "reasoning_effort": "high", **overrides}))


class Notes:
    """Collects on_retry notifications (retries and heals)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, int, float]] = []

    async def __call__(self, err: LLMError, attempt: int, delay: float) -> None:
        self.items.append((err.kind, attempt, delay))


async def tool_round(
    llm: LLMClient, fake: FakeAnthropic, *, mutate: Any = None
) -> list[dict[str, Any]]:
    """User → assistant (thinking + tool_use) → tool result: the history of one tool step."""
    history: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": "read a.txt"}]
    first = await llm.complete(history, model=MODEL, tools=TOOLS, cache_key="sess-1")
    calls = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
             for c in first.tool_calls]  # fmt: skip
    message = first.assistant_message(calls)
    if mutate is not None:
        message = mutate(message)
    history += [
        message,
        {"role": "tool", "tool_call_id": calls[0]["id"], "name": "read", "content": "hello"},
    ]
    return history


async def test_thinking_tool_turn_sends_signed_thinking_back_unchanged(
    claude: FakeAnthropic,
) -> None:
    claude.push(reply(thinking("I need the file first."), "Reading.", tool_use("read", {"path": "a.txt"})),
                reply(thinking("It says hello."), "It says hello."))  # fmt: skip
    llm = client()
    history = await tool_round(llm, claude)
    assert history[2]["thinking_blocks"] == [
        {
            "type": "thinking",
            "thinking": "I need the file first.",
            "signature": claude.sign("I need the file first."),
        }
    ]
    final = await llm.complete(history, model=MODEL, tools=TOOLS)
    assert final.content == "It says hello." and claude.rejections == []
    sent = claude.requests[1]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assistant = sent["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "I need the file first.",
                            "signature": claude.sign("I need the file first.")}  # fmt: skip
    assert [b["type"] for b in assistant] == ["thinking", "text", "tool_use"]


async def test_redacted_thinking_round_trips(claude: FakeAnthropic) -> None:
    claude.push(reply(redacted_thinking(), tool_use("read", {"path": "a"})), reply("done"))
    llm = client()
    history = await tool_round(llm, claude)
    assert history[2]["thinking_blocks"][0]["type"] == "redacted_thinking"
    await llm.complete(history, model=MODEL, tools=TOOLS)
    assert claude.rejections == []
    assert claude.requests[1]["messages"][1]["content"][0]["type"] == "redacted_thinking"


async def test_a_tool_turn_without_thinking_is_continued_without_thinking(
    claude: FakeAnthropic,
) -> None:
    """Claude refuses a thinking request whose last tool turn has no thinking (the fake enforces
    it, see test_fake_anthropic): such a turn — made after a heal, or by another model before a
    switch — is continued with thinking off instead of failing first."""
    claude.push(reply(thinking("plan"), tool_use("read", {"path": "a"})), reply("done"))
    llm = client()
    history = await tool_round(
        llm, claude, mutate=lambda m: {k: v for k, v in m.items() if k != "thinking_blocks"}
    )
    notes = Notes()
    result = await llm.complete(history, model=MODEL, tools=TOOLS, on_retry=notes)
    assert result.content == "done" and claude.rejections == [] and notes.items == []
    assert "thinking" not in claude.requests[-1]
    claude.push(reply(thinking("fresh"), "next answer"))
    history += [{"role": "assistant", "content": "done"}, {"role": "user", "content": "and now?"}]
    await llm.complete(history, model=MODEL, tools=TOOLS)
    assert claude.requests[-1]["thinking"]["type"] == "enabled"  # back on for the next turn


async def test_thinking_altered_by_secret_scrubbing_heals_instead_of_sticking(
    claude: FakeAnthropic,
) -> None:
    """Thinking that quotes a token is scrubbed before it is stored, which breaks its signature:
    the thread must keep working rather than fail every later call."""
    token_text = "The user pasted hf_" + "a" * 34 + " so I must not echo it."
    claude.push(reply(thinking(token_text), tool_use("read", {"path": "a"})), reply("done"))
    llm = client()
    history = await tool_round(llm, claude, mutate=scrub)
    assert "[REDACTED_HF_TOKEN]" in history[2]["thinking_blocks"][0]["thinking"]
    notes = Notes()
    result = await llm.complete(history, model=MODEL, tools=TOOLS, on_retry=notes)
    assert result.content == "done"
    assert "Invalid `signature` in `thinking` block" in claude.rejections[0]
    assert notes.items == [(THINKING_HEALED, 0, 0.0)]


async def test_requests_carry_cache_breakpoints_and_usage_counts_cache_reads_and_writes(
    claude: FakeAnthropic,
) -> None:
    claude.push(reply(thinking("t"), tool_use("read", {"path": "a"})), reply("done"))
    llm = client()
    history = await tool_round(llm, claude)
    second = await llm.complete(history, model=MODEL, tools=TOOLS)
    body = claude.requests[1]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in body["tools"][0]
    assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    first_usage, second_usage = claude.usages
    assert (
        first_usage["cache_creation_input_tokens"] > 0
        and first_usage["cache_read_input_tokens"] == 0
    )
    assert second_usage["cache_read_input_tokens"] >= first_usage["cache_creation_input_tokens"]
    assert second.usage["cache_read_tokens"] == second_usage["cache_read_input_tokens"]
    assert second.usage["cache_creation_tokens"] == second_usage["cache_creation_input_tokens"]
    # Cost from litellm's price map, cache reads and writes at their own prices.
    price = get_litellm().model_cost["claude-sonnet-4-5"]
    expected = (
        second_usage["input_tokens"] * price["input_cost_per_token"]
        + second_usage["cache_read_input_tokens"] * price["cache_read_input_token_cost"]
        + second_usage["cache_creation_input_tokens"] * price["cache_creation_input_token_cost"]
        + second_usage["output_tokens"] * price["output_cost_per_token"]
    )
    assert second.cost_usd == pytest.approx(expected, rel=1e-6)
    assert second.cost_source == f"litellm:{MODEL}"
    assert second.llm_call_fields["cost_usd"] == second.cost_usd


async def test_thinking_gets_the_models_output_ceiling_not_8192(claude: FakeAnthropic) -> None:
    claude.push(reply("hi"))
    await client().complete([{"role": "user", "content": "hi"}], model=MODEL)
    assert claude.requests[0]["max_tokens"] == 64_000


async def test_429_waits_the_retry_after_it_was_given(claude: FakeAnthropic) -> None:
    claude.push(error(429, "Number of request tokens has exceeded your per-minute rate limit", retry_after=0.15),
                reply("ok"))  # fmt: skip
    notes = Notes()
    result = await client().complete(
        [{"role": "user", "content": "hi"}], model=MODEL, on_retry=notes
    )
    assert result.content == "ok"
    assert notes.items == [("rate_limit", 1, 0.15)]


async def test_529_overloaded_is_retried(claude: FakeAnthropic) -> None:
    claude.push(error(529, "Overloaded"), reply("ok"))
    result = await client().complete([{"role": "user", "content": "hi"}], model=MODEL)
    assert result.content == "ok" and len(claude.requests) == 2


async def test_midstream_error_event_before_any_text_is_retried(claude: FakeAnthropic) -> None:
    claude.push(
        Reply(blocks=reply("lost").blocks, error_event_after=2, error_type="overloaded_error"),
        reply("ok"),
    )
    result = await client().complete([{"role": "user", "content": "hi"}], model=MODEL)
    assert result.content == "ok" and len(claude.requests) == 2


async def test_midstream_error_after_text_reached_people_is_not_silently_repeated(
    claude: FakeAnthropic,
) -> None:
    claude.push(
        Reply(blocks=reply("A long answer that starts").blocks, error_event_after=5), reply("again")
    )
    shown: list[str] = []

    async def on_chunk(piece: str) -> None:
        shown.append(piece)

    with pytest.raises(LLMError) as caught:
        await client().complete([{"role": "user", "content": "hi"}], model=MODEL, on_chunk=on_chunk)
    assert caught.value.kind == TRANSIENT and shown and len(claude.requests) == 1


async def test_clean_but_early_end_is_retried_before_text_and_flagged_after(
    claude: FakeAnthropic,
) -> None:
    claude.push(Reply(blocks=reply("never").blocks, end_after=2), reply("complete answer"))
    result = await client().complete(
        [{"role": "user", "content": "hi"}], model=MODEL, on_chunk=_ignore
    )
    assert result.content == "complete answer" and len(claude.requests) == 2

    claude.push(
        Reply(blocks=reply("half an ans", tool_use("read", {"path": "a"})).blocks, end_after=6)
    )
    cut = await client().complete(
        [{"role": "user", "content": "hi"}], model=MODEL, on_chunk=_ignore
    )
    assert cut.content.startswith("half an ans") and cut.content.endswith(CUT_OFF_NOTE)
    assert cut.finish_reason == "incomplete" and cut.tool_calls == []


async def test_refusal_is_shown_as_a_refusal(claude: FakeAnthropic) -> None:
    claude.push(reply(stop_reason="refusal"))
    result = await client().complete([{"role": "user", "content": "something bad"}], model=MODEL)
    assert result.refusal and result.content == REFUSAL_TEXT


async def test_rejected_key_is_permanent_and_names_the_variable(
    claude: FakeAnthropic, monkeypatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong-key-0000000000000000000000")
    with pytest.raises(LLMError) as caught:
        await client().complete([{"role": "user", "content": "hi"}], model=MODEL)
    assert caught.value.kind == AUTH and "ANTHROPIC_API_KEY" in caught.value.message
    assert len(claude.requests) == 1


async def test_missing_key_is_named_within_a_second_and_nothing_is_sent(
    claude: FakeAnthropic, monkeypatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 34)  # another provider's key must not be used
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        await client().complete([{"role": "user", "content": "hi"}], model=MODEL)
    assert time.monotonic() - started < 1.0
    assert caught.value.kind == AUTH and "set ANTHROPIC_API_KEY" in caught.value.message
    assert claude.requests == []


async def test_prompt_too_long_is_a_context_overflow(claude: FakeAnthropic) -> None:
    claude.push(error(400, "prompt is too long: 210000 tokens > 200000 maximum"))
    with pytest.raises(LLMError) as caught:
        await client().complete([{"role": "user", "content": "hi"}], model=MODEL)
    assert caught.value.kind == CONTEXT_OVERFLOW and len(claude.requests) == 1


async def test_refused_effort_steps_down_and_is_remembered(claude: FakeAnthropic) -> None:
    claude.push(error(400, "thinking.enabled.budget_tokens: effort 'high' is not supported for this model"),
                reply("ok"), reply("again"))  # fmt: skip
    llm = client()
    notes = Notes()
    await llm.complete([{"role": "user", "content": "hi"}], model=MODEL, on_retry=notes)
    assert notes.items == [(EFFORT_HEALED, 0, 0.0)]
    assert claude.requests[0]["thinking"]["budget_tokens"] == 4096
    assert claude.requests[1]["thinking"]["budget_tokens"] < 4096
    await llm.complete([{"role": "user", "content": "hi"}], model=MODEL)
    assert claude.requests[2]["thinking"] == claude.requests[1]["thinking"]


async def _ignore(piece: str) -> None:
    return None


async def test_effort_probe_on_a_model_switch_finds_an_accepted_level(
    claude: FakeAnthropic,
) -> None:
    claude.push(error(400, "effort 'high' is not supported by this model"), reply("pong"))
    llm = client()
    assert await llm.probe_effort(MODEL) == "medium"
    assert (
        claude.requests[1]["thinking"]["budget_tokens"]
        < claude.requests[0]["thinking"]["budget_tokens"]
    )
    assert llm.effort.level_for(llm.route(MODEL)) == "medium"


async def test_effort_probe_names_a_missing_key(claude: FakeAnthropic, monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(LLMError) as caught:
        await client().probe_effort(MODEL)
    assert "set ANTHROPIC_API_KEY" in caught.value.message and claude.requests == []


async def test_non_streamed_calls_keep_thinking_too(claude: FakeAnthropic) -> None:
    """The research sub-agent and compaction call without streaming: same round-trip rules."""
    claude.push(reply(thinking("a"), thinking("b"), tool_use("read", {"path": "x"})), reply("ok"))
    llm = client()
    first = await llm.complete(
        [{"role": "user", "content": "go"}], model=MODEL, tools=TOOLS, stream=False
    )
    assert [b["thinking"] for b in first.thinking_blocks] == ["a", "b"]
    assert all(b["signature"] == claude.sign(b["thinking"]) for b in first.thinking_blocks)
    call = first.tool_calls[0]
    calls = [
        {
            "id": call["id"],
            "type": "function",
            "function": {"name": "read", "arguments": call["arguments"]},
        }
    ]
    history = [{"role": "user", "content": "go"}, first.assistant_message(calls),
               {"role": "tool", "tool_call_id": call["id"], "content": "data"}]  # fmt: skip
    assert (await llm.complete(history, model=MODEL, tools=TOOLS, stream=False)).content == "ok"
    assert claude.rejections == []


async def test_two_streamed_thinking_blocks_stay_two_signed_blocks(claude: FakeAnthropic) -> None:
    claude.push(
        reply(thinking("first thought, long enough to span chunks"), thinking("second"), "answer")
    )
    result = await client().complete([{"role": "user", "content": "go"}], model=MODEL)
    assert [(b["thinking"], b["signature"]) for b in result.thinking_blocks] == [
        (
            "first thought, long enough to span chunks",
            claude.sign("first thought, long enough to span chunks"),
        ),
        ("second", claude.sign("second")),
    ]
    assert result.content == "answer"


async def test_max_effort_reaches_a_model_that_supports_it_and_steps_down_where_not(
    claude: FakeAnthropic,
) -> None:
    claude.push(reply("a"), reply("b"))
    opus = "anthropic/claude-opus-4-8"
    await LLMClient(make_config(model_name=opus, reasoning_effort="max")).complete(
        [{"role": "user", "content": "hi"}], model=opus
    )
    sent = claude.requests[0]
    assert sent["thinking"]["type"] == "adaptive" and sent["output_config"] == {"effort": "max"}
    await client(reasoning_effort="max").complete([{"role": "user", "content": "hi"}], model=MODEL)
    assert claude.requests[1]["thinking"] == {
        "type": "enabled",
        "budget_tokens": 4096,
    }  # sonnet-4-5: high
