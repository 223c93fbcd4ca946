"""explore_hf_docs / fetch_hf_docs against a loopback docs fake: nav parsing, term search,
paging, host refusal, and the HF token only ever reaching the Hub's own origin."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import pytest  # noqa: E402

from agent_core.tools import docs_tools  # noqa: E402
from agent_core.tools.base import Services  # noqa: E402
from agent_core.tools.http_util import get_bounded, origin, same_origin  # noqa: E402
from agent_core.tools.router import ToolRouter  # noqa: E402
from tests.fakes.fake_docs import FakeDocs  # noqa: E402
from tests.tool_harness import make_config, make_harness  # noqa: E402

TOKEN = "hf_" + "a" * 34


@pytest.fixture
async def hub(monkeypatch):
    async with FakeDocs() as docs:
        monkeypatch.setenv("HF_ENDPOINT", docs.base_url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield docs


@pytest.fixture
def h(tmp_path):
    return make_harness(tmp_path)


def test_origin_comparison():
    assert origin("https://HuggingFace.co/docs") == ("https", "huggingface.co", 443)
    assert same_origin("https://huggingface.co:443/x", "https://huggingface.co")
    assert not same_origin("http://huggingface.co/x", "https://huggingface.co")
    assert not same_origin("https://huggingface.co.evil.com/x", "https://huggingface.co")
    assert not same_origin("https://evil.com/?u=https://huggingface.co", "https://huggingface.co")
    assert not same_origin("http://127.0.0.1:1/x", "http://127.0.0.1:2")


async def test_explore_lists_nav_pages(hub, h):
    text, ok = await docs_tools.explore_hf_docs_handler({"endpoint": "trl"}, h.ctx)
    assert ok, text
    assert "4 pages" in text
    assert f"{hub.base_url}/docs/trl/sft_trainer" in text and "[Trainers]" in text
    assert "pricing" not in text.lower() and "v1.0.0" not in text
    # no query → no page bodies fetched
    assert not [p for p, _ in hub.requests if p.endswith(".md")]


async def test_explore_search_ranks_by_terms(hub, h):
    text, ok = await docs_tools.explore_hf_docs_handler(
        {"endpoint": "trl", "query": "SFT learning rate", "max_results": 2}, h.ctx
    )
    assert ok, text
    first = text.split("\n1. ", 1)[1]
    assert first.startswith("SFT Trainer")
    assert "Section: Trainers" in first and "> " in first
    assert "2 trl docs pages" in text


async def test_explore_is_cached_per_endpoint(hub, h):
    await docs_tools.explore_hf_docs_handler({"endpoint": "trl", "query": "lora"}, h.ctx)
    n = len(hub.requests)
    text, ok = await docs_tools.explore_hf_docs_handler({"endpoint": "trl", "query": "dpo"}, h.ctx)
    assert ok and "DPO Trainer" in text
    assert len(hub.requests) == n  # nav and bodies served from the cache


async def test_explore_errors(hub, h):
    text, ok = await docs_tools.explore_hf_docs_handler({"endpoint": "nope"}, h.ctx)
    assert not ok and "unknown docs endpoint" in text
    text, ok = await docs_tools.explore_hf_docs_handler({"endpoint": "peft"}, h.ctx)
    assert not ok and "HTTP 404" in text
    text, ok = await docs_tools.explore_hf_docs_handler(
        {"endpoint": "trl", "query": "zebra quantum"}, h.ctx
    )
    assert ok and "No trl docs pages match" in text


async def test_fetch_by_path_and_url(hub, h):
    text, ok = await docs_tools.fetch_hf_docs_handler({"url": "trl/sft_trainer"}, h.ctx)
    assert ok and "# SFT Trainer" in text and text.startswith("Source: ")
    text, ok = await docs_tools.fetch_hf_docs_handler(
        {"url": f"{hub.base_url}/docs/trl/dpo_trainer#section"}, h.ctx
    )
    assert ok and "chosen and rejected" in text
    text, ok = await docs_tools.fetch_hf_docs_handler({"url": "/docs/trl/lora.md"}, h.ctx)
    assert ok and "LoRA" in text


async def test_fetch_pages_long_documents(hub, h):
    hub.pages["trl"]["long"] = ("X", "Long", "".join(f"line {i:05d}\n" for i in range(5000)))
    r = ToolRouter(docs_tools.tools(Services()))
    text, ok = await r.call("fetch_hf_docs", {"url": "trl/long"}, h.ctx)
    # 1818 whole lines of 11 chars fit in 20,000: the page ends on a line boundary
    assert ok and "offset=19998" in text and "chars 0-19998 of 55000" in text
    assert len(text) <= docs_tools.PAGE_CHARS + 2_000
    text, ok = await r.call("fetch_hf_docs", {"url": "trl/long", "offset": 19998}, h.ctx)
    assert ok and "\n\nline 01818\n" in text and "offset=39996" in text
    text, ok = await r.call("fetch_hf_docs", {"url": "trl/long", "offset": 99999}, h.ctx)
    assert not ok and "past the end" in text


async def test_fetch_errors_and_refusals(hub, h):
    text, ok = await docs_tools.fetch_hf_docs_handler({"url": "trl/missing"}, h.ctx)
    assert not ok and "404" in text
    for url in ("https://example.com/docs/x", "file:///etc/passwd", "http://169.254.169.254/x"):
        text, ok = await docs_tools.fetch_hf_docs_handler({"url": url}, h.ctx)
        assert not ok, url
    assert not any("example.com" in p for p, _ in hub.requests)


async def test_token_sent_only_to_hub_origin(hub, tmp_path):
    async with FakeDocs() as other:
        # docs base configured on another origin: allowed, but never gets the token
        h = make_harness(tmp_path, config=make_config(docs_base_url=f"{other.base_url}/docs"))
        text, ok = await docs_tools.explore_hf_docs_handler(
            {"endpoint": "trl", "query": "sft"}, h.ctx
        )
        assert ok, text
        text, ok = await docs_tools.fetch_hf_docs_handler({"url": "trl/lora"}, h.ctx)
        assert ok, text
        assert other.requests and other.authorized_paths() == []
        # the Hub itself gets the token
        text, ok = await docs_tools.fetch_hf_docs_handler(
            {"url": f"{hub.base_url}/docs/trl/index"}, h.ctx
        )
        assert ok
        assert hub.authorized_paths() == ["/docs/trl/index.md"]
        assert hub.requests[-1][1]["Authorization"] == f"Bearer {TOKEN}"


async def test_redirect_off_hub_drops_token(hub):
    async with FakeDocs() as other, httpx.AsyncClient() as client:
        target = f"{other.base_url}/docs/trl/index.md"
        resp = await get_bounded(
            client,
            f"{hub.base_url}/redirect?to={target}",
            credential_headers={"Authorization": f"Bearer {TOKEN}"},
            credential_origin=hub.base_url,
        )
        assert resp.status_code == 200 and "TRL" in resp.text
        assert hub.authorized_paths()[0].startswith("/redirect")
        assert other.authorized_paths() == []


async def test_bounded_body(hub):
    hub.pages["trl"]["big"] = ("X", "Big", "z" * 100_000)
    async with httpx.AsyncClient() as client:
        resp = await get_bounded(client, f"{hub.base_url}/docs/trl/big.md", max_bytes=1000)
    assert resp.truncated and len(resp.content) == 1000


def test_specs_are_read_only():
    specs = docs_tools.tools(Services())
    assert {s.name for s in specs} == {"explore_hf_docs", "fetch_hf_docs"}
    assert all(s.read_only and s.approval is None and s.output_cap for s in specs)
