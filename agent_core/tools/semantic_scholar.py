"""A small client for the Semantic Scholar Graph and Recommendations APIs (``hf_papers``'
``citation_graph``, ``snippet_search``, ``recommend`` and filtered ``search``).

Why a client of our own: Semantic Scholar's public pool is shared by everyone without a key and
answers ``429`` often, so every call needs the same pacing, retry and wording; the tool code
should only say what it wants. The rules kept here, in one place:

* the key is optional — ``S2_API_KEY`` (upstream's name) or ``SEMANTIC_SCHOLAR_API_KEY``, sent
  as ``x-api-key`` and only to the configured base URL;
* with a key, requests are paced (1 s apart on search paths, 0.1 s otherwise: the published
  per-key limit), as upstream does;
* ``429`` and ``5xx`` are retried with :func:`agent_core.retry.backoff_delay` inside a bounded
  wait budget (``tools.semantic_scholar_max_wait_s``), so a tool call never hangs for minutes;
* every failure becomes a :class:`~agent_core.hub.HubError` whose message tells the model what
  happened and what to do (never a traceback, never the key);
* successful GETs are cached (≤500 responses per client, one client per process and base URL).

Paper ids: ``ARXIV:<id>`` for arXiv papers, or any id Semantic Scholar accepts (``CorpusId:``,
``DOI:``, a 40-hex paperId) — see https://api.semanticscholar.org/api-docs/graph.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ..hub import HubError
from ..redact import register_secret
from ..retry import backoff_delay, retry_after_from_headers
from .base import ToolContext
from .http_util import http_client

DEFAULT_BASE_URL = "https://api.semanticscholar.org"
KEY_ENVS = ("S2_API_KEY", "SEMANTIC_SCHOLAR_API_KEY")
MAX_ATTEMPTS = 3
RETRY_BASE_S = 1.0  # first back-off after a 429/5xx (doubles, ±20 % jitter)
CACHE_SIZE = 500
TIMEOUT_S = 15.0
MAX_BYTES = 5_000_000
SEARCH_INTERVAL_S = 1.0
OTHER_INTERVAL_S = 0.1
_ARXIV = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5})(?:v\d+)?$", re.IGNORECASE)
# The id forms Semantic Scholar documents, strictly: a model-supplied id becomes a URL path
# segment, so anything else (``..``, ``?``, spaces) is refused before a request is made.
_PREFIXED = re.compile(
    r"^(?:CorpusId:\d{1,12}|PMID:\d{1,10}|PMCID:(?:PMC)?\d{1,10}|MAG:\d{1,12}"
    r"|ACL:[A-Za-z0-9.-]{1,40}|DOI:10\.\d{4,9}/[A-Za-z0-9._;()<>:/-]{1,200})$",
    re.IGNORECASE,
)
_SHA = re.compile(r"^[0-9a-f]{40}$")
_PAPER_HOSTS = {"arxiv.org", "huggingface.co", "hf.co", "ar5iv.labs.arxiv.org", "ar5iv.org"}


def api_key() -> str | None:
    for name in KEY_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def paper_ref(value: str) -> str:
    """A Semantic Scholar paper id from what the model passed (``2305.18290``, an arXiv URL,
    ``CorpusId:123``, ``DOI:…``, a paperId). Unknown shapes are refused, not sent."""
    raw = str(value or "").strip()
    url = urlsplit(raw if "://" in raw else "https://" + raw)
    if (url.hostname or "").removeprefix("www.") in _PAPER_HOSTS:
        # arxiv.org/abs|pdf/<id>[vN][.pdf], huggingface.co/papers/<id>: the last path segment
        raw = url.path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".pdf")
    if m := _ARXIV.match(raw):
        return f"ARXIV:{m.group(1)}"
    if (_PREFIXED.match(raw) and ".." not in raw) or _SHA.match(raw):
        return raw
    raise HubError(
        f"{value!r} is not a paper id: use an arXiv id like '2305.18290' "
        "(or CorpusId:<n> / DOI:<doi> from an earlier result).",
        kind="bad_request",
    )


def arxiv_of(paper: dict[str, Any]) -> str:
    return str((paper.get("externalIds") or {}).get("ArXiv") or "")


class SemanticScholar:
    """One per process and base URL (see :func:`client_for`)."""

    def __init__(self, base_url: str, key: str | None, *, max_wait_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        register_secret(key)  # scrubbed from every event and log even if an error echoes it
        self.max_wait_s = max_wait_s
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._pace = asyncio.Lock()
        self._last = 0.0

    async def get(
        self, path: str, params: dict[str, Any], *, what: str, ctx: ToolContext | None = None
    ) -> Any:
        key = path + "?" + "&".join(f"{k}={params[k]}" for k in sorted(params))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        data = await self._request("GET", path, params, None, what, ctx)
        self._cache[key] = data
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return data

    async def post(
        self,
        path: str,
        params: dict[str, Any],
        body: dict[str, Any],
        *,
        what: str,
        ctx: ToolContext | None = None,
    ) -> Any:
        return await self._request("POST", path, params, body, what, ctx)

    async def _paced(self, path: str) -> None:
        if not self.key:  # the keyless pool is not paced per client: 429s say when to slow down
            return
        interval = SEARCH_INTERVAL_S if "search" in path else OTHER_INTERVAL_S
        async with self._pace:
            wait = self._last + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = time.monotonic()

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        body: dict[str, Any] | None,
        what: str,
        ctx: ToolContext | None,
    ) -> Any:
        headers = {"x-api-key": self.key} if self.key else {}
        waited = 0.0
        last: HubError | None = None
        async with http_client(ctx) as client:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                await self._paced(path)
                request = client.build_request(
                    method, self.base_url + path, params=params, json=body, headers=headers,
                    timeout=TIMEOUT_S,
                )  # fmt: skip
                try:
                    status, resp_headers, content = await _send_bounded(client, request, what)
                except httpx.HTTPError as exc:
                    last = HubError(
                        f"Semantic Scholar could not be reached for {what} "
                        f"({type(exc).__name__}); try again later.",
                        kind="unreachable",
                    )
                    retry_after = None
                else:
                    if status < 300:
                        try:
                            return json.loads(content or b"null")
                        except ValueError:
                            raise HubError(
                                f"Semantic Scholar returned something that is not JSON for {what}.",
                                kind="server",
                            ) from None
                    last = self._error(status, content, what)
                    if last.kind not in ("rate_limit", "server"):
                        raise last
                    retry_after = retry_after_from_headers(resp_headers)
                if attempt == MAX_ATTEMPTS:
                    break
                delay = backoff_delay(attempt, base=RETRY_BASE_S, cap=30.0, retry_after=retry_after)
                if waited + delay > self.max_wait_s:
                    break
                waited += delay
                await asyncio.sleep(delay)
        assert last is not None
        raise last

    def _error(self, status: int, content: bytes, what: str) -> HubError:
        detail = _detail(content)
        if status == 429:
            hint = (
                "the API key's rate limit was hit; wait a few seconds and retry"
                if self.key
                else "the shared keyless pool is busy; wait a minute and retry, or set "
                "S2_API_KEY for a private rate limit"
            )
            return HubError(
                f"Semantic Scholar is rate-limiting requests (HTTP 429) for {what}: {hint}.",
                kind="rate_limit",
                status=status,
            )
        if status in (401, 403):
            return HubError(
                f"Semantic Scholar refused the request for {what} (HTTP {status}): "
                + ("check S2_API_KEY." if self.key else (detail or "forbidden.")),
                kind="forbidden",
                status=status,
            )
        if status == 404:
            return HubError(
                f"Semantic Scholar does not know {what} ({detail or 'not found'}); very recent "
                "papers can take days to be indexed — use paper_details or search instead.",
                kind="not_found",
                status=status,
            )
        if status >= 500:
            return HubError(
                f"Semantic Scholar is unavailable (HTTP {status}) for {what}; try again later.",
                kind="server",
                status=status,
            )
        return HubError(
            f"Semantic Scholar rejected {what} (HTTP {status}): {detail or 'bad request'}",
            kind="bad_request",
            status=status,
        )


async def _send_bounded(
    client: httpx.AsyncClient, request: httpx.Request, what: str
) -> tuple[int, httpx.Headers, bytes]:
    """Send without following redirects; ``(status, headers, decoded body)``, the body read
    only up to ``MAX_BYTES``."""
    resp = await client.send(request, stream=True, follow_redirects=False)
    try:
        body = bytearray()
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) > MAX_BYTES:
                raise HubError(
                    f"Semantic Scholar's answer for {what} exceeded {MAX_BYTES // 1_000_000} MB; "
                    "ask for fewer results (limit).",
                    kind="bad_request",
                )
    finally:
        await resp.aclose()
    return resp.status_code, resp.headers, bytes(body)


def _detail(content: bytes) -> str:
    """The service's own words from an error body (``error`` or ``message``)."""
    try:
        data = json.loads(content or b"null")
    except ValueError:
        return ""
    if isinstance(data, dict):
        return str(data.get("error") or data.get("message") or "")[:300]
    return ""


def client_for(ctx: ToolContext) -> SemanticScholar:
    """The process client for the configured base URL (kept in ``Services.extras``)."""
    config = ctx.services.config
    base = (config.tools.semantic_scholar_url if config else None) or DEFAULT_BASE_URL
    max_wait = config.tools.semantic_scholar_max_wait_s if config else 20.0
    key = api_key()
    slot = f"semantic_scholar:{base}:{bool(key)}"
    client = ctx.services.extras.get(slot)
    if client is None or client.key != key:
        client = SemanticScholar(base, key, max_wait_s=max_wait)
        ctx.services.extras[slot] = client
    return client


def quoted(ref: str) -> str:
    """A paper id as a path segment (``DOI:10.1/x`` keeps its slash, as the API expects)."""
    return quote(ref, safe=":/")
