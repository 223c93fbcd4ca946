"""The engine, end to end, on each provider's wire: OpenAI-compatible, Claude with thinking, the
HF router. Same scripts, same assertions; each fake enforces its provider's rules, so a history
the engine builds wrong for one provider fails here (``served.rejections``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_core.events import Compact, SetModel, ToolApproval, UserInput
from agent_core.llm import get_litellm
from tests.engine_harness import ORIGIN, make_config, run_engine, tool
from tests.fakes.fake_llm import call, error, text, tool_calls
from tests.llm_providers import PROVIDERS, ServedLLM, serve_llm
from tests.llm_transports import TRANSPORT_ENV, TRANSPORTS

# Every provider's fake on each transport; Anthropic goes through litellm on either setting,
# so it runs once.
CASES = [
    pytest.param((provider, transport), id=f"{provider}-{transport}")
    for provider in PROVIDERS
    for transport in TRANSPORTS
    if not (provider == "anthropic" and transport == "litellm")
]

GPU_RUN = {
    "operation": "run",
    "script": "print('train')",
    "hardware_flavor": "a10g-large",
    "timeout": "2h",
}


@pytest.fixture(params=CASES)
async def served(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ServedLLM]:
    """Each provider's fake, on each transport that can reach it."""
    provider, transport = request.param
    monkeypatch.setenv(TRANSPORT_ENV, transport)
    await asyncio.to_thread(get_litellm)  # its import takes seconds: not part of any wait below
    async with serve_llm(provider, monkeypatch) as s:
        yield s


def engine(tmp_path: Path, served: ServedLLM, ran: list, **overrides: object):
    def read(args, ctx):
        return f"contents of {args.get('path')}", True

    def jobs(args, ctx):
        ran.append(args)
        return "submitted job 123", True

    tools = [tool("read", read), tool("hf_jobs", jobs, read_only=False)]
    config = make_config(
        model_name=served.model, reasoning_effort="high", context_window=None, **overrides
    )
    return run_engine(tmp_path / "db", served.llm.base_url, tools=tools, config=config)


async def test_multi_step_tool_turn_with_an_approval_in_the_middle_finishes(
    tmp_path: Path, served: ServedLLM
) -> None:
    ran: list = []
    llm = served.llm
    llm.push(tool_calls(call("read", {"path": "train.py"}), text="Looking first."),
             tool_calls(call("hf_jobs", GPU_RUN)))  # fmt: skip
    async with engine(tmp_path, served, ran) as eng:
        await eng.manager.submit("s", UserInput(text="train it", user="U_REQ"), origin=ORIGIN)
        req = await eng.events.wait_for("approval_required", "s")
        entry = req.data["tools"][0]
        llm.push(text("Job submitted: 123."))
        res = await eng.manager.resolve_approvals(
            "s", [ToolApproval(tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"])],
            decided_by="U_REQ",
        )  # fmt: skip
        assert res.ok
        done = await eng.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "Job submitted: 123."
        assert done.data["llm_usage"]["calls"] == 3
        info = await eng.manager.session_info("s")
        assert info["llm_usage"] == info["requester_llm_usage"] == done.data["llm_usage"]
        assert ran == [GPU_RUN] and not eng.events.of("s", "error")
        assert served.rejections == []  # no request broke the provider's rules
        calls = eng.events.of("s", "llm_call")
        assert len(calls) == 3 and all(c.data["provider"] == served.provider for c in calls)
        assert all("cache_read_tokens" in c.data and "cost_usd" in c.data for c in calls)
    last = llm.requests[-1]["messages"]
    assert [m["role"] for m in last[1:]] == ["user", "assistant", "tool", "assistant", "tool"]
    if served.provider == "anthropic":
        raw = llm.fake.requests[-1]
        assert raw["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert raw["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert [m["content"][0]["type"] for m in raw["messages"] if m["role"] == "assistant"] == [
            "thinking"
        ] * 2
        assert llm.fake.usages[-1]["cache_read_input_tokens"] > 0
        assert calls[-1].data["cost_usd"] > 0
    if served.provider == "hf_router":
        assert llm.leaked_keys == [] and set(llm.session_ids) == {"s"}
        assert calls[-1].data["cost_usd"] > 0


async def test_missing_key_is_named_within_a_second(
    tmp_path: Path, served: ServedLLM, monkeypatch
) -> None:
    env = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "hf_router": "HF_TOKEN"}[
        served.provider
    ]
    if served.provider == "hf_router":
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    async with engine(tmp_path, served, []) as eng:
        monkeypatch.delenv(env)  # run_engine sets OPENAI_API_KEY itself
        if served.provider == "openai":  # OpenAI itself, not a local server (which needs no key)
            monkeypatch.setenv("OPENAI_API_BASE", "https://api.openai.com/v1")
        started = time.monotonic()
        await eng.manager.submit("s", UserInput(text="hi"), origin=ORIGIN)
        err = await eng.events.wait_for("error", "s")
        assert time.monotonic() - started < 1.0
        assert err.data["kind"] == "auth" and f"set {env}" in err.data["error"]
    assert served.llm.requests == []


async def test_rate_limit_is_retried_on_every_wire(tmp_path: Path, served: ServedLLM) -> None:
    served.llm.push(error(429, "Rate limit reached", retry_after=0.05), text("finally"))
    async with engine(tmp_path, served, []) as eng:
        await eng.manager.submit("s", UserInput(text="hi"), origin=ORIGIN)
        done = await eng.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "finally" and len(served.llm.requests) == 2


async def test_tgi_style_422_overflow_is_compacted_like_any_overflow(
    tmp_path: Path, monkeypatch
) -> None:
    """TGI answers "inputs + max_new_tokens too long" with HTTP 422; litellm re-sends once and
    returns None. The engine must compact and carry on, not crash on the None."""
    overflow = (
        "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000"
    )
    async with serve_llm("openai", monkeypatch) as served:
        served.llm.push(error(422, overflow), error(422, overflow), text("fits now"))
        async with engine(tmp_path, served, []) as eng:
            await eng.manager.submit("s", UserInput(text="hi"), origin=ORIGIN)
            done = await eng.events.wait_for("turn_complete", "s")
            assert done.data["final_response"] == "fits now"
            logs = [e.data["log"] for e in eng.events.of("s", "tool_log")]
            assert any("compacting" in line for line in logs) and not eng.events.of("s", "error")


async def test_switching_to_a_model_without_a_key_keeps_the_old_one(
    tmp_path: Path, monkeypatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    async with serve_llm("openai") as served:
        monkeypatch.setenv("OPENAI_API_BASE", served.llm.base_url)
        served.llm.push(text("still here"))
        # allowed (another provider than the configured one), but its key is missing
        async with engine(tmp_path, served, [], allowed_models=["moonshotai/*"]) as eng:
            await eng.manager.submit("s", SetModel(model="moonshotai/Kimi-K2.6"), origin=ORIGIN)
            err = await eng.events.wait_for("error", "s")
            assert (
                "Still using `openai/fake`" in err.data["error"]
                and "set HF_TOKEN" in err.data["error"]
            )
            await eng.manager.submit("s", UserInput(text="hi"))
            done = await eng.events.wait_for("turn_complete", "s")
            assert done.data["final_response"] == "still here"


async def test_compaction_and_research_calls_count_in_the_spend(
    tmp_path: Path, served: ServedLLM
) -> None:
    """Every model call costs: the loop's, the compaction summary's, and the research
    sub-agent's are all announced as llm_call and all folded into the thread's totals."""
    for i in range(3):
        served.llm.push(text(f"answer {i} " + "x" * 200))
    served.llm.push(text("SUMMARY"))
    async with engine(tmp_path, served, [], compaction_tail_messages=2) as eng:
        for i in range(3):
            await eng.manager.submit("s", UserInput(text=f"question {i}"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s", count=3)
        await eng.manager.submit("s", Compact())
        await eng.events.wait_for("compacted", "s")
        calls = eng.events.of("s", "llm_call")
        assert [c.data.get("kind") for c in calls][-1] == "compaction"
        info = await eng.manager.session_info("s")
        assert info["llm_usage"]["calls"] == len(calls) == 4
        if served.provider != "openai":  # priced models (the local fake is not)
            assert info["llm_usage"]["cost_usd"] == pytest.approx(
                sum(c.data["cost_usd"] for c in calls)
            )


async def test_router_model_runs_with_the_hf_token_and_nothing_else(
    tmp_path: Path, monkeypatch
) -> None:
    async with serve_llm("hf_router", monkeypatch) as served:
        served.llm.push(tool_calls(call("read", {"path": "a"})), text("read it"))
        async with engine(tmp_path, served, []) as eng:
            for name in (
                "OPENAI_API_KEY",
                "OPENAI_API_BASE",
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_API_BASE",
            ):
                monkeypatch.delenv(name, raising=False)  # run_engine set the OpenAI pair itself
            await eng.manager.submit("s", UserInput(text="go"), origin=ORIGIN)
            done = await eng.events.wait_for("turn_complete", "s")
            assert done.data["final_response"] == "read it" and served.rejections == []
    assert len(served.llm.requests) == 2 and served.llm.leaked_keys == []


async def test_a_model_switch_is_checked_first_and_a_bad_model_keeps_the_old_one(
    tmp_path: Path, monkeypatch
) -> None:
    async with serve_llm("hf_router", monkeypatch) as served:
        served.llm.push(error(404, "The model org/missing-model does not exist."), text("pong"))
        async with engine(tmp_path, served, []) as eng:
            await eng.manager.submit("s", SetModel(model="org/missing-model"), origin=ORIGIN)
            err = await eng.events.wait_for("error", "s")
            assert err.data["error"].startswith("Still using `moonshotai/Kimi-K2.6`.")
            assert err.data["kind"] == "not_found"
            await eng.manager.submit("s", SetModel(model="zai-org/GLM-5.1"))
            update = await eng.events.wait_for("session_update", "s")
            assert update.data["model"] == "zai-org/GLM-5.1"
    probe = served.llm.requests[1]
    assert probe["model"] == "zai-org/GLM-5.1" and probe["reasoning_effort"] == "high"
