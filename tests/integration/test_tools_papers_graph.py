"""hf_papers' Semantic Scholar operations (citation_graph, snippet_search, recommend, filtered
search) against the fake Semantic Scholar and the fake Hub: upstream's parameters reach the
real paths, the key is optional and stays private, rate limits and outages become clear words,
hostile ids never reach the wire."""

from __future__ import annotations

import pytest

from agent_core.tools import hf_papers, semantic_scholar
from tests.fakes.fake_semantic_scholar import FakeSemanticScholar
from tests.hub_harness import jobs_env, make_config

KEY = "s2-test-key"


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    for name in semantic_scholar.KEY_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(semantic_scholar, "RETRY_BASE_S", 0.01)


@pytest.fixture
async def s2():
    async with FakeSemanticScholar() as fake:
        yield fake


@pytest.fixture
async def env(tmp_path, s2):
    config = make_config(tools={"semantic_scholar_url": s2.http_url, "semantic_scholar_max_wait_s": 2.0})  # fmt: skip
    async with jobs_env(tmp_path, start=False, config=config) as e:
        yield e


async def papers(env, ctx=None, **args):
    return await hf_papers.hf_papers_handler(args, ctx or env.ctx())


async def test_citation_graph_both_directions_with_intents_and_contexts(env, s2):
    text, ok = await papers(env, operation="citation_graph", arxiv_id="2305.18290")
    assert ok, text
    refs, cites = text.split("## Citations")
    assert "## References (2 shown)" in refs and "Proximal Policy Optimization" in refs
    assert "Training language models to follow instructions" in refs and "[influential]" in refs
    assert "Zephyr" in cites and "arxiv_id 2310.16944" in cites and "intent: methodology" in cites
    assert "> We align the model with DPO" in cites
    assert sorted(s2.paths()) == [
        "/graph/v1/paper/ARXIV:2305.18290/citations",
        "/graph/v1/paper/ARXIV:2305.18290/references",
    ]
    _, _, headers = s2.requests[0]
    sent = s2.query(0)
    assert sent["limit"] == "10" and {"title", "isInfluential", "contexts", "intents"} <= set(
        sent["fields"].split(",")
    )
    assert "x-api-key" not in {h.lower() for h in headers}


async def test_citation_graph_one_direction_and_cached(env, s2):
    args = {"operation": "citation_graph", "arxiv_id": "arxiv.org/abs/2305.18290v2"}
    ctx = env.ctx()  # one process, one Services: the client (and its cache) lives there
    text, ok = await papers(env, ctx, **args, direction="citations")
    assert ok and "## Citations (3 shown)" in text and "## References" not in text
    again, _ = await papers(env, ctx, **args, direction="citations")
    assert again == text and s2.paths() == ["/graph/v1/paper/ARXIV:2305.18290/citations"]
    text, ok = await papers(env, **args, direction="sideways")
    assert not ok and "direction" in text


async def test_unknown_paper_is_a_clear_error(env):
    text, ok = await papers(env, operation="citation_graph", arxiv_id="2501.00001")
    assert not ok and "Semantic Scholar does not know" in text and "Traceback" not in text


@pytest.mark.parametrize(
    "hostile",
    ["2305.18290/../../recommendations", "ARXIV:../x", "DOI:10.1000/../../x", "CorpusId:1?x=1", ""],
)
async def test_path_injection_in_paper_id_never_reaches_the_wire(env, s2, hostile):
    text, ok = await papers(env, operation="citation_graph", arxiv_id=hostile)
    assert not ok and ("not a paper id" in text or "needs `arxiv_id`" in text)
    text, ok = await papers(env, operation="recommend", positive_ids=f"2305.18290,{hostile}x")
    assert not ok
    assert s2.requests == []


async def test_keyless_rate_limit_says_what_to_do(tmp_path, s2):
    s2.keyless_budget = 0
    config = make_config(tools={"semantic_scholar_url": s2.http_url, "semantic_scholar_max_wait_s": 0})  # fmt: skip
    async with jobs_env(tmp_path, start=False, config=config) as env:
        text, ok = await papers(env, operation="snippet_search", query="dpo beta")
    assert not ok and "HTTP 429" in text and "S2_API_KEY" in text
    assert len(s2.requests) == 1  # no wait budget: no retry


async def test_transient_429_and_5xx_are_retried_within_budget(env, s2):
    s2.inject(429)
    s2.inject(503)
    text, ok = await papers(env, operation="recommend", arxiv_id="2305.18290")
    assert ok, text
    assert len(s2.requests) == 3
    s2.inject(500, times=3)
    text, ok = await papers(env, operation="recommend", arxiv_id="2106.09685")
    assert not ok and "unavailable (HTTP 500)" in text and len(s2.requests) == 6


async def test_key_is_sent_and_a_refused_key_is_never_echoed(env, s2, monkeypatch):
    monkeypatch.setenv("S2_API_KEY", KEY)
    text, ok = await papers(env, operation="citation_graph", arxiv_id="2305.14314", direction="references")  # fmt: skip
    assert ok and "LoRA" in text
    assert s2.requests[-1][2].get("x-api-key") == KEY
    monkeypatch.setenv("S2_API_KEY", "s2-revoked-key-123")
    text, ok = await papers(env, operation="citation_graph", arxiv_id="2305.18290")
    assert not ok and "HTTP 403" in text and "check S2_API_KEY" in text
    assert "s2-revoked-key-123" not in text


async def test_snippet_search_passages_with_sections_and_filters(env, s2):
    text, ok = await papers(env, operation="snippet_search", query="DPO beta", date_from="2023", limit=5)  # fmt: skip
    assert ok, text
    assert "section: 4 Direct Preference Optimization" in text and "> We set beta = 0.1" in text
    assert "CorpusId:" in text
    assert s2.query() == {"query": "DPO beta", "limit": "5", "publicationDateOrYear": "2023:"}
    text, ok = await papers(env, operation="snippet_search")
    assert not ok and "needs `query`" in text


async def test_recommend_single_and_positive_negative(env, s2):
    text, ok = await papers(env, operation="recommend", arxiv_id="2305.18290")
    assert ok and "Papers like ARXIV:2305.18290" in text and "Zephyr" in text
    assert s2.query()["from"] == "recent"
    text, ok = await papers(
        env, operation="recommend", positive_ids="2305.18290, 2106.09685", negative_ids="2402.01306"
    )
    assert ok and "unlike ARXIV:2402.01306" in text and "KTO" not in text.split("\n", 1)[1]
    method, path_qs, _ = s2.requests[-1]
    assert method == "POST" and path_qs.startswith("/recommendations/v1/papers/?")
    text, ok = await papers(env, operation="recommend", arxiv_id="2305.18290", positive_ids="2106.09685")  # fmt: skip
    assert ok and "Papers like ARXIV:2305.18290, ARXIV:2106.09685" in text
    text, ok = await papers(env, operation="recommend")
    assert not ok and "positive_ids" in text


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("2305.18290", "ARXIV:2305.18290"),
        ("arXiv:2305.18290v3", "ARXIV:2305.18290"),
        ("https://arxiv.org/pdf/2305.18290v2.pdf", "ARXIV:2305.18290"),
        ("https://huggingface.co/papers/2305.18290", "ARXIV:2305.18290"),
        ("CorpusId:258959321", "CorpusId:258959321"),
        ("DOI:10.48550/arXiv.2305.18290", "DOI:10.48550/arXiv.2305.18290"),
    ],
)
def test_paper_ids_the_model_may_pass(given, sent):
    assert semantic_scholar.paper_ref(given) == sent


async def test_search_with_filters_uses_bulk_search(env, s2):
    text, ok = await papers(
        env,
        operation="search",
        query="preference optimization",
        date_from="2023-01-01",
        min_citations=1,
        sort_by="citationCount",
        categories="Computer Science",
    )
    assert ok, text
    assert text.index("Direct Preference Optimization") < text.index("ORPO") or "ORPO" not in text
    sent = s2.query()
    assert sent["publicationDateOrYear"] == "2023-01-01:" and sent["minCitationCount"] == "1"
    assert sent["sort"] == "citationCount:desc" and sent["fieldsOfStudy"] == "Computer Science"
    assert env.fake.count("/api/papers/search") == 0


async def test_search_falls_back_to_the_hub_when_semantic_scholar_is_down(env, s2):
    s2.inject(503, times=3)
    text, ok = await papers(env, operation="search", query="preference", min_citations=5)
    assert ok, text
    assert "Filters not applied" in text and "unavailable (HTTP 503)" in text
    assert env.fake.count("/api/papers/search") == 1
    text, ok = await papers(env, operation="search", query="x", sort_by="stars")
    assert not ok and "sort_by" in text


async def test_prompt_injected_snippet_search_for_a_token_is_not_sent(env, s2, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_" + "z" * 34)
    text, ok = await papers(env, operation="snippet_search", query="hf_" + "z" * 34)
    assert not ok and "was not sent" in text and "z" * 34 not in text
    text, ok = await papers(env, operation="search", query="ghp_" + "q" * 36, min_citations=3)
    assert not ok and "was not sent" in text
    assert s2.requests == [] and env.fake.count("/api/papers/search") == 0


async def test_oversized_answer_is_refused_not_buffered(env, monkeypatch):
    monkeypatch.setattr(semantic_scholar, "MAX_BYTES", 500)
    text, ok = await papers(env, operation="citation_graph", arxiv_id="2305.18290")
    assert not ok and "exceeded" in text and "limit" in text


async def test_unreachable_service_is_a_clear_error(tmp_path):
    stopped = FakeSemanticScholar()
    await stopped.start()
    await stopped.stop()  # the port is closed now
    config = make_config(tools={"semantic_scholar_url": stopped.http_url, "semantic_scholar_max_wait_s": 1.0})  # fmt: skip
    async with jobs_env(tmp_path, start=False, config=config) as env:
        text, ok = await papers(env, operation="recommend", arxiv_id="2305.18290")
    assert not ok and "could not be reached" in text and "Traceback" not in text
