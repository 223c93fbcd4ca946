"""One door to the Hugging Face Hub for the whole process: ``HubClient``.

Why one class:

* **Endpoint and token are read once.** ``huggingface_hub`` reads ``HF_ENDPOINT`` at import
  time, so a process that sets it later (tests, a config file) would silently talk to
  huggingface.co. We pass ``endpoint=`` and ``token=`` explicitly to our own ``HfApi``.
* **No blocking I/O on the event loop.** ``HfApi`` is synchronous; every call goes through
  :meth:`HubClient.call`, which runs it in a worker thread and turns its exceptions into a
  short, actionable :class:`HubError` (401, 404, gated, billing, rate limit, unreachable).
* **whoami is cached.** The Hub rate-limits ``/api/whoami-v2`` strictly, and every jobs call
  without ``namespace=`` would hit it; we resolve namespaces from one cached identity.
* **Bounded log tails.** ``fetch_job_logs(follow=False)`` on a running job waits out a 5 s read
  timeout in a thread. :meth:`job_log_tail` instead streams the SSE endpoint with httpx, stops
  after a short idle gap, an overall deadline, or ``lines`` lines — so a tail never costs more
  than ``deadline_s`` and never holds a thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from . import pricing
from .redact import register_secret, scrub_text

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_DATASETS_SERVER_URL = "https://datasets-server.huggingface.co"
DEFAULT_ARXIV_HTML_URL = "https://arxiv.org/html"
BILLING_URL = "https://huggingface.co/settings/billing"
TOKENS_URL = "https://huggingface.co/settings/tokens"
USER_AGENT = "ml-intern-slack/0.1"

WHOAMI_TTL_S = 3600.0
HARDWARE_TTL_S = 6 * 3600.0
LOG_LINE_MAX_CHARS = 500
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_BILLING_WORDS = re.compile(
    r"\b(402|payment required|billing|credits?|insufficient (funds|balance)|add a payment)\b",
    re.IGNORECASE,
)

T = TypeVar("T")


class HubError(Exception):
    """A Hub failure phrased for the model (and a person): what happened, what to do.

    ``kind`` lets callers branch without parsing text: ``auth``, ``forbidden``, ``not_found``,
    ``gated``, ``billing``, ``namespace``, ``rate_limit``, ``unreachable``, ``bad_request``,
    ``server``, ``no_token``, ``error``.
    """

    def __init__(self, message: str, *, kind: str = "error", status: int | None = None) -> None:
        super().__init__(scrub_text(message))
        self.message = scrub_text(message)
        self.kind = kind
        self.status = status

    def __str__(self) -> str:
        return self.message


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


@dataclass
class LogTail:
    """The last lines of a job's log. ``ended`` is True when the server closed the stream
    (the job is over, or has no more output) rather than our deadline cutting it."""

    lines: list[str] = field(default_factory=list)
    ended: bool = False
    entries: list[tuple[str | None, str]] = field(default_factory=list)  # (timestamp, line)

    @property
    def last_timestamp(self) -> str | None:
        stamps = [ts for ts, _ in self.entries if ts]
        return max(stamps) if stamps else None


def clean_log_line(line: str) -> str:
    """Strip ANSI codes and carriage-return redraws (progress bars); cap the length."""
    line = _ANSI.sub("", line)
    if "\r" in line:
        parts = [p for p in line.split("\r") if p.strip()]
        line = parts[-1] if parts else ""
    line = line.rstrip()
    if len(line) > LOG_LINE_MAX_CHARS:
        line = line[: LOG_LINE_MAX_CHARS - 1] + "…"
    return line


def is_billing_error(status: int | None, message: str) -> bool:
    return status == 402 or bool(_BILLING_WORDS.search(message or ""))


def billing_message(namespace: str | None) -> str:
    who = f"the '{namespace}' namespace" if namespace else "this account"
    return (
        f"The Hub refused the job because {who} has no credits or payment method for "
        f"Jobs (402). Add credits or a payment method at {BILLING_URL} (for an org: the org's "
        "billing settings), then ask me to submit it again. Nothing was started or charged."
    )


def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return int(status) if isinstance(status, int) else None


def _server_message(exc: BaseException) -> str:
    msg = getattr(exc, "server_message", None)
    if msg:
        return str(msg).strip()
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate_error(exc: BaseException, what: str = "", endpoint: str = "") -> HubError:
    """Map a huggingface_hub / httpx exception to a short :class:`HubError`."""
    if isinstance(exc, HubError):
        return exc
    from huggingface_hub import errors as hf_errors

    subject = f" {what}" if what else ""
    status = _status_of(exc)
    server = _server_message(exc)[:300]
    if isinstance(exc, hf_errors.GatedRepoError):
        return HubError(
            f"{what or 'This repo'} is gated: the account behind the token has not been granted "
            "access. Open the repo page on the Hub, accept its terms (or request access), then "
            "retry.",
            kind="gated",
            status=status,
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return HubError(
            f"Not found:{subject or ' repository'}. Check the id (owner/name) and repo_type "
            "(model, dataset or space); a private repo is invisible to a token without access.",
            kind="not_found",
            status=status or 404,
        )
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return HubError(
            f"Revision not found{' for' + subject if subject else ''}. List branches/tags with "
            "hf_repo_git list_refs.",
            kind="not_found",
            status=status or 404,
        )
    if isinstance(exc, hf_errors.EntryNotFoundError | hf_errors.RemoteEntryNotFoundError):
        return HubError(
            f"File not found{' in' + subject if subject else ''}. List files with hf_repo_files "
            "list.",
            kind="not_found",
            status=status or 404,
        )
    if isinstance(exc, hf_errors.LocalTokenNotFoundError):
        return HubError(
            f"No Hugging Face token is configured. Set HF_TOKEN (a token from {TOKENS_URL}).",
            kind="no_token",
        )
    if isinstance(exc, hf_errors.JobNotFoundError):
        return HubError(
            f"Job not found{':' + subject if subject else ''}. Check the id and the namespace "
            "(jobs of an org are only visible under that org's namespace).",
            kind="not_found",
            status=status or 404,
        )
    if status is not None:
        if is_billing_error(status, server) and status in (402, 403):
            return HubError(billing_message(None), kind="billing", status=status)
        if status == 401:
            return HubError(
                f"The Hub rejected the token (401){' for' + subject if subject else ''}. Check "
                f"that HF_TOKEN is valid ({TOKENS_URL}).",
                kind="auth",
                status=status,
            )
        if status == 403:
            return HubError(
                f"Permission denied (403){' for' + subject if subject else ''}: {server}. The "
                "token may be read-only or lack access to this namespace.",
                kind="forbidden",
                status=status,
            )
        if status == 404:
            return HubError(
                f"Not found (404):{subject} {server}".rstrip(), kind="not_found", status=status
            )
        if status == 409:
            return HubError(f"Conflict (409): {server}", kind="bad_request", status=status)
        if status in (400, 422):
            return HubError(
                f"The Hub rejected the request ({status}): {server}",
                kind="bad_request",
                status=status,
            )
        if status == 429:
            return HubError(
                "The Hub is rate-limiting these requests (429); wait a minute before retrying.",
                kind="rate_limit",
                status=status,
            )
        if status >= 500:
            return HubError(
                f"The Hub had an internal error ({status}); try again shortly.",
                kind="server",
                status=status,
            )
        return HubError(f"Hub error ({status}): {server}", status=status)
    if isinstance(exc, httpx.TimeoutException):
        return HubError(
            f"The Hub at {endpoint or 'its endpoint'} did not answer in time; try again shortly.",
            kind="unreachable",
        )
    if isinstance(exc, httpx.TransportError | ConnectionError | OSError):
        return HubError(
            f"Could not reach the Hub at {endpoint or 'its endpoint'} ({type(exc).__name__}); "
            "try again shortly.",
            kind="unreachable",
        )
    return HubError(f"{type(exc).__name__}: {server}")


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
    async def whoami(self, refresh: bool = False) -> Identity:
        """The token's identity, cached for ``whoami_ttl_s`` (one request per hour at most)."""
        async with self._identity_lock:
            cached = self._identity
            if cached and not refresh and time.monotonic() - cached.fetched_at < self._whoami_ttl_s:
                return cached
            if not self.token:
                raise HubError(
                    f"No Hugging Face token is configured. Set HF_TOKEN (a token from {TOKENS_URL}).",
                    kind="no_token",
                )
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
                entry = hardware_entry(hw)
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
            async with self.http.stream(
                "GET",
                url,
                params={"tail": lines},
                headers={**self.auth_headers(), "Accept": "text/event-stream"},
                timeout=timeout,
            ) as resp:
                if resp.status_code >= 400:
                    body = (await resp.aread())[:2000]
                    raise _http_error(resp, body, f"logs of job {job_id}", self.endpoint)
                async for raw in resp.aiter_lines():
                    if not raw.startswith("data: {"):
                        continue
                    try:
                        event = json.loads(raw[6:])
                    except ValueError:
                        continue
                    text = str(event.get("data", ""))
                    if text.startswith("===== Job started"):
                        continue
                    stamp = event.get("timestamp")
                    keep.append((str(stamp) if stamp else None, clean_log_line(text)))
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
        from .tools.http_util import get_bounded, same_origin

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
        from .tools.http_util import get_bounded

        try:
            resp = await get_bounded(self.http, url, max_bytes=max_bytes, timeout=timeout)
        except httpx.HTTPError as exc:
            raise translate_error(exc, what, url) from exc
        return resp.status_code, resp.text


def _error_text(headers: Any, body: bytes) -> str:
    msg = ""
    try:
        msg = headers.get("X-Error-Message") or ""
    except Exception:
        msg = ""
    if not msg and body:
        try:
            data = json.loads(body)
            if isinstance(data, dict):
                msg = str(data.get("error") or data.get("message") or "")
        except ValueError:
            msg = body.decode("utf-8", "replace")[:300]
    return msg.strip()[:300]


def status_error(status: int, headers: Any, body: bytes, what: str) -> HubError:
    """Errors of raw GETs, in the same vocabulary as :func:`translate_error`."""
    msg = _error_text(headers, body)
    code = ""
    try:
        code = headers.get("X-Error-Code") or ""
    except Exception:
        code = ""
    subject = f" {what}" if what else ""
    if status == 401 or code == "GatedRepo":
        if code == "GatedRepo" or "gated" in msg.lower() or "restricted" in msg.lower():
            return HubError(
                f"{what or 'This resource'} is gated or private: accept its terms on the Hub or "
                "use a token with access.",
                kind="gated",
                status=status,
            )
        return HubError(
            f"Not accessible without (valid) authentication:{subject}. It may be private or "
            f"gated, or HF_TOKEN is invalid ({TOKENS_URL}).",
            kind="auth",
            status=status,
        )
    if status == 404:
        return HubError(
            f"Not found:{subject or ' resource'}. {msg}".strip(), kind="not_found", status=status
        )
    if status == 402:
        return HubError(billing_message(None), kind="billing", status=status)
    if status == 429:
        return HubError(
            "Rate-limited (429); wait a minute before retrying.", kind="rate_limit", status=status
        )
    if status >= 500:
        return HubError(
            f"Server error ({status}){' for' + subject if subject else ''}; try again shortly.",
            kind="server",
            status=status,
        )
    return HubError(
        f"Request failed ({status}){' for' + subject if subject else ''}: {msg}", status=status
    )


def _http_error(resp: httpx.Response, body: bytes, what: str, endpoint: str) -> HubError:
    return status_error(resp.status_code, resp.headers, body, what)


def hardware_entry(hw: Any) -> dict[str, Any]:
    """A plain dict for one ``JobHardwareInfo`` (or a dict from a raw response)."""
    get = (
        (lambda k, d=None: hw.get(k, d))
        if isinstance(hw, dict)
        else (lambda k, d=None: getattr(hw, k, d))
    )
    name = str(get("name") or "")
    cost = get("unit_cost_usd")
    if cost is None:
        cost = get("unitCostUSD")
    micro = get("unit_cost_micro_usd")
    if micro is None:
        micro = get("unitCostMicroUSD")
    label = str(get("unit_label") or get("unitLabel") or "hour")
    per_hour: float | None = None
    try:
        value = (
            float(cost) if cost is not None else (float(micro) / 1e6 if micro is not None else None)
        )
    except (TypeError, ValueError):
        value = None
    if value is not None:
        lab = label.lower()
        per_hour = value * 60 if "minute" in lab else value * 3600 if "second" in lab else value
        per_hour = round(per_hour, 4)
    acc = get("accelerator")
    accel = None
    if acc:
        ag = (lambda k: acc.get(k)) if isinstance(acc, dict) else (lambda k: getattr(acc, k, None))
        accel = " ".join(str(x) for x in (ag("quantity"), ag("model"), ag("vram")) if x)
    return {
        "name": name,
        "pretty_name": str(get("pretty_name") or get("prettyName") or name),
        "cpu": get("cpu"),
        "ram": get("ram"),
        "accelerator": accel,
        "unit_cost_usd_per_hour": per_hour,
        "source": "hub",
    }
