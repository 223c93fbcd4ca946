"""The bot in Slack on Claude (extended thinking) and on a router model: a multi-step tool turn
with an approval in the middle, over real sockets, each LLM fake enforcing its provider's rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent_core.llm import get_litellm
from tests.fakes.fake_llm import call, text, tool_calls
from tests.fakes.fake_slack import FakeSlack
from tests.llm_providers import ServedLLM, serve_llm
from tests.slack_harness import BotEnv, all_text

JOB = {
    "operation": "run",
    "script": "print('train')",
    "hardware_flavor": "a10g-large",
    "timeout": "2h",
}


@pytest.fixture(params=["anthropic", "hf_router"])
async def served(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ServedLLM]:
    await asyncio.to_thread(get_litellm)
    async with serve_llm(request.param, monkeypatch) as s:
        yield s


async def test_tool_turn_with_an_approval_finishes_and_thinking_never_reaches_slack(
    tmp_path, served
) -> None:
    async with FakeSlack() as slack:
        env = BotEnv(slack, served.llm, tmp_path / "bot.db",
                     config_overrides={"model_name": served.model, "reasoning_effort": "high"})  # fmt: skip
        await env.start_bot()
        try:
            served.llm.push(tool_calls(call("plan_tool", {"todos": [{"id": "1", "content": "Train", "status":
                                       "in_progress"}]}), text="Planning."),  # fmt: skip
                            tool_calls(call("hf_jobs", JOB)))  # fmt: skip
            ts, _ = await slack.mention("train it on a GPU")
            card = await env.wait_reply("C1", ts, lambda m: "Approval needed" in m.text)
            served.llm.push(tool_calls(call("plan_tool", {"todos": [{"id": "1", "content": "Train",
                                       "status": "completed"}]})), text("Training submitted."))  # fmt: skip
            await slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U1")
            await env.wait_answer("C1", ts, "Training submitted")
            assert env.hf_jobs.calls == [JOB]
            await slack.message("status", thread_ts=ts)
            status = await env.wait_reply("C1", ts, lambda m: "Status" in m.text)
            assert "Model spend: $" in all_text(status)
            await env.settle()
            shown = " ".join(all_text(m) for m in slack.thread_messages("C1", ts))
            assert "Working out step" not in shown  # Claude's thinking stays out of Slack
        finally:
            await env.stop_bot()
    assert served.rejections == []
    if served.provider == "hf_router":
        assert served.llm.leaked_keys == []
