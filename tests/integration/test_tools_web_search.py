"""web_search: not offered without a provider (or without its key); DuckDuckGo HTML parsing,
redirect decoding, generic-link fallback, domain filters, dedupe; Brave and Tavily JSON."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pytest  # noqa: E402

from agent_core.tools import catalog, web_search  # noqa: E402
from agent_core.tools.base import Services  # noqa: E402
from agent_core.tools.router import ToolRouter  # noqa: E402
from tests.fakes.fake_search import FakeSearch  # noqa: E402
from tests.tool_harness import make_config, make_harness  # noqa: E402


@pytest.fixture
async def fake():
    async with FakeSearch() as f:
        yield f


def router_for(provider: str, base_url: str) -> tuple[ToolRouter, Services]:
    config = make_config(web_search_provider=provider, web_search_base_url=base_url)
    services = Services(config=config)
    return ToolRouter(web_search.tools(services)), services


def test_not_offered_by_default():
    services = Services(config=make_config())
    assert web_search.tools(services) == []
    assert "web_search" not in [s.name for s in catalog.build_tools(services)]


def test_not_offered_without_key(monkeypatch):
    monkeypatch.delenv("BRAVE_API_KEY", raising=False)
    assert web_search.tools(Services(config=make_config(web_search_provider="brave"))) == []


async def test_duckduckgo_results_decoded_and_deduped(fake, tmp_path):
    r, services = router_for("duckduckgo", f"{fake.base_url}/html/")
    spec = r.get("web_search")
    assert spec is not None and spec.read_only
    h = make_harness(tmp_path, services=services)
    text, ok = await r.call("web_search", {"query": "sft lora"}, h.ctx)
    assert ok, text
    assert "1. [TRL SFT docs](https://huggingface.co/docs/trl/sft_trainer)" in text
    assert "Low-rank adaptation" in text
    assert text.count("arxiv.org/abs/2106.09685") == 1
    assert "duckduckgo.com/l/" not in text
    assert "Include a Sources section" in text
    assert fake.requests[-1][0].startswith("/html/?q=sft")


async def test_domain_filters(fake, tmp_path):
    r, services = router_for("duckduckgo", f"{fake.base_url}/html/")
    h = make_harness(tmp_path, services=services)
    text, ok = await r.call(
        "web_search", {"query": "sft", "allowed_domains": ["huggingface.co", "example.com"]}, h.ctx
    )
    assert ok and "huggingface.co" in text and "blog.example.com" in text and "arxiv" not in text
    text, ok = await r.call(
        "web_search", {"query": "sft", "blocked_domains": ["example.com"]}, h.ctx
    )
    assert ok and "blog.example.com" not in text and "arxiv" in text


async def test_generic_link_fallback(fake, tmp_path):
    fake.ddg_mode = "plain"
    r, services = router_for("duckduckgo", f"{fake.base_url}/html/")
    h = make_harness(tmp_path, services=services)
    text, ok = await r.call("web_search", {"query": "sft"}, h.ctx)
    assert ok and "huggingface.co/docs/trl" in text and "settings" not in text


async def test_errors(fake, tmp_path):
    r, services = router_for("duckduckgo", f"{fake.base_url}/html/")
    h = make_harness(tmp_path, services=services)
    text, ok = await r.call("web_search", {"query": "x"}, h.ctx)
    assert not ok and "at least 2" in text
    fake.status = 503
    text, ok = await r.call("web_search", {"query": "sft"}, h.ctx)
    assert not ok and "HTTP 503" in text


async def test_brave_and_tavily(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAVE_API_KEY", "brave-key")
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-key")
    for provider, path in (("brave", "/brave"), ("tavily", "/tavily")):
        r, services = router_for(provider, fake.base_url + path)
        h = make_harness(tmp_path, services=services)
        text, ok = await r.call("web_search", {"query": "lora paper"}, h.ctx)
        assert ok, (provider, text)
        assert "[LoRA paper](https://arxiv.org/abs/2106.09685)" in text
    assert fake.requests[-2][1]["X-Subscription-Token"] == "brave-key"
    assert fake.requests[-1][1]["Authorization"] == "Bearer tvly-key"
