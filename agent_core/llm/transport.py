"""Which transport carries a call, and the fast one: one aiohttp session, raw SSE.

``llm_transport: auto`` (the default) sends OpenAI-compatible routes — the HF router, OpenAI,
a user's own vLLM/TGI/Ollama/LM Studio behind ``OPENAI_API_BASE`` — over :class:`FastTransport`;
everything litellm translates (Anthropic, Bedrock, Vertex, Gemini, …) goes through litellm.
``llm_transport: litellm`` sends everything through litellm. Both get the same litellm-style
kwargs from the client and feed the same assemblers, so choosing a path never changes what is
sent, what comes back, or how a failure is classified (tested over both in the provider suites).

Why not litellm for these: per call it costs ~13 ms of CPU (request building, the openai SDK's
pydantic chunks, per-stream logging and cost objects) against ~0.5 ms here, and ``import
litellm`` costs seconds on the first answer after a start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlparse

import aiohttp

from ..config import Config
from .errors import ProviderConnectionError, ProviderError, provider_message, unprocessable_overflow
from .openai_wire import (
    MAX_BODY_BYTES,
    StreamTooLarge,
    ToolSchemas,
    as_stream_event,
    error_in,
    refused_params,
    request_body,
    request_headers,
    sse_events,
)
from .routing import OPENAI_DEFAULT_BASE, OPENAI_WIRE_PROVIDERS, Route, resolve

LITELLM = "litellm"
_DRAIN_S = 0.5
AUTO = "auto"


def uses_fast_path(route: Route, config: Config) -> bool:
    """Whether ``route`` goes over :class:`FastTransport` under ``config.llm_transport``."""
    return config.llm_transport != LITELLM and route.provider in OPENAI_WIRE_PROVIDERS


def _tls_context() -> ssl.SSLContext:
    """Verified TLS with the CA bundle litellm's HTTP client (httpx) uses: ``SSL_CERT_FILE``
    when set, else certifi's — so a slim image without system CAs works on either transport."""
    cafile = os.environ.get("SSL_CERT_FILE")
    if not cafile:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:  # pragma: no cover - certifi comes with httpx/requests
            cafile = None
    return ssl.create_default_context(cafile=cafile)


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``/
    ``ALL_PROXY``, minus ``NO_PROXY``) — what litellm's HTTP client honours, so a deployment
    behind a proxy works on either transport. (aiohttp's own ``trust_env`` would also read
    ``~/.netrc`` credentials, which must not replace the provider's key.)"""
    parts = urlparse(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxy


def model_needs_litellm(model: str, config: Config) -> bool:
    """Whether calls to ``model`` go through litellm (an unresolvable id: assume so)."""
    try:
        route = resolve(model, config, require_key=False)
    except Exception:
        return True
    return not uses_fast_path(route, config)


class FastTransport:
    """POSTs ``/chat/completions`` on one shared session (created on first use in the running
    loop, closed by :meth:`aclose`). Redirects are never followed: the bearer key must not
    travel to whatever host a 3xx names."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tools = ToolSchemas()

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A session belongs to one loop (tests run one loop each; the bot has one).
            # No pool cap: a burst of sessions streams at once (each holds its connection
            # for the whole answer), and queueing them behind a limit would add latency.
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ssl=_tls_context())
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=True, trust_env=False
            )
            self._loop = loop
        return self._session

    def _timeout_for(self, seconds: Any) -> aiohttp.ClientTimeout:
        """The call's own ``timeout`` (litellm's kwarg: connect, and each read) if it has one."""
        if not isinstance(seconds, int | float) or seconds <= 0:
            return self._timeout
        return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def complete(
        self, kwargs: Mapping[str, Any], *, stream: bool
    ) -> AsyncIterator[dict[str, Any]] | dict[str, Any]:
        """One call: an async iterator of stream events, or the whole response as a dict.
        Raises :class:`ProviderError` (HTTP status + message), :class:`ProviderConnectionError`
        (no answer) or the 422 overflow :class:`~.errors.LLMError`, as litellm's path would."""
        base = str(kwargs.get("api_base") or OPENAI_DEFAULT_BASE).rstrip("/")
        url = f"{base}/chat/completions"
        tools_json = self.tools.encode(kwargs.get("tools"))
        headers = request_headers(kwargs, stream=stream)
        drop: frozenset[str] = frozenset()
        for attempt in range(2):
            body = request_body(kwargs, tools_json, drop)
            try:
                response = await self._http().post(
                    url, data=body, headers=headers, allow_redirects=False, proxy=proxy_for(url),
                    timeout=self._timeout_for(kwargs.get("timeout")),
                )  # fmt: skip
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                raise _connection_error(exc) from None
            try:
                if response.status == 422:
                    # litellm drops the parameters a 422 names and sends once more; after
                    # that it answers with no response, which the client has always read as
                    # "inputs + max_new_tokens exceed the context" (TGI's use of 422).
                    drop = drop | refused_params(await _read_bounded(response))
                    if attempt == 0:
                        continue
                    raise unprocessable_overflow()
                await _raise_for_status(response, url)
                if not stream:
                    return await _json_body(response)
            except BaseException:
                response.release()
                raise
            return _events(response)
        raise unprocessable_overflow()  # pragma: no cover - the loop always returns or raises


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The stream's events. A stream read to its end hands the connection back to the pool
    (the next call skips the TCP handshake); one left early (an error, an interrupt) is closed."""
    finished = False
    try:
        if "json" in response.headers.get("Content-Type", ""):
            body = await _json_body(response)  # an error, or a server that ignored "stream"
            yield as_stream_event(body)
        else:
            async for event in sse_events(response.content):
                yield event
            # After [DONE] only the chunked terminator is left: read it so the connection
            # is reusable (bounded in bytes and time: a server that lingers is cut off).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_DRAIN_S):
                    for _ in range(4):
                        if response.content.at_eof() or not await response.content.read(1 << 16):
                            break
        finished = response.content.at_eof()
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise _connection_error(exc) from None
    finally:
        if finished:
            response.release()
        else:
            response.close()


async def _raise_for_status(response: aiohttp.ClientResponse, url: str) -> None:
    status = response.status
    if status < 300:
        return
    if status < 400:
        target = urlparse(response.headers.get("Location", "")).hostname or "elsewhere"
        raise ProviderError(
            status,
            f"The LLM endpoint {urlparse(url).hostname} answered with a redirect to {target}; "
            "redirects are not followed (the API key must not travel to another host). "
            "Point the base URL at the final address.",
        )
    raw = await _read_bounded(response)
    raise ProviderError(status, provider_message(status, raw), response.headers)


async def _json_body(response: aiohttp.ClientResponse) -> dict[str, Any]:
    raw = await _read_bounded(response)
    try:
        body = json.loads(raw)
    except ValueError:
        raise ProviderError(502, f"The provider sent a malformed response: {raw[:200]!r}") from None
    failure = error_in(body)
    if failure is not None:
        raise failure
    if not isinstance(body, dict):
        raise ProviderError(502, "The provider sent a response that is not a JSON object.")
    return body


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := await response.content.read(1 << 16):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise StreamTooLarge(f"a body over {MAX_BODY_BYTES // (1024 * 1024)} MiB")
            parts.append(chunk)
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise _connection_error(exc) from None
    return b"".join(parts)


def _connection_error(exc: BaseException) -> ProviderConnectionError:
    """Worded like litellm's (the openai SDK's) so both transports read the same."""
    if isinstance(exc, TimeoutError):
        return ProviderConnectionError("Request timed out.")
    return ProviderConnectionError("Connection error.")
