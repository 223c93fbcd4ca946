"""``hf_papers``' Semantic Scholar operations (upstream's names and parameters):

* ``citation_graph`` — references and/or citations of a paper (``direction``), with the
  influential flag, citation intents and up to two 200-character citation contexts;
* ``snippet_search`` — passages from full texts matching ``query`` (400 characters each);
* ``recommend`` — papers like one paper (``arxiv_id``) or like a set (``positive_ids`` /
  ``negative_ids``, comma-separated arXiv ids);
* ``search`` with any of ``date_from``, ``date_to``, ``categories``, ``min_citations``,
  ``sort_by`` — Semantic Scholar's bulk search (the Hub's search has no such filters).

Kept apart from :mod:`hf_papers` because it speaks another service, with its own ids and
failure modes (see :mod:`semantic_scholar`). Every text a paper brings is cut, so a listing
stays compact.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..hub import HubError
from .base import ToolContext
from .http_util import carries_secret
from .hub_common import cut
from .semantic_scholar import arxiv_of, client_for, paper_ref, quoted

OPERATIONS = ["citation_graph", "snippet_search", "recommend"]
FILTERS = ("date_from", "date_to", "categories", "min_citations", "sort_by")
SORT_BY = ("relevance", "citationCount", "publicationDate")
DIRECTIONS = ("citations", "references", "both")
CONTEXT_CHARS = 200
SNIPPET_CHARS = 400
TLDR_CHARS = 300
_LIST_FIELDS = "title,externalIds,year,citationCount,venue,tldr"
_EDGE_FIELDS = "title,externalIds,year,citationCount,contexts,intents,isInfluential"

PARAMETERS: dict[str, Any] = {
    "direction": {
        "type": "string",
        "enum": list(DIRECTIONS),
        "description": "citation_graph: papers citing this one, its references, or both (default).",
    },
    "date_from": {
        "type": "string",
        "description": "search/snippet_search: earliest publication date (YYYY-MM-DD or YYYY).",
    },
    "date_to": {
        "type": "string",
        "description": "search/snippet_search: latest publication date (YYYY-MM-DD or YYYY).",
    },
    "categories": {
        "type": "string",
        "description": "search/snippet_search: field of study, e.g. 'Computer Science'.",
    },
    "min_citations": {
        "type": "integer",
        "description": "search/snippet_search: only papers with at least this many citations.",
    },
    "sort_by": {
        "type": "string",
        "enum": list(SORT_BY),
        "description": "search with filters: order (default relevance).",
    },
    "positive_ids": {
        "type": "string",
        "description": "recommend: comma-separated arXiv ids of papers you want more like.",
    },
    "negative_ids": {
        "type": "string",
        "description": "recommend: comma-separated arXiv ids of papers you want less like.",
    },
}


def wants_filtered_search(args: dict[str, Any]) -> bool:
    return any(args.get(k) not in (None, "", 0) for k in FILTERS)


def _filters(args: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    date_from = str(args.get("date_from") or "").strip()
    date_to = str(args.get("date_to") or "").strip()
    if date_from or date_to:
        params["publicationDateOrYear"] = f"{date_from}:{date_to}"
    if categories := str(args.get("categories") or "").strip():
        params["fieldsOfStudy"] = categories
    if args.get("min_citations") not in (None, ""):
        try:
            params["minCitationCount"] = max(0, int(args["min_citations"]))
        except (TypeError, ValueError):
            raise HubError("`min_citations` must be a whole number.", kind="bad_request") from None
    return params


def _paper_line(i: int, paper: dict[str, Any]) -> list[str]:
    aid = arxiv_of(paper)
    meta = [str(paper["year"])] if paper.get("year") else []
    if paper.get("citationCount") is not None:
        meta.append(f"{paper['citationCount']} citations")
    if paper.get("venue"):
        meta.append(cut(paper["venue"], 60))
    lines = [f"{i}. **{cut(paper.get('title') or '(untitled)', 160)}**"]
    if meta:
        lines[0] += f" ({', '.join(meta)})"
    if aid:
        lines[0] += f" — arxiv_id {aid}"
    elif paper.get("corpusId"):
        lines[0] += f" — CorpusId:{paper['corpusId']}"
    tldr = (paper.get("tldr") or {}).get("text") if isinstance(paper.get("tldr"), dict) else None
    if tldr:
        lines.append(f"   TL;DR: {cut(tldr, TLDR_CHARS)}")
    return lines


def _paper_list(title: str, papers: list[dict[str, Any]], limit: int) -> str:
    if not papers:
        return f"{title}: none found."
    out = [f"{title} ({min(limit, len(papers))} shown):"]
    for i, paper in enumerate(papers[:limit], 1):
        out += _paper_line(i, paper)
    out.append("Next: paper_details / read_paper with an arxiv_id above.")
    return "\n".join(out)


def _edge_lines(entries: list[dict[str, Any]], key: str, limit: int) -> list[str]:
    out: list[str] = []
    for i, entry in enumerate(entries[:limit], 1):
        paper = entry.get(key) or {}
        lines = _paper_line(i, paper)
        if entry.get("isInfluential"):
            lines[0] += " [influential]"
        if intents := [str(x) for x in entry.get("intents") or []]:
            lines.append(f"   intent: {', '.join(intents)}")
        for context in (entry.get("contexts") or [])[:2]:
            if context:
                lines.append(f"   > {cut(context, CONTEXT_CHARS)}")
        out += lines
    return out


async def citation_graph(args: dict[str, Any], ctx: ToolContext, limit: int) -> str:
    ref = paper_ref(_required(args, "arxiv_id", "citation_graph"))
    direction = str(args.get("direction") or "both").strip().lower()
    if direction not in DIRECTIONS:
        raise HubError(f"`direction` must be one of {', '.join(DIRECTIONS)}.", kind="bad_request")
    s2 = client_for(ctx)
    params = {"fields": _EDGE_FIELDS, "limit": limit}
    wanted = [d for d in ("references", "citations") if direction in (d, "both")]
    results = await asyncio.gather(
        *(
            s2.get(f"/graph/v1/paper/{quoted(ref)}/{d}", params, what=f"the {d} of {ref}", ctx=ctx)
            for d in wanted
        ),
        return_exceptions=True,
    )
    out = [f"# Citation graph of {ref}"]
    failures = 0
    for name, result in zip(wanted, results, strict=True):
        if isinstance(result, HubError):
            failures += 1
            out.append(f"## {name.capitalize()}: unavailable — {result.message}")
            continue
        if isinstance(result, BaseException):
            raise result
        entries = (result or {}).get("data") or []
        key = "citedPaper" if name == "references" else "citingPaper"
        out.append(f"## {name.capitalize()} ({len(entries[:limit])} shown)")
        out += _edge_lines(entries, key, limit) or [f"No {name} indexed."]
    if failures == len(wanted):
        first = next(r for r in results if isinstance(r, HubError))
        raise first
    out.append("Next: paper_details / read_paper with an arxiv_id above to follow a lead.")
    return "\n".join(out)


async def snippet_search(args: dict[str, Any], ctx: ToolContext, limit: int) -> str:
    query = _required(args, "query", "snippet_search")
    params = {"query": query, "limit": limit, **_filters(args)}
    data = await client_for(ctx).get(
        "/graph/v1/snippet/search", params, what=f"snippets matching {query!r}", ctx=ctx
    )
    items = (data or {}).get("data") or []
    if not items:
        return f"No passages match {query!r}."
    out = [f"Passages matching {query!r} ({min(limit, len(items))} shown):"]
    for i, item in enumerate(items[:limit], 1):
        paper = item.get("paper") or {}
        snippet = item.get("snippet") or {}
        out += _paper_line(i, paper)
        if snippet.get("section"):
            out.append(f"   section: {cut(snippet['section'], 80)}")
        if snippet.get("text"):
            out.append(f"   > {cut(snippet['text'], SNIPPET_CHARS)}")
    out.append("Next: search / paper_details for a paper's arxiv_id, then read_paper.")
    return "\n".join(out)


def _ids(value: Any, name: str) -> list[str]:
    raw = value if isinstance(value, list) else str(value or "").split(",")
    refs = [paper_ref(v) for v in (str(x).strip() for x in raw) if v]
    if len(refs) > 100:
        raise HubError(f"`{name}` takes at most 100 ids.", kind="bad_request")
    return refs


async def recommend(args: dict[str, Any], ctx: ToolContext, limit: int) -> str:
    s2 = client_for(ctx)
    positive = _ids(args.get("positive_ids"), "positive_ids")
    if positive and args.get("arxiv_id"):  # both given: the paper is one more positive example
        positive.insert(0, paper_ref(args["arxiv_id"]))
    params = {"fields": _LIST_FIELDS, "limit": limit}
    if args.get("arxiv_id") and not positive:
        ref = paper_ref(args["arxiv_id"])
        data = await s2.get(
            f"/recommendations/v1/papers/forpaper/{quoted(ref)}",
            {**params, "from": "recent"},
            what=f"recommendations for {ref}",
            ctx=ctx,
        )
        title = f"Papers like {ref}"
    elif positive:
        negative = _ids(args.get("negative_ids"), "negative_ids")
        body = {"positivePaperIds": positive, "negativePaperIds": negative}
        data = await s2.post(
            "/recommendations/v1/papers/", params, body, what="recommendations", ctx=ctx
        )
        title = f"Papers like {', '.join(positive)}" + (
            f" and unlike {', '.join(negative)}" if negative else ""
        )
    else:
        raise HubError("recommend needs `arxiv_id` or `positive_ids`.", kind="bad_request")
    return _paper_list(title, (data or {}).get("recommendedPapers") or [], limit)


async def filtered_search(args: dict[str, Any], ctx: ToolContext, limit: int) -> str:
    query = _required(args, "query", "search")
    params: dict[str, Any] = {"query": query, "fields": _LIST_FIELDS, **_filters(args)}
    sort_by = str(args.get("sort_by") or "relevance").strip()
    if sort_by not in SORT_BY:
        raise HubError(f"`sort_by` must be one of {', '.join(SORT_BY)}.", kind="bad_request")
    if sort_by != "relevance":
        params["sort"] = f"{sort_by}:desc"
    data = await client_for(ctx).get(
        "/graph/v1/paper/search/bulk", params, what=f"papers matching {query!r}", ctx=ctx
    )
    papers = (data or {}).get("data") or []
    total = (data or {}).get("total")
    title = f"Papers matching {query!r} (Semantic Scholar, filtered; {total} in total)"
    return _paper_list(title, papers, limit)


def _required(args: dict[str, Any], name: str, op: str) -> str:
    value = " ".join(str(args.get(name) or "").split())
    if not value:
        raise HubError(f"{op} needs `{name}`.", kind="bad_request")
    if carries_secret(value):
        raise HubError(
            f"`{name}` contains what looks like a token or key; it was not sent to Semantic "
            "Scholar. Never put credentials in a search.",
            kind="bad_request",
        )
    return value


HANDLERS = {
    "citation_graph": citation_graph,
    "snippet_search": snippet_search,
    "recommend": recommend,
}
