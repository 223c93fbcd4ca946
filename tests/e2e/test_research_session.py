"""A research turn through the whole engine: the model (FakeLLM) is offered the default
catalogue's research tools and uses hf_papers' Semantic Scholar operations, find_hf_api and
web_search (on by default) against the fake Semantic Scholar, the fake Hub's OpenAPI document
and the fake DuckDuckGo; the results reach the model, no approval is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_core.events import UserInput
from agent_core.tools import catalog
from agent_core.tools.base import Services
from tests.engine_harness import ORIGIN, make_config, run_engine
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub
from tests.fakes.fake_llm import FakeLLM, call, text, tool_calls
from tests.fakes.fake_search import FakeSearch
from tests.fakes.fake_semantic_scholar import FakeSemanticScholar

RESEARCH = ["agent_core.tools.hf_papers", "agent_core.tools.hf_api_search", "agent_core.tools.web_search"]  # fmt: skip


@pytest.fixture
async def fakes(monkeypatch):
    async with FakeLLM() as llm, FakeHub() as hub, FakeSemanticScholar() as s2, FakeSearch() as web:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
        monkeypatch.setenv("CLAWD_WEB_SEARCH_BASE_URL", f"{web.base_url}/html/")
        for name in ("S2_API_KEY", "SEMANTIC_SCHOLAR_API_KEY", "BRAVE_API_KEY", "TAVILY_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        yield llm, hub, s2, web


async def test_research_turn_uses_citations_api_search_and_web(tmp_path: Path, fakes) -> None:
    llm, hub, s2, web = fakes
    config = make_config(tools={"semantic_scholar_url": s2.http_url})
    specs = catalog.build_tools(Services(config=config), RESEARCH)
    llm.push(
        tool_calls(
            call(
                "hf_papers",
                {"operation": "citation_graph", "arxiv_id": "2305.18290", "direction": "citations"},
            ),  # fmt: skip
            call("find_hf_api", {"query": "space hardware"}),
            call("web_search", {"query": "zephyr dpo recipe"}),
        ),
        tool_calls(call("hf_papers", {"operation": "snippet_search", "query": "DPO beta"})),
        text("Zephyr trains DPO with beta 0.1; sources below."),
    )
    async with run_engine(tmp_path / "db", llm.base_url, tools=specs, config=config) as eng:
        await eng.manager.submit(
            "s", UserInput(text="what beta do DPO recipes use?"), origin=ORIGIN
        )
        done = await eng.events.wait_for("turn_complete", "s", timeout=60)
        assert done.data["final_response"].startswith("Zephyr trains DPO")
        outputs = {e.data["output"][:40]: e.data for e in eng.events.of("s", "tool_output")}
        assert all(o["success"] for o in outputs.values()), outputs
        assert not eng.events.of("s", "approval_required")
    offered = {t["function"]["name"]: t["function"] for t in llm.requests[0]["tools"]}
    assert {"hf_papers", "find_hf_api", "web_search"} <= set(offered)
    ops = offered["hf_papers"]["parameters"]["properties"]["operation"]["enum"]
    assert {"citation_graph", "snippet_search", "recommend"} <= set(ops)
    fed_back = " ".join(m["content"] for m in llm.requests[1]["messages"] if m["role"] == "tool")
    assert "Zephyr" in fed_back and "POST /api/spaces/{namespace}/{repo}/hardware" in fed_back
    assert "[TRL SFT docs](https://huggingface.co/docs/trl/sft_trainer)" in fed_back
    last = " ".join(m["content"] for m in llm.requests[2]["messages"] if m["role"] == "tool")
    assert "We set beta = 0.1" in last
    assert s2.paths() == [
        "/graph/v1/paper/ARXIV:2305.18290/citations",
        "/graph/v1/snippet/search",
    ]
    assert hub.count("/.well-known/openapi.json") == 1 and len(web.requests) == 1
