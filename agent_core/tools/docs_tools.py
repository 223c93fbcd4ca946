"""``explore_hf_docs`` and ``fetch_hf_docs``: search and read Hugging Face documentation.

Differences from upstream, and why:

* **Token scope.** The HF token is attached only to requests whose scheme+host+port equal the
  Hub endpoint's (``HF_ENDPOINT``, default ``https://huggingface.co``), including after
  redirects. ``fetch_hf_docs`` *refuses* URLs outside the Hub endpoint and the configured docs
  base (``tools.docs_base_url``): it is a docs reader, not a general fetcher a model could aim at
  internal addresses. Other sites are for ``web_search`` / ``github_read_file``.
* **Lighter index.** Upstream scraped the sidebar, downloaded every page and built a Whoosh
  index. We parse the section page's nav links, fetch the pages' Markdown lazily (only when a
  query needs content, ``DOCS_CONCURRENCY`` at a time) and rank by plain term matching. The
  index, its cache and the page fetching live in ``docs_index``; the ranking in
  ``docs_ranking``; this module only turns tool arguments into calls and results into text.
* **Bounded output.** ``fetch_hf_docs`` returns ``PAGE_CHARS`` per call and says which
  ``offset`` to pass to continue.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .base import Services, ToolContext, ToolSpec
from .docs_index import DocPage, docs_base, md_url, page_text, section_index, strip_fragment
from .docs_ranking import glimpse, score_page, terms_of
from .http_util import http_client, hub_endpoint, same_origin

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
DOCS_CONCURRENCY = 8


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
                    text, _ = await page_text(ctx, client, page.url)
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
    url = strip_fragment(normalize_docs_url(raw, base))
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
            text, error = await page_text(ctx, client, url.removesuffix(".md"))
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
