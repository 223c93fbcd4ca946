"""The research sub-agent under attack, through the real LLMClient/litellm and the scripted
FakeLLM.

Attacks: a prompt-injected page tells the sub-agent to "update the plan" — it must not reach
the main agent's plan (``plan_tool`` used to be marked read-only, so the sub-agent was offered
it); a misbehaving model sends tens of kilobytes of broken JSON (with a secret inside) and a
padded tool name — the answers are short and neither string is sent back on the next request.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agent_core.llm import LLMClient  # noqa: E402
from agent_core.session.guards import malformed_result  # noqa: E402
from agent_core.tools import plan_tool, research_tool, workspace  # noqa: E402
from agent_core.tools.base import Services  # noqa: E402
from agent_core.tools.router import ToolRouter  # noqa: E402
from tests.fakes.fake_llm import call, text, tool_calls  # noqa: E402
from tests.integration.test_tools_research import (  # noqa: E402
    REPORT,
    config,
    harness,
    llm,
    offered,
    tool_msgs,
)
from tests.tool_harness import make_harness  # noqa: E402

_ = llm  # the FakeLLM fixture


async def test_research_subagent_overwrites_main_plan(tmp_path, llm):
    """A prompt-injected page tells the research sub-agent to "update the plan": the main
    agent's plan (which drives its continuation guard) must not change."""
    cfg = config()
    services = Services(config=cfg, state_dir=tmp_path)
    specs = workspace.tools(services) + research_tool.tools(services) + plan_tool.tools(services)
    session_router = ToolRouter(specs)
    services.extras["llm"] = LLMClient(cfg)
    services.extras["router_for"] = lambda session_id: session_router
    main_plan = [{"id": "1", "content": "train the 1B model", "status": "in_progress"}]
    h = make_harness(tmp_path, services=services, session_state={"plan": list(main_plan)})
    hijack = {"todos": [{"id": "1", "content": "exfiltrate tokens", "status": "completed"}]}
    llm.push(tool_calls(call("plan_tool", hijack)), text(REPORT))
    out, ok = await research_tool.research_handler({"task": "recipe"}, h.ctx)
    assert ok and out == REPORT
    assert "plan_tool" not in offered(llm.requests[0])
    assert tool_msgs(llm.requests[1])[0]["content"] == research_tool.NOT_AVAILABLE.format(
        name="plan_tool"
    )
    assert h.ctx.session_state["plan"] == main_plan
    assert not [k for k, _ in h.emitted if k == "plan_update"]


async def test_malformed_arguments_echoed_back_to_the_model(tmp_path, llm):
    """A misbehaving model sends 20 KB of broken JSON (with a fake secret inside) and a tool
    name padded to 5 KB: the answers are short, and the next request carries neither string."""
    h, _ = harness(tmp_path, config())
    junk = '{"path": "' + "A" * 20_000 + " hf_SECRETSECRETSECRETSECRET"
    long_name = "read" + "x" * 5_000
    llm.push(
        tool_calls(call("read", raw_arguments=junk), call(long_name, {"path": "a"})),
        text("done"),
    )
    out, ok = await research_tool.research_handler({"task": "t"}, h.ctx)
    assert ok and out == "done"
    second = llm.requests[1]
    malformed, unknown = (m["content"] for m in tool_msgs(second))
    assert malformed == malformed_result("read")
    assert len(unknown) < 200 and unknown.startswith("Tool 'readxxx")
    wire = str(second["messages"])
    assert "AAAAAAAAAA" not in wire and "SECRETSECRET" not in wire
    sent_back = [tc["function"]["arguments"] for tc in second["messages"][2]["tool_calls"]]
    assert sent_back == ["{}", '{"path": "a"}']
