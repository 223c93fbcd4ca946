"""What a default install offers the model (issue 15's "done when"): with an HF token and the
shipped configuration, the catalogue holds find_hf_api, web_search and hf_papers with every
operation and parameter of upstream's tools (names from upstream's agent/tools, see
/work/shared/reference/ml-intern-core.md §4)."""

from __future__ import annotations

import pytest

from agent_core.config import load_config
from agent_core.tools import catalog
from agent_core.tools.base import Services

UPSTREAM_PAPERS_OPERATIONS = {
    "trending", "search", "paper_details", "read_paper", "citation_graph", "snippet_search",
    "recommend", "find_datasets", "find_models", "find_collections", "find_all_resources",
}  # fmt: skip
UPSTREAM_PAPERS_PARAMETERS = {
    "operation", "query", "arxiv_id", "section", "direction", "date", "date_from", "date_to",
    "categories", "min_citations", "sort_by", "positive_ids", "negative_ids", "sort", "limit",
}  # fmt: skip


@pytest.fixture
def default_tools(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "hf_default_install_token")
    for name in (
        "BRAVE_API_KEY",
        "TAVILY_API_KEY",
        "CLAWD_WEB_SEARCH_BASE_URL",
        "ML_INTERN_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    config = load_config(env={"ML_INTERN_MODEL": "openai/fake"}, load_env_file=False)
    specs = catalog.build_tools(Services(config=config, state_dir=tmp_path))
    return {spec.name: spec for spec in specs}


def props(spec) -> dict:
    return spec.parameters["properties"]


def test_default_install_offers_the_research_tools(default_tools):
    assert {"find_hf_api", "web_search", "hf_papers"} <= set(default_tools)
    assert all(default_tools[n].read_only for n in ("find_hf_api", "web_search", "hf_papers"))


def test_hf_papers_has_upstreams_operations_and_parameters(default_tools):
    papers = default_tools["hf_papers"]
    assert set(props(papers)["operation"]["enum"]) == UPSTREAM_PAPERS_OPERATIONS
    assert set(props(papers)) == UPSTREAM_PAPERS_PARAMETERS
    assert props(papers)["direction"]["enum"] == ["citations", "references", "both"]
    assert props(papers)["sort_by"]["enum"] == ["relevance", "citationCount", "publicationDate"]
    assert papers.parameters["required"] == ["operation"]


def test_web_search_and_find_hf_api_have_upstreams_parameters(default_tools):
    assert set(props(default_tools["web_search"])) == {
        "query",
        "allowed_domains",
        "blocked_domains",
    }
    assert default_tools["web_search"].parameters["required"] == ["query"]
    assert set(props(default_tools["find_hf_api"])) == {"query", "tag"}
