"""web_search: on by default (keyless DuckDuckGo, or Brave/Tavily when their key is set), off
with ``none`` or without a named provider's key; DuckDuckGo HTML parsing, redirect decoding,
generic-link fallback, domain filters, dedupe; Brave and Tavily JSON; the ``check`` probe."""

from __future__ import annotations

import json
import subprocess
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


@pytest.fixture(autouse=True)
def no_search_keys(monkeypatch):
    for name in ("BRAVE_API_KEY", "TAVILY_API_KEY", web_search.BASE_URL_ENV):
        monkeypatch.delenv(name, raising=False)


def test_on_by_default_with_the_keyless_provider():
    services = Services(config=make_config())
    choice = web_search.choose_provider(services.config)
    assert choice.provider is not None and choice.provider.name == "duckduckgo"
    assert choice.base_url == "https://html.duckduckgo.com/html/"
    assert "web_search" in [s.name for s in catalog.build_tools(services)]


def test_auto_prefers_a_keyed_provider_and_honours_upstreams_base_url_env(monkeypatch):
    monkeypatch.setenv(web_search.BASE_URL_ENV, "http://127.0.0.1:9/html/")
    assert web_search.choose_provider(make_config()).base_url == "http://127.0.0.1:9/html/"
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-x")
    assert web_search.choose_provider(make_config()).provider.name == "tavily"
    monkeypatch.setenv("BRAVE_API_KEY", "brave-x")
    choice = web_search.choose_provider(make_config())
    assert choice.provider.name == "brave" and choice.base_url.startswith(
        "https://api.search.brave"
    )


def test_off_with_none_and_without_a_named_providers_key():
    services = Services(config=make_config(web_search_provider="none"))
    assert web_search.tools(services) == []
    assert "web_search" not in [s.name for s in catalog.build_tools(services)]
    assert web_search.tools(Services(config=make_config(web_search_provider="brave"))) == []
    reason = web_search.choose_provider(make_config(web_search_provider="brave")).reason
    assert "BRAVE_API_KEY" in reason


async def test_probe_says_whether_search_works(fake):
    assert await web_search.probe(make_config(web_search_base_url=f"{fake.base_url}/html/")) is None
    fake.status = 503
    note = await web_search.probe(make_config(web_search_base_url=f"{fake.base_url}/html/"))
    assert note is not None and "does not work" in note and "HTTP 503" in note
    fake.status, fake.results = 200, []
    note = await web_search.probe(make_config(web_search_base_url=f"{fake.base_url}/html/"))
    assert note is not None and "no results" in note
    assert "off" in await web_search.probe(make_config(web_search_provider="none"))


def test_cli_check_notes_when_web_search_does_not_work(tmp_path):
    """The installed console script, against a search endpoint that fails, then one that works."""
    script = Path(sys.executable).parent / "ml-intern-slack"
    with FakeSearch().run_in_thread() as fake:
        config = tmp_path / "c.json"
        config.write_text(json.dumps({"tools": {"web_search_base_url": f"{fake.base_url}/html/"}}))
        env = {"ML_INTERN_CONFIG": str(config), "ML_INTERN_MODEL": "openai/fake",
               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # fmt: skip
        fake.status = 500
        failing = subprocess.run([str(script), "check"], env=env, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        fake.status = 200
        working = subprocess.run([str(script), "check"], env=env, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "configuration OK" in failing.stdout, failing.stderr
    assert "note: web search (duckduckgo at http://127.0.0.1:" in failing.stdout
    assert "HTTP 500" in failing.stdout
    assert "configuration OK" in working.stdout and "web search" not in working.stdout


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


async def test_prompt_injected_search_for_a_token_is_not_sent(fake, tmp_path, monkeypatch):
    """A fetched page tells the model to 'search for' the HF token: the query never leaves."""
    monkeypatch.setenv("HF_TOKEN", "hf_" + "a" * 34)
    r, services = router_for("duckduckgo", f"{fake.base_url}/html/")
    h = make_harness(tmp_path, services=services)
    for query in ("hf_" + "a" * 34, "my token is hf_" + "b" * 34, "key sk-ant-" + "c" * 30):
        text, ok = await r.call("web_search", {"query": query}, h.ctx)
        assert not ok and "was not sent" in text
    assert fake.requests == []


async def test_duckduckgo_rate_limit_is_explained(fake, tmp_path):
    fake.ddg_mode = "ratelimited"
    r, services = router_for("duckduckgo", f"{fake.base_url}/html/")
    h = make_harness(tmp_path, services=services)
    text, ok = await r.call("web_search", {"query": "sft lora"}, h.ctx)
    assert not ok and "rate-limiting" in text and "BRAVE_API_KEY" in text
