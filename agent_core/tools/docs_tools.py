"""``explore_hf_docs`` and ``fetch_hf_docs``: search and read Hugging Face documentation.

Differences from upstream, and why:

* **Token scope.** The HF token is attached only to requests whose scheme+host+port equal the
  Hub endpoint's (``HF_ENDPOINT``, default ``https://huggingface.co``), including after
  redirects. ``fetch_hf_docs`` *refuses* URLs outside the Hub endpoint and the configured docs
  base (``tools.docs_base_url``): it is a docs reader, not a general fetcher a model could aim at
  internal addresses. Other sites are for ``web_search`` / ``github_read_file``.
* **Lighter index.** Upstream scraped the sidebar, downloaded every page and built a Whoosh
  index. We parse the section page's nav links, fetch the pages' Markdown lazily (only when a
  query needs content; at most ``DOCS_MAX_PAGES`` pages, ``DOCS_CONCURRENCY`` at a time) and
  rank by plain term matching (title > URL > body, with a bonus for covering every term).
* **Cache.** Process-wide but keyed by (Hub endpoint, docs base, section) and held in
  ``Services.extras`` — never a module global — with a TTL so docs updates show up.
* **Bounded output.** ``fetch_hf_docs`` returns ``PAGE_CHARS`` per call and says which
  ``offset`` to pass to continue.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from .base import Services, ToolContext, ToolSpec
from .http_util import get_bounded, hf_token, http_client, hub_endpoint, origin, same_origin

DOC_SECTIONS = (
    "hub", "transformers", "diffusers", "datasets", "gradio", "trackio", "smolagents",
    "huggingface_hub", "huggingface.js", "transformers.js", "inference-providers",
    "inference-endpoints", "peft", "accelerate", "optimum", "tokenizers", "courses", "evaluate",
    "tasks", "dataset-viewer", "trl", "simulate", "sagemaker", "timm", "safetensors", "tgi",
    "setfit", "lerobot", "autotrain", "tei", "bitsandbytes", "sentence_transformers", "chat-ui",
    "leaderboards", "lighteval", "argilla", "distilabel", "microsoft-azure", "kernels",
    "google-cloud",
)  # fmt: skip

PAGE_CHARS = 20_000
DEFAULT_RESULTS = 20
MAX_RESULTS = 50
DOCS_MAX_PAGES = 200
DOCS_CONCURRENCY = 8
PAGE_MAX_BYTES = 2_000_000
CACHE_TTL_S = 3600.0
GLIMPSE_CHARS = 200
_CACHE_KEY = "docs_cache"
_STOPWORDS = frozenset(
    "a an and are as at be by can do for from how i in is it of on or the this to use using what "
    "when where which with you your".split()
)


# --------------------------------------------------------------------------- cache


@dataclass
class DocPage:
    title: str
    url: str
    section: str


@dataclass
class SectionIndex:
    pages: list[DocPage]
    built_at: float = field(default_factory=time.monotonic)


@dataclass
class _Entry:
    value: Any
    at: float


class DocsCache:
    """Section indexes and page bodies for one process, keyed so tenants cannot collide.

    Keys include the Hub endpoint and docs base, so a test fake and the real Hub (or two
    endpoints) never share entries. Docs are public content, so sharing across sessions is safe.
    """

    def __init__(self, ttl_s: float = CACHE_TTL_S):
        self.ttl_s = ttl_s
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}

    def get(self, key: tuple[str, ...]) -> Any | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry.at > self.ttl_s:
            return None
        return entry.value

    def put(self, key: tuple[str, ...], value: Any) -> None:
        self._entries[key] = _Entry(value, time.monotonic())

    def lock(self, key: tuple[str, ...]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def clear(self) -> None:
        self._entries.clear()


def docs_cache(services: Services) -> DocsCache:
    cache = services.extras.get(_CACHE_KEY)
    if not isinstance(cache, DocsCache):
        cache = DocsCache()
        services.extras[_CACHE_KEY] = cache
    return cache


# --------------------------------------------------------------------------- URLs and auth


def docs_base(ctx: ToolContext) -> str:
    configured = ctx.services.config.tools.docs_base_url if ctx.services.config else None
    return (configured or f"{hub_endpoint()}/docs").rstrip("/")


async def _get(client: httpx.AsyncClient, url: str, max_bytes: int = PAGE_MAX_BYTES):
    token = hf_token()
    creds = {"Authorization": f"Bearer {token}"} if token else None
    return await get_bounded(
        client,
        url,
        headers={"Accept": "text/markdown, text/html;q=0.9, */*;q=0.5"},
        credential_headers=creds,
        credential_origin=hub_endpoint(),
        max_bytes=max_bytes,
    )


def _strip_fragment(url: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, p.path.rstrip("/") or "/", "", ""))


# --------------------------------------------------------------------------- nav parsing


class _NavParser(HTMLParser):
    """Collects ``<a href>`` links, noting whether each sits inside a ``<nav>`` and the last
    heading seen before it (the sidebar's section title)."""

    _HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6", "summary"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, bool, str]] = []  # href, text, in_nav, section
        self._nav_depth = 0
        self._href: str | None = None
        self._text: list[str] = []
        self._heading: list[str] | None = None
        self.section = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "nav":
            self._nav_depth += 1
        elif tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []
        elif tag in self._HEADINGS:
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._nav_depth:
            self._nav_depth -= 1
        elif tag == "a" and self._href is not None:
            text = " ".join("".join(self._text).split())
            self.links.append((self._href, text, self._nav_depth > 0, self.section))
            self._href = None
        elif tag in self._HEADINGS and self._heading is not None:
            title = " ".join("".join(self._heading).split())
            if title:
                self.section = title
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        if self._heading is not None:
            self._heading.append(data)


_VERSIONED = re.compile(r"/(?:v\d[^/]*|main|master)(?:/|$)")


def parse_nav(html: str, page_url: str, section_slug: str) -> list[DocPage]:
    """Doc pages of one section from its HTML: nav links first, all links as a fallback."""
    parser = _NavParser()
    parser.feed(html)
    prefix_path = urlsplit(page_url).path.rstrip("/")
    page_origin = origin(page_url)

    def keep(nav_only: bool) -> list[DocPage]:
        pages: dict[str, DocPage] = {}
        for href, text, in_nav, heading in parser.links:
            if nav_only and not in_nav:
                continue
            absolute = _strip_fragment(urljoin(page_url, href))
            if origin(absolute) != page_origin:
                continue
            path = urlsplit(absolute).path
            if not (path == prefix_path or path.startswith(prefix_path + "/")):
                continue
            rest = path[len(prefix_path) :]
            if _VERSIONED.search(rest) or absolute in pages:
                continue
            segs = [s for s in rest.split("/") if s]
            default_section = segs[0].replace("_", " ") if len(segs) > 1 else section_slug
            title = text or (segs[-1].replace("_", " ") if segs else section_slug)
            pages[absolute] = DocPage(title=title, url=absolute, section=heading or default_section)
        return list(pages.values())

    return keep(nav_only=True) or keep(nav_only=False)


# --------------------------------------------------------------------------- markdown helpers


def md_url(url: str) -> str:
    p = urlsplit(url)
    path = p.path.rstrip("/")
    if not path.endswith(".md"):
        path += ".md"
    return urlunsplit((p.scheme, p.netloc, path, p.query, ""))


def html_to_text(html: str) -> str:
    """A crude fallback when a page has no Markdown twin: drop scripts/styles and tags."""
    html = re.sub(r"(?is)<(script|style|nav|header|footer)\b.*?</\1>", " ", html)
    text = re.sub(r"(?s)<[^>]+>", " ", html)
    import html as _html

    text = _html.unescape(text)
    return re.sub(r"[ \t]+\n", "\n", re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]{2,}", " ", text)))


async def _page_text(ctx: ToolContext, client: httpx.AsyncClient, url: str) -> tuple[str, str]:
    """``(text, error)`` for one doc page (``.md`` first, the HTML page as fallback), cached."""
    cache = docs_cache(ctx.services)
    key = ("page", hub_endpoint(), url)
    cached = cache.get(key)
    if cached is not None:
        return cached, ""
    resp = await _get(client, md_url(url))
    if resp.status_code == 200:
        text = resp.text
    else:
        alt = await _get(client, url)
        if alt.status_code != 200:
            return "", f"HTTP {resp.status_code} for {md_url(url)}"
        text = html_to_text(alt.text) if "html" in alt.headers.get("content-type", "") else alt.text
    cache.put(key, text)
    return text, ""


# --------------------------------------------------------------------------- search


def terms_of(query: str) -> list[str]:
    words = re.findall(r"[a-z0-9][a-z0-9_.+-]*", query.lower())
    out = [w.strip(".") for w in words if w not in _STOPWORDS and len(w.strip(".")) > 1]
    return list(dict.fromkeys(out))


def score_page(page: DocPage, body: str, terms: list[str], phrase: str) -> float:
    """Title hits weigh 3, URL hits 2, body hits 1+log(tf); scaled by the share of terms found."""
    if not terms:
        return 0.0
    title, url, text = page.title.lower(), page.url.lower(), body.lower()
    total = 0.0
    matched = 0
    for term in terms:
        s = 0.0
        if term in title:
            s += 3.0
        if term in url:
            s += 2.0
        tf = text.count(term)
        if tf:
            s += 1.0 + math.log(tf)
        if s:
            matched += 1
        total += s
    if phrase and len(terms) > 1 and phrase in text:
        total += 2.0
    return total * (matched / len(terms))


def glimpse(body: str, terms: list[str]) -> str:
    low = body.lower()
    positions = [p for p in (low.find(t) for t in terms) if p >= 0]
    start = max(0, min(positions) - 60) if positions else 0
    snippet = " ".join(body[start : start + GLIMPSE_CHARS].split())
    return snippet + ("…" if len(body) > start + GLIMPSE_CHARS else "")


async def section_index(ctx: ToolContext, client: httpx.AsyncClient, section: str) -> SectionIndex:
    cache = docs_cache(ctx.services)
    base = docs_base(ctx)
    key = ("nav", hub_endpoint(), base, section)
    async with cache.lock(key):
        cached = cache.get(key)
        if cached is not None:
            return cached
        url = f"{base}/{section}"
        resp = await _get(client, url)
        if resp.status_code != 200:
            raise LookupError(f"HTTP {resp.status_code} fetching {url}")
        pages = parse_nav(resp.text, url, section)[:DOCS_MAX_PAGES]
        index = SectionIndex(pages=pages)
        cache.put(key, index)
        return index


EXPLORE_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "endpoint": {
            "type": "string",
            "enum": list(DOC_SECTIONS),
            "description": "Documentation section, e.g. transformers, trl, datasets, peft, hub.",
        },
        "query": {
            "type": "string",
            "description": "What to look for. Omit to list the section's pages.",
        },
        "max_results": {
            "type": "integer",
            "description": f"Results to show (default {DEFAULT_RESULTS}, max {MAX_RESULTS}).",
        },
    },
    "required": ["endpoint"],
}


async def explore_hf_docs_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    section = str(args.get("endpoint") or "").strip()
    if section not in DOC_SECTIONS:
        return f"ERROR: unknown docs endpoint '{section}'. Valid: {', '.join(DOC_SECTIONS)}", False
    try:
        limit = int(args.get("max_results") or DEFAULT_RESULTS)
    except (TypeError, ValueError):
        limit = DEFAULT_RESULTS
    limit = max(1, min(limit, MAX_RESULTS))
    query = str(args.get("query") or "").strip()
    async with http_client(ctx) as client:
        try:
            index = await section_index(ctx, client, section)
        except (LookupError, httpx.HTTPError) as exc:
            return f"ERROR: could not load the {section} docs index: {exc}", False
        if not index.pages:
            return f"ERROR: no pages found in the {section} docs navigation", False
        terms = terms_of(query)
        if not terms:
            lines = [f"{section} docs — {len(index.pages)} pages (first {limit}):"]
            for i, page in enumerate(index.pages[:limit], 1):
                lines.append(f"{i}. {page.title} — {page.url} [{page.section}]")
            lines.append("\nPass a query to search, or fetch_hf_docs(url) to read a page.")
            return "\n".join(lines), True
        sem = asyncio.Semaphore(DOCS_CONCURRENCY)

        async def body(page: DocPage) -> str:
            async with sem:
                try:
                    text, _ = await _page_text(ctx, client, page.url)
                except httpx.HTTPError:
                    text = ""
                return text

        bodies = await asyncio.gather(*(body(p) for p in index.pages))
    phrase = " ".join(query.lower().split())
    ranked = sorted(
        ((score_page(p, b, terms, phrase), p, b) for p, b in zip(index.pages, bodies, strict=True)),
        key=lambda item: item[0],
        reverse=True,
    )
    hits = [item for item in ranked if item[0] > 0][:limit]
    if not hits:
        return (
            f"No {section} docs pages match '{query}' ({len(index.pages)} pages searched). "
            "Try other words, another endpoint, or omit the query to list pages."
        ), True
    lines = [f"{len(hits)} {section} docs pages for '{query}' ({len(index.pages)} searched):"]
    for i, (score, page, text) in enumerate(hits, 1):
        lines.append(f"\n{i}. {page.title} (score {score:.1f})")
        lines.append(f"   URL: {page.url}")
        lines.append(f"   Section: {page.section}")
        if text:
            lines.append(f"   > {glimpse(text, terms)}")
    lines.append("\nRead a page with fetch_hf_docs(url).")
    return "\n".join(lines), True


# --------------------------------------------------------------------------- fetch


FETCH_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "description": (
                "Docs page URL on the Hub (e.g. https://huggingface.co/docs/trl/sft_trainer) "
                "or a path like 'trl/sft_trainer'."
            ),
        },
        "offset": {
            "type": "integer",
            "description": f"Character offset to continue from (pages are {PAGE_CHARS} chars).",
        },
    },
    "required": ["url"],
}


def normalize_docs_url(raw: str, base: str) -> str:
    """Absolute URL for a model-supplied URL or docs path (``trl/sft_trainer``, ``/docs/trl``)."""
    raw = raw.strip()
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw):
        return raw
    if raw.startswith("/"):
        return urljoin(base + "/", raw)
    return f"{base}/{raw.removeprefix('docs/')}"


async def fetch_hf_docs_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    raw = str(args.get("url") or "").strip()
    if not raw:
        return "ERROR: 'url' is required", False
    try:
        offset = max(0, int(args.get("offset") or 0))
    except (TypeError, ValueError):
        return "ERROR: offset must be an integer", False
    base = docs_base(ctx)
    url = _strip_fragment(normalize_docs_url(raw, base))
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        return f"ERROR: only http(s) documentation URLs can be fetched, not '{raw}'", False
    if not (same_origin(url, hub_endpoint()) or same_origin(url, base)):
        return (
            f"ERROR: fetch_hf_docs only reads Hugging Face documentation on {hub_endpoint()} "
            f"(got {urlsplit(url).netloc}). Use web_search or github_read_file for other sites."
        ), False
    async with http_client(ctx) as client:
        try:
            text, error = await _page_text(ctx, client, url.removesuffix(".md"))
        except httpx.HTTPError as exc:
            return f"ERROR: could not fetch {url}: {type(exc).__name__}: {exc}", False
    if error:
        return f"ERROR: {error}. Check the URL with explore_hf_docs.", False
    total = len(text)
    if offset >= total and total:
        return f"ERROR: offset {offset} is past the end of the page ({total} chars)", False
    chunk = text[offset : offset + PAGE_CHARS]
    if offset + len(chunk) < total:  # end on a line boundary when one is near
        cut = chunk.rfind("\n")
        if cut > PAGE_CHARS * 0.8:
            chunk = chunk[: cut + 1]
    end = offset + len(chunk)
    header = f"Source: {md_url(url)}"
    if offset or end < total:
        header += f" (chars {offset}-{end} of {total})"
    out = f"{header}\n\n{chunk}"
    if end < total:
        out += (
            f"\n\n[Page continues: {total - end} more chars. "
            f"Call fetch_hf_docs with url='{url}' and offset={end}.]"
        )
    return out, True


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="explore_hf_docs",
            description=(
                "Search or list Hugging Face documentation pages of one library/section "
                "(transformers, trl, datasets, peft, hub, …). Returns titles, URLs and glimpses; "
                "read a page with fetch_hf_docs."
            ),
            parameters=EXPLORE_PARAMETERS,
            handler=explore_hf_docs_handler,
            read_only=True,
            output_cap=20_000,
            timeout_s=180.0,
            key_argument="endpoint",
        ),
        ToolSpec(
            name="fetch_hf_docs",
            description=(
                "Read one Hugging Face documentation page as Markdown, "
                f"{PAGE_CHARS} characters at a time (use offset to continue). Only "
                "Hugging Face Hub documentation URLs are accepted."
            ),
            parameters=FETCH_PARAMETERS,
            handler=fetch_hf_docs_handler,
            read_only=True,
            output_cap=PAGE_CHARS + 2_000,
            timeout_s=90.0,
            key_argument="url",
        ),
    ]
