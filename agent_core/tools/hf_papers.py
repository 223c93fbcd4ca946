"""``hf_papers``: find and read ML papers through the Hub's papers API (upstream name).

Operations kept from upstream: ``trending`` (daily papers), ``search``, ``paper_details``,
``read_paper`` (arXiv HTML parsed into sections, falling back to the Hub abstract),
``find_models`` / ``find_datasets`` / ``find_collections`` / ``find_all_resources`` (Hub repos
and collections citing the paper), and upstream's Semantic Scholar operations ``citation_graph``,
``snippet_search``, ``recommend`` and the filtered ``search`` (in :mod:`papers_graph`; the key is
optional).

Every text is cut (summaries 300, abstract 1,500, section previews 280, a section 8,000
characters; ≤10 resources per kind), so a paper never floods the context. Hub calls go through
``HfApi`` (our endpoint and token); the arXiv page is fetched without credentials from
``ARXIV_HTML_URL``.
"""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from typing import Any

from ..hub import HubError
from .base import Services, ToolContext, ToolSpec
from .hub_common import cut, fmt_date, human_count, int_arg, require_hub
from .papers_graph import HANDLERS as GRAPH_HANDLERS
from .papers_graph import PARAMETERS as GRAPH_PARAMETERS
from .papers_graph import filtered_search, wants_filtered_search

OPERATIONS = [
    "trending",
    "search",
    "paper_details",
    "read_paper",
    "citation_graph",
    "snippet_search",
    "recommend",
    "find_models",
    "find_datasets",
    "find_collections",
    "find_all_resources",
]
DEFAULT_LIMIT = 10
MAX_LIMIT = 50
SUMMARY_CHARS = 300
ABSTRACT_CHARS = 1_500
PREVIEW_CHARS = 280
SECTION_CHARS = 8_000
MAX_AUTHORS = 10
MAX_RESOURCES = 10
OUTPUT_CAP = 12_000
_ARXIV_ID = re.compile(r"(\d{4}\.\d{4,5})(v\d+)?")

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "operation": {"type": "string", "enum": OPERATIONS},
        "query": {
            "type": "string",
            "description": "search / snippet_search: keywords (Semantic Scholar accepts "
            "'\"exact phrase\" a | b').",
        },
        "arxiv_id": {
            "type": "string",
            "description": "Paper id, e.g. '2305.18290' (an arxiv/hf URL works). recommend: "
            "papers like this one.",
        },
        "section": {
            "type": "string",
            "description": "read_paper: section number ('3', '3.2') or title words.",
        },
        "date": {"type": "string", "description": "trending: YYYY-MM-DD (default: latest)."},
        **GRAPH_PARAMETERS,
        "sort": {
            "type": "string",
            "enum": ["downloads", "likes", "trending"],
            "description": "find_models/find_datasets order.",
        },
        "limit": {
            "type": "integer",
            "description": f"Results (default {DEFAULT_LIMIT}, max {MAX_LIMIT}).",
        },
    },
    "required": ["operation"],
}


def arxiv_id(value: Any) -> str:
    match = _ARXIV_ID.search(str(value or ""))
    if not match:
        raise HubError("this operation needs `arxiv_id` (e.g. '2305.18290').", kind="bad_request")
    return match.group(1)


def _authors(paper: Any) -> str:
    names = [getattr(a, "name", None) or str(a) for a in (getattr(paper, "authors", None) or [])]
    more = f" +{len(names) - MAX_AUTHORS}" if len(names) > MAX_AUTHORS else ""
    return ", ".join(names[:MAX_AUTHORS]) + more


def _paper_line(paper: Any) -> str:
    bits = [f"**{paper.id}** {cut(paper.title, 140)}"]
    meta = []
    if getattr(paper, "upvotes", None) is not None:
        meta.append(f"{paper.upvotes} upvotes")
    if getattr(paper, "published_at", None):
        meta.append(f"published {fmt_date(paper.published_at)}")
    if getattr(paper, "github_repo", None):
        meta.append(f"code: {paper.github_repo}")
    if meta:
        bits.append(" · ".join(meta))
    summary = getattr(paper, "ai_summary", None) or getattr(paper, "summary", None)
    if summary:
        bits.append(cut(summary, SUMMARY_CHARS))
    return "\n  ".join(bits)


class _ArxivParser(HTMLParser):
    """Pull title, abstract and (sub)sections out of arXiv's LaTeXML HTML (``ltx_*`` classes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.abstract: list[str] = []
        self.sections: list[dict[str, Any]] = []  # {number, title, level, paras}
        self._capture: str | None = None  # "title" | "heading" | "para"
        self._buf: list[str] = []
        self._heading_level = 0
        self._in_abstract = False
        self._depth_abstract = 0
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._depth += 1
        cls = dict(attrs).get("class") or ""
        if "ltx_abstract" in cls:
            self._in_abstract, self._depth_abstract = True, self._depth
        if tag == "h1" and "ltx_title" in cls:
            self._capture, self._buf = "title", []
        elif tag in ("h2", "h3", "h4") and "ltx_title" in cls and not self._in_abstract:
            self._capture, self._buf = "heading", []
            self._heading_level = int(tag[1])
        elif tag == "p" and ("ltx_p" in cls or not cls) and self._capture is None:
            self._capture, self._buf = "para", []

    def handle_endtag(self, tag: str) -> None:
        if self._capture == "title" and tag == "h1":
            self.title = " ".join("".join(self._buf).split())
            self._capture = None
        elif self._capture == "heading" and tag in ("h2", "h3", "h4"):
            text = " ".join("".join(self._buf).split())
            m = re.match(r"^(\d+(?:\.\d+)*)\s+(.*)$", text)
            number, title = (m.group(1), m.group(2)) if m else ("", text)
            self.sections.append(
                {"number": number, "title": title, "level": self._heading_level, "paras": []}
            )
            self._capture = None
        elif self._capture == "para" and tag == "p":
            text = " ".join("".join(self._buf).split())
            if text:
                if self._in_abstract:
                    self.abstract.append(text)
                elif self.sections:
                    self.sections[-1]["paras"].append(text)
            self._capture = None
        if self._in_abstract and self._depth == self._depth_abstract:
            self._in_abstract = False
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._capture:
            self._buf.append(data)


def parse_arxiv_html(html: str) -> _ArxivParser:
    parser = _ArxivParser()
    parser.feed(html)
    parser.close()
    return parser


def _section_text(sections: list[dict[str, Any]], index: int) -> str:
    """A section with its subsections (everything until the next section of the same level)."""
    head = sections[index]
    parts = [f"## {head['number']} {head['title']}".strip(), *head["paras"]]
    for sub in sections[index + 1 :]:
        if sub["level"] <= head["level"]:
            break
        parts += [f"### {sub['number']} {sub['title']}".strip(), *sub["paras"]]
    return "\n\n".join(parts)


def _find_section(sections: list[dict[str, Any]], wanted: str) -> int | None:
    w = wanted.strip().lower().rstrip(".")
    for i, s in enumerate(sections):
        if s["number"] and s["number"] == w:
            return i
    for i, s in enumerate(sections):
        if w and w in s["title"].lower():
            return i
    return None


async def _read_paper(args: dict[str, Any], ctx: ToolContext) -> str:
    hub = require_hub(ctx)
    pid = arxiv_id(args.get("arxiv_id"))
    status, html = await hub.get_text(f"{hub.arxiv_html_url}/{pid}", what=f"arXiv HTML of {pid}")
    parsed = parse_arxiv_html(html) if status == 200 else None
    if parsed is None or not parsed.sections:
        paper = await hub.call("paper_info", pid, what=f"paper {pid}")
        return (
            f"# {paper.title} ({pid})\nAuthors: {_authors(paper)}\n\n"
            f"No HTML full text is available for this paper (arXiv HTML status {status}); abstract:\n\n"
            f"{cut(paper.summary, ABSTRACT_CHARS)}"
        )
    wanted = str(args.get("section") or "").strip()
    if wanted:
        idx = _find_section(parsed.sections, wanted)
        if idx is None:
            names = "; ".join(
                f"{s['number']} {s['title']}".strip() for s in parsed.sections if s["level"] == 2
            )
            return f"No section {wanted!r} in {pid}. Sections: {names}"
        text = _section_text(parsed.sections, idx)
        if len(text) > SECTION_CHARS:
            text = text[:SECTION_CHARS] + f"\n…[section cut at {SECTION_CHARS} characters]"
        return f"# {parsed.title} ({pid})\n\n{text}"
    lines = [
        f"# {parsed.title} ({pid})",
        "",
        "Abstract: " + cut(" ".join(parsed.abstract), ABSTRACT_CHARS),
        "",
        "Sections (read one with section='<number>'):",
    ]
    for s in parsed.sections:
        indent = "  " * max(0, s["level"] - 2)
        preview = cut(" ".join(s["paras"]), PREVIEW_CHARS)
        lines.append(
            f"{indent}- {s['number']} {s['title']}".rstrip() + (f": {preview}" if preview else "")
        )
    return "\n".join(lines)


async def _repos(kind: str, pid: str, ctx: ToolContext, limit: int, sort: str) -> list[str]:
    hub = require_hub(ctx)
    sort_key = {"downloads": "downloads", "likes": "likes", "trending": "trending_score"}.get(
        sort, "downloads"
    )
    method = "list_models" if kind == "models" else "list_datasets"
    items = await hub.call(
        method, filter=f"arxiv:{pid}", sort=sort_key, limit=limit, what=f"{kind} citing {pid}"
    )
    if not items:
        return [f"No {kind} on the Hub cite arXiv:{pid}."]
    out = [f"{kind.capitalize()} citing arXiv:{pid}:"]
    for r in items[:limit]:
        out.append(
            f"- {r.id} — {human_count(getattr(r, 'downloads', None))} downloads, {human_count(getattr(r, 'likes', None))} likes"
        )
    return out


async def _collections(pid: str, ctx: ToolContext, limit: int) -> list[str]:
    hub = require_hub(ctx)
    items = await hub.call(
        "list_collections", item=f"papers/{pid}", limit=limit, what=f"collections with {pid}"
    )
    if not items:
        return [f"No collections contain arXiv:{pid}."]
    out = [f"Collections containing arXiv:{pid}:"]
    for c in items[:limit]:
        out.append(f"- {cut(c.title, 80)} ({c.slug}) — {getattr(c, 'upvotes', 0)} upvotes")
    return out


async def _dispatch(op: str, args: dict[str, Any], ctx: ToolContext) -> str:
    hub = require_hub(ctx)
    limit = int_arg(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    if op == "trending":
        papers = await hub.call(
            "list_daily_papers", date=args.get("date") or None, limit=limit, what="daily papers"
        )
        if not papers:
            return "No daily papers for that date."
        return "Trending papers:\n" + "\n".join(f"- {_paper_line(p)}" for p in papers[:limit])
    if op == "search":
        query = str(args.get("query") or "").strip()
        if not query:
            raise HubError("search needs `query`.", kind="bad_request")
        note = ""
        if wants_filtered_search(args):
            try:
                return await filtered_search(args, ctx, limit)
            except HubError as exc:
                if exc.kind == "bad_request":
                    raise
                note = f"(Filters not applied — {exc.message} Unfiltered Hub results:)\n"
        papers = await hub.call("list_papers", query=query, limit=limit, what="paper search")
        if not papers:
            return f"{note}No papers match {query!r}."
        return f"{note}Papers matching {query!r}:\n" + "\n".join(
            f"- {_paper_line(p)}" for p in papers[:limit]
        )
    if op == "paper_details":
        pid = arxiv_id(args.get("arxiv_id"))
        p = await hub.call("paper_info", pid, what=f"paper {pid}")
        lines = [
            f"# {p.title} ({pid})",
            f"Authors: {_authors(p)}",
            f"Published: {fmt_date(p.published_at)} · {p.upvotes or 0} upvotes",
        ]
        for label, value in (("Code", p.github_repo), ("Project page", p.project_page)):
            if value:
                lines.append(f"{label}: {value}")
        if getattr(p, "ai_keywords", None):
            lines.append("Keywords: " + ", ".join(p.ai_keywords[:5]))
        if getattr(p, "ai_summary", None):
            lines.append(f"TL;DR: {cut(p.ai_summary, SUMMARY_CHARS)}")
        lines += [
            "",
            "Abstract: " + cut(p.summary, ABSTRACT_CHARS),
            f"Hub page: {hub.endpoint}/papers/{pid}",
        ]
        return "\n".join(lines)
    if op == "read_paper":
        return await _read_paper(args, ctx)
    if op in GRAPH_HANDLERS:
        return await GRAPH_HANDLERS[op](args, ctx, limit)
    if op in ("find_models", "find_datasets"):
        pid = arxiv_id(args.get("arxiv_id"))
        return "\n".join(
            await _repos(
                op.split("_")[1],
                pid,
                ctx,
                min(limit, MAX_RESOURCES),
                str(args.get("sort") or "downloads"),
            )
        )
    if op == "find_collections":
        pid = arxiv_id(args.get("arxiv_id"))
        return "\n".join(await _collections(pid, ctx, min(limit, MAX_RESOURCES)))
    if op == "find_all_resources":
        pid = arxiv_id(args.get("arxiv_id"))
        lim = min(limit, MAX_RESOURCES)
        sort = str(args.get("sort") or "downloads")
        parts = await asyncio.gather(
            _repos("models", pid, ctx, lim, sort),
            _repos("datasets", pid, ctx, lim, sort),
            _collections(pid, ctx, lim),
            return_exceptions=True,
        )
        out: list[str] = []
        for part in parts:
            if isinstance(part, HubError):
                out.append(f"(unavailable: {part.message})")
            elif isinstance(part, BaseException):
                raise part
            else:
                out += [*part, ""]
        return "\n".join(out).strip()
    raise HubError(f"Unknown operation '{op}'. Valid: {', '.join(OPERATIONS)}.", kind="bad_request")


async def hf_papers_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    op = str(args.get("operation") or "").strip().lower()
    try:
        return await _dispatch(op, args, ctx), True
    except HubError as exc:
        return f"hf_papers {op}: {exc.message}", False


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="hf_papers",
            description=(
                "ML papers via the Hugging Face papers API, arXiv and Semantic Scholar: trending "
                "(daily papers), search (add date_from/date_to/categories/min_citations/sort_by "
                "to filter via Semantic Scholar), paper_details, read_paper (sections of the "
                "arXiv HTML; pass section='3' to read one), citation_graph (references and "
                "citations with influence flags, intents and contexts; direction), "
                "snippet_search (passages from full texts), recommend (papers like arxiv_id, or "
                "like positive_ids and unlike negative_ids), and Hub resources citing a paper "
                "(find_models, find_datasets, find_collections, find_all_resources). Flows: "
                "search → paper_details → citation_graph → read_paper; snippet_search → "
                "read_paper. Use it to ground training recipes in the literature."
            ),
            parameters=PARAMETERS,
            handler=hf_papers_handler,
            read_only=True,
            output_cap=OUTPUT_CAP,
            timeout_s=90.0,
            key_argument="operation",
        )
    ]
