"""The docs index behind ``explore_hf_docs`` / ``fetch_hf_docs``: which pages a section has and
what each page says, fetched from the Hub and cached.

Kept apart from the tool handlers because it is the part that talks to the network and holds
state; the handlers only shape arguments and output.

* **Token scope.** Every request goes through ``get_bounded`` with the Hub endpoint as the
  credential origin, so the HF token reaches ``HF_ENDPOINT`` and nothing else, redirects included.
* **Lighter index than upstream.** Upstream scraped the sidebar, downloaded every page and built a
  Whoosh index. We parse the section page's nav links (at most ``DOCS_MAX_PAGES``) and fetch a
  page's Markdown only when a query or a read needs it.
* **Cache.** Process-wide but keyed by (Hub endpoint, docs base, section) and held in
  ``Services.extras`` — never a module global — with a TTL so docs updates show up.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from .base import Services, ToolContext
from .http_util import get_bounded, hf_token, hub_endpoint, origin

DOCS_MAX_PAGES = 200
PAGE_MAX_BYTES = 2_000_000
CACHE_TTL_S = 3600.0
_CACHE_KEY = "docs_cache"


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


def strip_fragment(url: str) -> str:
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
            absolute = strip_fragment(urljoin(page_url, href))
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


async def page_text(ctx: ToolContext, client: httpx.AsyncClient, url: str) -> tuple[str, str]:
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


# --------------------------------------------------------------------------- section index


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
