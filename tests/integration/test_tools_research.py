"""The research sub-agent against the scripted FakeLLM through the real LLMClient/litellm:
read-only subset and refusal of write tools, clipping, budgets, iteration limit, repetition
guard, errors, interrupt, progress lines and llm_call events."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest  # noqa: E402

from agent_core.config import Config  # noqa: E402
from agent_core.llm import LLMClient  # noqa: E402
from agent_core.policy import ApprovalRequirement  # noqa: E402
from agent_core.tools import catalog, research_tool, workspace  # noqa: E402
from agent_core.tools.base import Services, ToolSpec  # noqa: E402
from agent_core.tools.router import ToolRouter  # noqa: E402
from tests.fakes.fake_llm import FakeLLM, call, error, text, tool_calls  # noqa: E402
from tests.tool_harness import make_harness  # noqa: E402

REPORT = "## Recipe table\n| paper | result |\n|---|---|\n| LoRA (2106.09685) | +2 |"


def config(**tools) -> Config:
    return Config.model_validate(
        {
            "model_name": "openai/fake",
            "llm_max_retries": 0,
            "llm_timeout_s": 30,
            "stream": True,
            "tools": tools,
        }
    )


class Counter:
    def __init__(self) -> None:
        self.calls = 0


def extra_tools(counter: Counter) -> list[ToolSpec]:
    async def big(args, ctx):
        counter.calls += 1
        return "HEAD" + "x" * 20_000 + "TAIL", True

    async def gated(args, ctx):
        raise AssertionError("must never run")

    return [
        ToolSpec("big", "a read-only tool with a long output", {"type": "object"}, big, True),
        ToolSpec(
            "gated_lookup",
            "read-only but gated",
            {"type": "object"},
            gated,
            read_only=True,
            approval=lambda a, c: ApprovalRequirement(True, "mcp", "x"),
        ),
    ]


@pytest.fixture
async def llm(monkeypatch):
    async with FakeLLM() as fake:
        monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-test-key")
        yield fake


def harness(tmp_path, cfg: Config, counter: Counter | None = None):
    counter = counter or Counter()
    services = Services(config=cfg, state_dir=tmp_path)
    specs = workspace.tools(services) + research_tool.tools(services) + extra_tools(counter)
    session_router = ToolRouter(specs)
    services.extras["llm"] = LLMClient(cfg)
    services.extras["router_for"] = lambda session_id: session_router
    h = make_harness(tmp_path, services=services)
    h.ctx.tool_call_id = "call_research_1"
    return h, counter


def offered(body) -> set[str]:
    return {t["function"]["name"] for t in body.get("tools") or []}


def tool_msgs(body) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


async def test_happy_path_and_write_refused(tmp_path, llm):
    h, _ = harness(tmp_path, config())
    (h.ctx.workspace() / "notes.md").write_text("prior notes: use LoRA r=16")
    llm.push(
        tool_calls(
            call("read", {"path": "notes.md"}), call("write", {"path": "x.py", "content": "1"})
        ),
        tool_calls(call("bash", {"command": "rm -rf /"})),
        text(REPORT),
    )
    out, ok = await research_tool.research_handler(
        {"task": "best LoRA recipe for a 1B model", "context": "budget: one A10G"}, h.ctx
    )
    assert ok and out == REPORT
    assert not (h.ctx.workspace() / "x.py").exists()
    first, second, third = llm.requests
    assert offered(first) == {"read", "big"}  # no write/edit/research/gated tools
    assert first["messages"][0]["role"] == "system" and "recipe" in first["messages"][0]["content"]
    assert first["messages"][1]["content"] == (
        "Context: budget: one A10G\n\nResearch task: best LoRA recipe for a 1B model"
    )
    results = [m["content"] for m in tool_msgs(second)]
    assert "prior notes: use LoRA r=16" in results[0]
    assert results[1] == "Tool 'write' is not available to the research agent (read-only)."
    assert tool_msgs(third)[-1]["content"] == (
        "Tool 'bash' is not available to the research agent (read-only)."
    )
    logs = h.logs("research")
    assert {entry["agent_id"] for entry in logs} == {"call_research_1"}
    assert all(e["label"] == "research: best LoRA recipe for a 1B model" for e in logs)
    lines = [e["log"] for e in logs]
    assert lines[0] == "Starting research sub-agent..."
    assert any(line.startswith("▸ read  ") for line in lines)
    assert any(line.startswith("tokens:") for line in lines) and "tools:2" in lines
    assert lines[-1] == "Research complete."
    calls = [p for k, p in h.emitted if k == "llm_call"]
    assert len(calls) == 3 and all(c["kind"] == "research" for c in calls)


async def test_research_model_and_gated_refusal(tmp_path, llm):
    cfg = config()
    cfg.research_model = "openai/cheap-model"
    h, _ = harness(tmp_path, cfg)
    llm.push(tool_calls(call("gated_lookup", {})), text("done"))
    out, ok = await research_tool.research_handler({"task": "t"}, h.ctx)
    assert ok and out == "done"
    assert llm.requests[0]["model"] == "cheap-model"
    assert "not available to the research agent" in tool_msgs(llm.requests[1])[0]["content"]


async def test_outputs_clipped(tmp_path, llm):
    h, counter = harness(tmp_path, config())
    llm.push(tool_calls(call("big", {})), text("ok"))
    await research_tool.research_handler({"task": "t"}, h.ctx)
    content = tool_msgs(llm.requests[1])[0]["content"]
    assert counter.calls == 1
    assert content.startswith("HEAD") and content.endswith("TAIL")
    assert "\n...(truncated)...\n" in content
    assert len(content) == 4_800 + len("\n...(truncated)...\n") + 3_200


async def test_iteration_limit_forces_summary(tmp_path, llm):
    h, counter = harness(tmp_path, config(research_max_iterations=2))
    llm.push(tool_calls(call("big", {"n": 1})), tool_calls(call("big", {"n": 2})), text(REPORT))
    out, ok = await research_tool.research_handler({"task": "t"}, h.ctx)
    assert ok and out == REPORT and counter.calls == 2
    last = llm.requests[-1]
    assert not last.get("tools")
    assert "[SYSTEM: ITERATION LIMIT]" in last["messages"][-1]["content"]
    assert "Iteration limit reached — extracting summary" in [e["log"] for e in h.logs()]


async def test_iteration_limit_summary_failure(tmp_path, llm):
    h, _ = harness(tmp_path, config(research_max_iterations=1))
    llm.push(tool_calls(call("big", {})), text(""))
    out, ok = await research_tool.research_handler({"task": "t"}, h.ctx)
    assert not ok and "iteration limit (1)" in out


async def test_token_budget_nudge_then_forced_summary(tmp_path, llm):
    h, counter = harness(tmp_path, config(research_token_budget=10_000))
    llm.push(
        tool_calls(call("big", {"n": 1}), prompt_tokens=8_000, completion_tokens=600),  # 86 %
        tool_calls(call("big", {"n": 2}), prompt_tokens=9_000, completion_tokens=600),  # 96 %
        text(REPORT),
    )
    out, ok = await research_tool.research_handler({"task": "t"}, h.ctx)
    assert ok and out == REPORT
    assert counter.calls == 1  # the call that came with 96 % was not executed
    second, third = llm.requests[1], llm.requests[2]
    assert "[SYSTEM: CONTEXT BUDGET]" in second["messages"][-1]["content"]
    assert "85%" in second["messages"][-1]["content"]
    assert not third.get("tools")
    assert "[SYSTEM: CONTEXT LIMIT REACHED]" in third["messages"][-1]["content"]
    # the wire history stays valid: no assistant tool_calls without results
    assert not third["messages"][-2].get("tool_calls")


async def test_doom_loop_guard_fires_once(tmp_path, llm):
    h, _ = harness(tmp_path, config(research_max_iterations=6))
    same = tool_calls(call("read", {"path": "missing.md"}))
    llm.push(same, same, same, same, text("gave up"))
    out, ok = await research_tool.research_handler({"task": "t"}, h.ctx)
    assert ok and out == "gave up"
    guard = "[SYSTEM: REPETITION GUARD]"
    assert not any(guard in str(m.get("content")) for m in llm.requests[2]["messages"])
    assert guard in llm.requests[3]["messages"][-1]["content"]
    assert sum(guard in str(m.get("content")) for m in llm.requests[4]["messages"]) == 1


async def test_llm_error_and_bad_input(tmp_path, llm):
    h, _ = harness(tmp_path, config())
    llm.push(error(status=400, message="bad request from fake"))
    out, ok = await research_tool.research_handler({"task": "t"}, h.ctx)
    assert not ok and out.startswith("Research agent LLM error")
    out, ok = await research_tool.research_handler({"task": "  "}, h.ctx)
    assert not ok and "task" in out
    llm.push(tool_calls(call("read", raw_arguments='{"path": ')), text("fine"))
    out, ok = await research_tool.research_handler({"task": "t"}, h.ctx)
    assert ok
    assert tool_msgs(llm.requests[-1])[0]["content"].startswith("Invalid tool arguments for 'read'")


async def test_no_llm_configured(tmp_path):
    h = make_harness(tmp_path)
    out, ok = await research_tool.research_handler({"task": "t"}, h.ctx)
    assert not ok and "no LLM client" in out


async def test_interrupt_during_llm_call(tmp_path, llm):
    h, _ = harness(tmp_path, config())
    gate = asyncio.Event()
    llm.push(text("never", gate=gate))
    task = asyncio.create_task(research_tool.research_handler({"task": "t"}, h.ctx))
    await llm.wait_for_requests(1)
    h.ctx.cancel_event.set()
    out, ok = await asyncio.wait_for(task, 10)
    assert not ok and out == "Research interrupted."
    gate.set()


async def test_subset_from_catalog_when_no_router(tmp_path):
    cfg = config(bash_enabled=True)
    services = Services(config=cfg, state_dir=tmp_path)
    h = make_harness(tmp_path, services=services)
    names = set(research_tool.research_router(h.ctx).names)
    assert {"read", "explore_hf_docs", "fetch_hf_docs", "github_read_file"} <= names
    assert not names & {"write", "edit", "bash", "research"}
    assert "agent_core.tools.research_tool" in catalog.PROVIDERS
    spec = research_tool.tools(services)[0]
    assert spec.name == "research" and spec.parameters["required"] == ["task"]
