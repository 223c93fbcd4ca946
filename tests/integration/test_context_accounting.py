"""How big the context is, decided without the tokenizer on a normal step (issue 18): the
provider's usage of the last call plus an estimate of what was appended since; the tokenizer
only near the compaction threshold, where it decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import agent_core.context as context_module
from agent_core.events import UserInput
from tests.engine_harness import ORIGIN, make_config, run_engine, tool
from tests.fakes.fake_llm import FakeLLM, call, text, tool_calls


@pytest.fixture
async def llm():
    async with FakeLLM() as fake:
        yield fake


@pytest.fixture
def tokenizer_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every exact count the engine asks for (the tokenizer, through our own wrapper)."""
    calls: list[int] = []
    real = context_module.count_tokens

    def counting(model: str, messages: list[dict[str, Any]], config: Any) -> int:
        calls.append(len(messages))
        return real(model, messages, config)

    monkeypatch.setattr(context_module, "count_tokens", counting)
    return calls


async def test_reported_usage_means_no_tokenizer_call_on_a_normal_step(
    tmp_path: Path, llm: FakeLLM, tokenizer_calls: list[int]
) -> None:
    echo = tool("echo", lambda a, c: (f"echo {a.get('x')}", True))
    llm.push(
        tool_calls(call("echo", {"x": 1}), call("echo", {"x": 2}), prompt_tokens=1200),
        text("first answer", prompt_tokens=1300, completion_tokens=5),
        text("second answer", prompt_tokens=1400, completion_tokens=7),
    )
    async with run_engine(tmp_path / "db", llm.base_url, tools=[echo]) as eng:
        await eng.manager.submit("s", UserInput(text="use the tool"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        await eng.manager.submit("s", UserInput(text="and again"))
        await eng.events.wait_for("turn_complete", "s", count=2)
        assert len(llm.requests) == 3
        assert tokenizer_calls == []
        session = await eng.manager.get_session("s")
        # the provider's figure of the last call is what `status` shows
        assert session.state["context_tokens"] == 1407
        assert session.usage_mark is not None and session.usage_mark.prompt_tokens == 1400


async def test_near_the_threshold_the_tokenizer_decides(
    tmp_path: Path, llm: FakeLLM, tokenizer_calls: list[int]
) -> None:
    """The provider says the last request nearly filled the window: the next step counts
    exactly before deciding (here: the real text is small, so nothing is compacted)."""
    prompt = tmp_path / "prompt.md"  # the shipped playbook alone would fill this small window
    prompt.write_text("You are a test agent. Tools: {tool_names}.", encoding="utf-8")
    cfg = make_config(context_window=4000, system_prompt_file=str(prompt))
    llm.push(text("big answer", prompt_tokens=3500), text("next answer"))
    async with run_engine(tmp_path / "db", llm.base_url, config=cfg) as eng:
        await eng.manager.submit("s", UserInput(text="hello"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        assert tokenizer_calls == []
        await eng.manager.submit("s", UserInput(text="more"))
        await eng.events.wait_for("turn_complete", "s", count=2)
        assert len(tokenizer_calls) == 1
        assert not eng.events.of("s", "compacted")
