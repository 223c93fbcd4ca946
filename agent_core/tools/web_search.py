"""``web_search``: a pluggable web search, on by default with a keyless provider.

``tools.web_search_provider`` picks the backend. ``auto`` (the default) takes Brave or Tavily
when their key is in the environment and DuckDuckGo's keyless HTML endpoint otherwise, so a
default install can search the web; ``none`` turns the tool off (it is then not in the
catalogue at all, so the model never calls a search that cannot work). Built in:

* ``duckduckgo`` — the HTML endpoint, no key (upstream's choice); redirect links decoded;
* ``brave`` — Brave Search API, key in ``BRAVE_API_KEY``;
* ``tavily`` — Tavily API, key in ``TAVILY_API_KEY``.

``tools.web_search_base_url`` overrides the endpoint (a proxy, or a loopback fake in tests);
upstream's ``CLAWD_WEB_SEARCH_BASE_URL`` is honoured for DuckDuckGo when the key is unset.
Another backend is one :func:`register_provider` call: a coroutine
``(client, base_url, query, limit) -> list[SearchResult]``. A named provider whose key is
missing is reported in the log at startup and the tool is not offered; :func:`probe` is what
``ml-intern-slack check`` runs to say whether the configured search actually answers.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from ..redact import register_secret
from .base import Services, ToolContext, ToolSpec
from .http_util import carries_secret, get_bounded, http_client

log = logging.getLogger(__name__)

MAX_RESULTS = 8
SNIPPET_CHARS = 300


@dataclass
class SearchResult:
    title: str
    url: str
    snippet: str = ""


SearchFn = Callable[[httpx.AsyncClient, str, str, int], Awaitable[list[SearchResult]]]


@dataclass
class Provider:
    name: str
    default_url: str
    search: SearchFn
    key_env: str | None = None


_PROVIDERS: dict[str, Provider] = {}


def register_provider(provider: Provider) -> None:
    """Make a backend selectable by name (built-ins register themselves below)."""
    _PROVIDERS[provider.name] = provider


class SearchError(Exception):
    pass


# --------------------------------------------------------------------------- duckduckgo


class _DDGParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.results: list[dict[str, str]] = []
        self.links: list[tuple[str, str]] = []
        self._mode: str | None = None
        self._href = ""
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "a":
            self._href = a.get("href") or ""
            if "result__a" in classes:
                self._mode = "title"
            elif "result__snippet" in classes:
                self._mode = "snippet"
            else:
                self._mode = "link"
            self._buf = []
        elif "result__snippet" in classes:
            self._mode = "snippet"
            self._buf = []

    def handle_endtag(self, tag: str) -> None:
        if self._mode is None:
            return
        if tag not in ("a", "div", "span", "td"):
            return
        text = " ".join("".join(self._buf).split())
        if self._mode == "title":
            self.results.append({"title": text, "url": self._href, "snippet": ""})
        elif self._mode == "snippet" and self.results:
            self.results[-1]["snippet"] = text
        elif self._mode == "link" and tag == "a":
            self.links.append((text, self._href))
        self._mode = None

    def handle_data(self, data: str) -> None:
        if self._mode:
            self._buf.append(data)


def decode_ddg_href(href: str, base: str) -> str:
    """DuckDuckGo wraps results as ``/l/?uddg=<target>``; return the real target URL."""
    absolute = urljoin(base, href)
    parts = urlsplit(absolute)
    if parts.path.startswith("/l/"):
        target = parse_qs(parts.query).get("uddg")
        if target:
            return target[0]
    return absolute


async def duckduckgo_search(
    client: httpx.AsyncClient, base_url: str, query: str, limit: int
) -> list[SearchResult]:
    resp = await get_bounded(
        client, base_url, params={"q": query}, headers={"User-Agent": "Mozilla/5.0"}, timeout=20
    )
    if resp.status_code == 202 or (resp.status_code == 200 and "anomaly-modal" in resp.text):
        # DuckDuckGo's way of rate-limiting the HTML endpoint: 202 with a challenge page.
        raise SearchError(
            "DuckDuckGo is rate-limiting automated searches (HTTP 202 challenge page); wait a "
            "few minutes, or set BRAVE_API_KEY or TAVILY_API_KEY for a keyed provider"
        )
    if resp.status_code != 200:
        raise SearchError(f"DuckDuckGo returned HTTP {resp.status_code}")
    parser = _DDGParser()
    parser.feed(resp.text)
    raw = parser.results or [{"title": t, "url": u, "snippet": ""} for t, u in parser.links]
    out = []
    for item in raw:
        url = decode_ddg_href(item["url"], resp.url)
        if (
            urlsplit(url).scheme in ("http", "https")
            and "duckduckgo.com" not in urlsplit(url).netloc
        ):
            out.append(SearchResult(item["title"] or url, url, item["snippet"]))
    return out


# --------------------------------------------------------------------------- brave / tavily


async def brave_search(
    client: httpx.AsyncClient, base_url: str, query: str, limit: int
) -> list[SearchResult]:
    key = os.environ.get("BRAVE_API_KEY", "")
    register_secret(key)
    resp = await get_bounded(
        client,
        base_url,
        params={"q": query, "count": min(20, limit * 2)},
        headers={"Accept": "application/json", "X-Subscription-Token": key},
        timeout=20,
    )
    if resp.status_code != 200:
        raise SearchError(f"Brave Search returned HTTP {resp.status_code}")
    items = (resp.json().get("web") or {}).get("results") or []
    return [
        SearchResult(i.get("title") or i.get("url", ""), i.get("url", ""), i.get("description", ""))
        for i in items
        if i.get("url")
    ]


async def tavily_search(
    client: httpx.AsyncClient, base_url: str, query: str, limit: int
) -> list[SearchResult]:
    key = os.environ.get("TAVILY_API_KEY", "")
    register_secret(key)
    resp = await client.post(
        base_url,
        json={"query": query, "max_results": min(20, limit * 2)},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )
    if resp.status_code != 200:
        raise SearchError(f"Tavily returned HTTP {resp.status_code}")
    items = resp.json().get("results") or []
    return [
        SearchResult(i.get("title") or i.get("url", ""), i.get("url", ""), i.get("content", ""))
        for i in items
        if i.get("url")
    ]


register_provider(Provider("duckduckgo", "https://html.duckduckgo.com/html/", duckduckgo_search))
register_provider(
    Provider(
        "brave", "https://api.search.brave.com/res/v1/web/search", brave_search, "BRAVE_API_KEY"
    )
)
register_provider(
    Provider("tavily", "https://api.tavily.com/search", tavily_search, "TAVILY_API_KEY")
)


# --------------------------------------------------------------------------- filtering


def _domain_match(host: str, domain: str) -> bool:
    domain = domain.lower().strip().lstrip(".")
    if "://" in domain:
        domain = urlsplit(domain).hostname or domain
    return host == domain or host.endswith("." + domain)


def filter_results(
    results: list[SearchResult], allowed: list[str], blocked: list[str], limit: int
) -> list[SearchResult]:
    out: list[SearchResult] = []
    seen: set[str] = set()
    for r in results:
        host = (urlsplit(r.url).hostname or "").lower()
        if allowed and not any(_domain_match(host, d) for d in allowed):
            continue
        if any(_domain_match(host, d) for d in blocked):
            continue
        key = r.url.rstrip("/")
        if key in seen:
            continue
        seen.add(key)
        out.append(r)
        if len(out) >= limit:
            break
    return out


# --------------------------------------------------------------------------- tool

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "Search query (at least 2 characters)."},
        "allowed_domains": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Only keep results from these domains (subdomains included).",
        },
        "blocked_domains": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Drop results from these domains.",
        },
    },
    "required": ["query"],
}


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(v) for v in value or [] if str(v).strip()]


def make_handler(provider: Provider, base_url: str):
    async def handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
        query = " ".join(str(args.get("query") or "").split())
        if len(query) < 2:
            return "ERROR: query must be at least 2 characters", False
        if carries_secret(query):
            return (
                "ERROR: the query contains what looks like a token or key; it was not sent. "
                "Never put credentials in a search."
            ), False
        allowed = _as_list(args.get("allowed_domains"))
        blocked = _as_list(args.get("blocked_domains"))
        started = time.monotonic()
        async with http_client(ctx) as client:
            try:
                raw = await provider.search(client, base_url, query, MAX_RESULTS)
            except (SearchError, httpx.HTTPError, ValueError) as exc:
                return f"ERROR: web search ({provider.name}) failed: {exc}", False
        results = filter_results(raw, allowed, blocked, MAX_RESULTS)
        took = time.monotonic() - started
        if not results:
            return f"No web results for '{query}' ({provider.name}, {took:.1f}s).", True
        lines = [f"Web results for '{query}' ({provider.name}, {took:.1f}s):"]
        for i, r in enumerate(results, 1):
            lines.append(f"{i}. [{r.title}]({r.url})")
            if r.snippet:
                snippet = r.snippet[:SNIPPET_CHARS] + (
                    "…" if len(r.snippet) > SNIPPET_CHARS else ""
                )
                lines.append(f"   {snippet}")
        lines.append("\nInclude a Sources section in the final answer.")
        return "\n".join(lines), True

    return handler


KEYED_PREFERENCE = ("brave", "tavily")
KEYLESS_DEFAULT = "duckduckgo"
BASE_URL_ENV = "CLAWD_WEB_SEARCH_BASE_URL"
PROBE_QUERY = "hugging face transformers"


@dataclass
class Choice:
    """The search backend this configuration resolves to, or why there is none."""

    provider: Provider | None
    base_url: str = ""
    reason: str = ""


def choose_provider(config: Any) -> Choice:
    name = config.tools.web_search_provider if config is not None else "auto"
    if not name or name == "none":
        return Choice(None, reason="web search is off (tools.web_search_provider: none)")
    if name == "auto":
        keyed = [n for n in KEYED_PREFERENCE if os.environ.get(_PROVIDERS[n].key_env or "")]
        name = keyed[0] if keyed else KEYLESS_DEFAULT
    provider = _PROVIDERS.get(name)
    if provider is None:
        return Choice(None, reason=f"unknown web search provider {name!r}")
    if provider.key_env and not os.environ.get(provider.key_env):
        return Choice(None, reason=f"web search provider {name} needs {provider.key_env}")
    base_url = (config.tools.web_search_base_url if config is not None else None) or ""
    if not base_url and name == KEYLESS_DEFAULT:
        base_url = os.environ.get(BASE_URL_ENV, "").strip()
    return Choice(provider, base_url or provider.default_url)


async def probe(config: Any, timeout: float = 10.0) -> str | None:
    """One real query through the configured search: ``None`` if it returned results, else
    a sentence saying what does not work (for ``ml-intern-slack check``)."""
    choice = choose_provider(config)
    if choice.provider is None:
        return choice.reason
    name = choice.provider.name
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            results = await choice.provider.search(client, choice.base_url, PROBE_QUERY, 3)
    except (SearchError, httpx.HTTPError, ValueError) as exc:
        return f"web search ({name} at {choice.base_url}) does not work: {str(exc) or type(exc).__name__}"
    if not results:
        return f"web search ({name} at {choice.base_url}) returned no results for a test query"
    return None


def tools(services: Services) -> list[ToolSpec]:
    choice = choose_provider(services.config)
    if choice.provider is None:
        if not choice.reason.startswith("web search is off"):
            log.warning("web_search: %s; tool not offered", choice.reason)
        return []
    return [
        ToolSpec(
            name="web_search",
            description=(
                "Search the web (papers, blog posts, issues, docs outside the Hub). Returns up "
                f"to {MAX_RESULTS} results with links; cite them in a Sources section."
            ),
            parameters=PARAMETERS,
            handler=make_handler(choice.provider, choice.base_url),
            read_only=True,
            output_cap=8_000,
            timeout_s=60.0,
            key_argument="query",
        )
    ]
