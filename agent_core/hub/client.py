"""One door to the Hugging Face Hub for the whole process: ``HubClient``.

Why one class:

* **Endpoint and token are read once.** ``huggingface_hub`` reads ``HF_ENDPOINT`` at import
  time, so a process that sets it later (tests, a config file) would silently talk to
  huggingface.co. We pass ``endpoint=`` and ``token=`` explicitly to our own ``HfApi``.
* **No blocking I/O on the event loop.** ``HfApi`` is synchronous; every call goes through
  :meth:`HubClient.call`, which runs it in a worker thread and turns its exceptions into a
  short, actionable :class:`HubError` (401, 404, gated, billing, rate limit, unreachable) —
  the one translator is in :mod:`.errors`.
* **whoami is cached.** The Hub rate-limits ``/api/whoami-v2`` strictly, and every jobs call
  without ``namespace=`` would hit it; we resolve namespaces from one cached identity.
* **Bounded log tails.** ``fetch_job_logs(follow=False)`` on a running job waits out a 5 s read
  timeout in a thread. :meth:`job_log_tail` instead streams the SSE endpoint with httpx, stops
  after a short idle gap, an overall deadline, or ``lines`` lines — so a tail never costs more
  than ``deadline_s`` and never holds a thread (the stream's lines are parsed in :mod:`.logs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from .. import pricing
from ..redact import register_secret
from .errors import HubError, no_token_error, status_error, translate_error
from .logs import LogTail, parse_log_event, parse_metrics_event

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_DATASETS_SERVER_URL = "https://datasets-server.huggingface.co"
DEFAULT_ARXIV_HTML_URL = "https://arxiv.org/html"
USER_AGENT = "ml-intern-slack/0.1"

WHOAMI_TTL_S = 3600.0
HARDWARE_TTL_S = 6 * 3600.0

T = TypeVar("T")


@dataclass(frozen=True)
class Identity:
    """Who the token belongs to: the user's name and the orgs they may act for."""

    name: str
    orgs: tuple[str, ...] = ()
    fetched_at: float = 0.0

    @property
    def namespaces(self) -> list[str]:
        """The user first, then orgs alphabetically (upstream's eligibility list)."""
        return [self.name, *sorted(o for o in self.orgs if o != self.name)]


def _env(name: str, default: str) -> str:
    return (os.environ.get(name) or default).rstrip("/")


def _env_token() -> str | None:
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class HubClient:
    """Async facade over ``HfApi`` plus the few raw endpoints it does not cover.

    Build one per process (per token, once tokens are per user) and put it in
    ``Services.hub``. Close it with :meth:`aclose`.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        token: str | None = None,
        *,
        datasets_server_url: str | None = None,
        arxiv_html_url: str | None = None,
        whoami_ttl_s: float = WHOAMI_TTL_S,
        hardware_ttl_s: float = HARDWARE_TTL_S,
        http_timeout_s: float = 30.0,
    ) -> None:
        from huggingface_hub import HfApi

        self.endpoint = (endpoint or _env("HF_ENDPOINT", DEFAULT_ENDPOINT)).rstrip("/")
        self.token = token if token is not None else _env_token()
        register_secret(self.token)
        self.datasets_server_url = (
            datasets_server_url or _env("HF_DATASETS_SERVER_URL", DEFAULT_DATASETS_SERVER_URL)
        ).rstrip("/")
        self.arxiv_html_url = (
            arxiv_html_url or _env("ARXIV_HTML_URL", DEFAULT_ARXIV_HTML_URL)
        ).rstrip("/")
        self.api = HfApi(endpoint=self.endpoint, token=self.token, library_name="ml-intern-slack")
        self._whoami_ttl_s = whoami_ttl_s
        self._hardware_ttl_s = hardware_ttl_s
        self._identity: Identity | None = None
        self._identity_lock = asyncio.Lock()
        self._hardware: tuple[float, list[dict[str, Any]]] | None = None
        self._hardware_lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None
        self._http_timeout_s = http_timeout_s

    # ------------------------------------------------------------------ plumbing
    @property
    def http(self) -> httpx.AsyncClient:
        """A shared async client (created on first use, closed by :meth:`aclose`)."""
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(
                timeout=self._http_timeout_s, headers={"User-Agent": USER_AGENT}
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None and not self._http.is_closed:
            await self._http.aclose()
        self._http = None

    def auth_headers(self) -> dict[str, str]:
        """``Authorization`` for requests to the Hub endpoint (never send it elsewhere)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(
        self, method: str | Callable[..., T], /, *args: Any, what: str = "", **kwargs: Any
    ) -> Any:
        """Run an ``HfApi`` method (name or callable) in a worker thread, errors translated.

        Iterables (``list_*``) are materialised in the thread, so paging never runs on the loop;
        pass ``limit=`` to keep them small.
        """
        fn = getattr(self.api, method) if isinstance(method, str) else method

        def run() -> Any:
            result = fn(*args, **kwargs)
            if hasattr(result, "__next__"):
                return list(result)
            return result

        try:
            return await asyncio.to_thread(run)
        except HubError:
            raise
        except Exception as exc:  # translated: every Hub failure becomes a short message
            raise translate_error(exc, what, self.endpoint) from exc

    # ------------------------------------------------------------------ identity
    def cached_identity(self) -> Identity | None:
        """The last whoami answer, however old, without a request (None before the first)."""
        return self._identity

    async def whoami(self, refresh: bool = False) -> Identity:
        """The token's identity, cached for ``whoami_ttl_s`` (one request per hour at most)."""
        async with self._identity_lock:
            cached = self._identity
            if cached and not refresh and time.monotonic() - cached.fetched_at < self._whoami_ttl_s:
                return cached
            if not self.token:
                raise no_token_error()
            data = await self.call("whoami", what="whoami")
            orgs = tuple(
                str(o.get("name"))
                for o in (data.get("orgs") or [])
                if isinstance(o, dict) and o.get("name")
            )
            self._identity = Identity(str(data.get("name") or ""), orgs, time.monotonic())
            return self._identity

    async def resolve_namespace(self, requested: str | None = None) -> str:
        """The namespace to run jobs in: the requested one if allowed, else the user's own."""
        ident = await self.whoami()
        allowed = [n for n in ident.namespaces if n]
        if not requested or not str(requested).strip():
            if not allowed:
                raise HubError(
                    "The token has no user or org namespace to run jobs in.", kind="namespace"
                )
            return allowed[0]
        wanted = str(requested).strip()
        if wanted in allowed:
            return wanted
        # Orgs may have been joined since the cache was filled: refresh once before refusing.
        ident = await self.whoami(refresh=True)
        allowed = [n for n in ident.namespaces if n]
        if wanted in allowed:
            return wanted
        raise HubError(
            f"You can only run jobs under your own account or an org you belong to; "
            f"'{wanted}' is neither. Allowed namespaces: {', '.join(allowed) or 'none'}.",
            kind="namespace",
        )

    # ------------------------------------------------------------------ hardware / prices
    async def hardware(self, refresh: bool = False) -> list[dict[str, Any]]:
        """The Jobs hardware catalog (cached ``hardware_ttl_s``); feeds :mod:`pricing`.

        Falls back to the static price table when the Hub cannot be asked; entries then carry
        ``source: "static"``.
        """
        async with self._hardware_lock:
            if (
                self._hardware
                and not refresh
                and time.monotonic() - self._hardware[0] < self._hardware_ttl_s
            ):
                return self._hardware[1]
            try:
                items = await self.call("list_jobs_hardware", what="the hardware catalog")
            except HubError:
                return [
                    {"name": name, "unit_cost_usd_per_hour": price, "source": "static"}
                    for name, price in pricing.all_prices().items()
                ]
            out: list[dict[str, Any]] = []
            prices: dict[str, float] = {}
            for hw in items:
                entry = pricing.hardware_entry(hw)
                out.append(entry)
                if entry.get("unit_cost_usd_per_hour") is not None:
                    prices[entry["name"]] = entry["unit_cost_usd_per_hour"]
            pricing.update_prices(prices)
            self._hardware = (time.monotonic(), out)
            return out

    # ------------------------------------------------------------------ jobs
    def job_url(self, namespace: str, job_id: str) -> str:
        return f"{self.endpoint}/jobs/{namespace}/{job_id}"

    async def inspect_job(self, namespace: str, job_id: str) -> Any:
        return await self.call(
            "inspect_job", job_id=job_id, namespace=namespace, what=f"job {job_id}"
        )

    async def cancel_job(self, namespace: str, job_id: str) -> None:
        await self.call("cancel_job", job_id=job_id, namespace=namespace, what=f"job {job_id}")

    async def job_log_tail(
        self,
        namespace: str,
        job_id: str,
        lines: int = 20,
        *,
        deadline_s: float = 5.0,
        idle_s: float = 1.0,
    ) -> LogTail:
        """The last ``lines`` log lines, read from the SSE logs endpoint with hard bounds.

        The server replays the requested tail at once, then (for a running job) keeps the
        stream open with keep-alives. We stop at the first of: the server closing the stream
        (``ended=True``), ``idle_s`` without a byte after the replay, or ``deadline_s`` overall.
        """
        url = f"{self.endpoint}/api/jobs/{namespace}/{job_id}/logs"
        keep: deque[tuple[str | None, str]] = deque(maxlen=max(1, lines))
        result = LogTail()

        async def read() -> None:
            timeout = httpx.Timeout(deadline_s, read=idle_s)
            what = f"logs of job {job_id}"
            async for raw in self._sse_lines(url, what, timeout, params={"tail": lines}):
                entry = parse_log_event(raw)
                if entry is not None:
                    keep.append(entry)
            result.ended = True

        try:
            await asyncio.wait_for(read(), timeout=deadline_s + 0.5)
        except (TimeoutError, httpx.ReadTimeout):
            pass  # the stream is still open: the job is running; we have the replayed tail
        except HubError:
            raise
        except httpx.HTTPError as exc:
            raise translate_error(exc, f"logs of job {job_id}", self.endpoint) from exc
        result.entries = list(keep)
        result.lines = [line for _, line in keep]
        return result

    async def _sse_lines(
        self,
        url: str,
        what: str,
        timeout: httpx.Timeout,
        *,
        params: dict[str, Any] | None = None,
        tolerate: int | None = None,
    ) -> AsyncIterator[str]:
        """The lines of one authenticated SSE stream from the Hub; an error status raises
        :class:`HubError` (``tolerate`` is a status that just means "nothing to read")."""
        async with self.http.stream(
            "GET",
            url,
            params=params,
            headers={**self.auth_headers(), "Accept": "text/event-stream"},
            timeout=timeout,
        ) as resp:
            if resp.status_code == tolerate:
                return
            if resp.status_code >= 400:
                body = (await resp.aread())[:2000]
                raise status_error(resp.status_code, resp.headers, body, what)
            async for raw in resp.aiter_lines():
                yield raw

    async def job_metrics_samples(
        self,
        namespace: str,
        job_id: str,
        max_samples: int = 3,
        *,
        deadline_s: float = 3.0,
    ) -> list[dict[str, Any]]:
        """Up to ``max_samples`` hardware samples from the Jobs metrics stream, bounded.

        The endpoint (what ``HfApi.fetch_job_metrics`` reads) is SSE with one ``event: metric``
        per second and never ends by itself, so — like :meth:`job_log_tail` — we stop at the
        sample count or the deadline and never hold a thread. A finished job answers 500
        (``fetch_job_metrics`` tolerates it too): that is "no samples", not an error.
        """
        url = f"{self.endpoint}/api/jobs/{namespace}/{job_id}/metrics"
        samples: list[dict[str, Any]] = []

        async def read() -> None:
            what = f"metrics of job {job_id}"
            stream = self._sse_lines(url, what, httpx.Timeout(deadline_s), tolerate=500)
            async with contextlib.aclosing(stream) as lines:  # closes the stream on return
                async for raw in lines:
                    sample = parse_metrics_event(raw)
                    if sample is not None:
                        samples.append(sample)
                        if len(samples) >= max_samples:
                            return

        try:
            await asyncio.wait_for(read(), timeout=deadline_s)
        except (TimeoutError, httpx.ReadTimeout):
            pass  # the stream stays open while the job runs: keep what arrived
        except HubError:
            raise
        except httpx.HTTPError as exc:
            raise translate_error(exc, f"metrics of job {job_id}", self.endpoint) from exc
        return samples

    # ------------------------------------------------------------------ raw JSON GETs
    async def get_json(
        self,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        what: str = "",
        max_bytes: int = 5_000_000,
        timeout: float | None = None,
    ) -> Any:
        """GET JSON from the Hub or the datasets-server with the token; other origins get none.

        Redirects are followed by :func:`get_bounded`, which drops the credential as soon as
        a hop leaves the origin it belongs to.
        """
        from ..tools.http_util import get_bounded, same_origin

        cred_origin = None
        for base in (self.endpoint, self.datasets_server_url):
            if same_origin(url, base):
                cred_origin = base
                break
        try:
            resp = await get_bounded(
                self.http,
                url,
                params=params,
                credential_headers=self.auth_headers() if cred_origin else None,
                credential_origin=cred_origin,
                max_bytes=max_bytes,
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            raise translate_error(exc, what, url) from exc
        if resp.status_code >= 400:
            raise status_error(resp.status_code, resp.headers, resp.content, what)
        try:
            return resp.json()
        except ValueError as exc:
            raise HubError(f"{what or url}: the server did not return JSON", kind="server") from exc

    async def get_text(
        self, url: str, *, what: str = "", max_bytes: int = 3_000_000, timeout: float | None = None
    ) -> tuple[int, str]:
        """GET a page without credentials (arXiv HTML). Returns ``(status, text)``."""
        from ..tools.http_util import get_bounded

        try:
            resp = await get_bounded(self.http, url, max_bytes=max_bytes, timeout=timeout)
        except httpx.HTTPError as exc:
            raise translate_error(exc, what, url) from exc
        return resp.status_code, resp.text
