"""HTTP plumbing shared by the research tools: one async client, bounded bodies, origin checks.

Why this exists: upstream's docs tool sent the user's HF token to whatever URL the model named,
and several tools read unbounded bodies. Every research tool goes through :func:`get_bounded`,
which follows redirects itself so a credential is attached only while the request stays on the
origin the credential belongs to, and which stops reading after ``max_bytes``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .base import ToolContext

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_BYTES = 5_000_000
MAX_REDIRECTS = 5
USER_AGENT = "ml-intern-slack/0.1 (+research tools)"
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` with the default port filled in, for exact origin comparison."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:  # a malformed port never matches anything
        port = -1
    return scheme, host, port


def same_origin(a: str, b: str) -> bool:
    oa = origin(a)
    return oa == origin(b) and bool(oa[1])


def hub_endpoint() -> str:
    """The Hub base URL (``HF_ENDPOINT``, as huggingface_hub reads it), without a trailing slash."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_HUB_ENDPOINT).rstrip("/")


def hf_token() -> str | None:
    """The process HF token: ``HF_TOKEN`` first, then whatever huggingface_hub has stored."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # no token file, or an older huggingface_hub: run anonymously
        return None


class URLRefused(httpx.RequestError):
    """A redirect pointed somewhere the research tools must never go."""


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local (cloud metadata), reserved or multicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_url_target(url: str, allowed: set[tuple[str, str, int]]) -> None:
    """Refuse a URL (a redirect hop, a model-named script) that leaves the allowed origins for a
    non-public address.

    A redirect is chosen by the server (or whoever controls a page it serves), not by our
    configuration: followed blindly, a 302 from a public host reaches the bot's loopback
    services or the cloud metadata endpoint. Hostnames are resolved and every address must be
    public (a name that resolves to 127.0.0.1 is loopback too).
    """
    scheme, host, port = origin(url)
    if (scheme, host, port) in allowed:
        return
    if scheme not in ("http", "https") or not host:
        raise URLRefused(f"refusing to fetch {url!r}: not an http(s) URL")
    try:
        addresses = [ipaddress.ip_address(host.strip("[]")).compressed]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise URLRefused(f"cannot resolve redirect target {host!r}: {exc}") from exc
        addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise URLRefused(
            f"refusing to fetch {url!r}: it points to a private, loopback or "
            "link-local address outside the configured endpoints"
        )


@asynccontextmanager
async def http_client(ctx: ToolContext | None) -> AsyncIterator[httpx.AsyncClient]:
    """The process-wide client from ``Services.http`` if there is one, else a short-lived one."""
    shared = ctx.services.http if ctx is not None else None
    if shared is not None:
        yield shared
        return
    async with httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT_S, headers={"User-Agent": USER_AGENT}
    ) as client:
        yield client


@dataclass
class BoundedResponse:
    status_code: int
    url: str
    headers: httpx.Headers
    content: bytes
    truncated: bool

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content or b"null")


async def get_bounded(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    credential_headers: dict[str, str] | None = None,
    credential_origin: str | None = None,
    params: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float | None = None,
    trusted_origins: tuple[str, ...] = (),
) -> BoundedResponse:
    """GET ``url``, following up to 5 redirects by hand, reading at most ``max_bytes``.

    ``credential_headers`` (e.g. ``Authorization``) are sent only on hops whose origin equals
    ``credential_origin``; a redirect to any other origin continues without them. Every
    redirect is re-checked by :func:`check_url_target`: ``url``'s own origin and
    ``trusted_origins`` (configured endpoints) may be anywhere, any other hop must be http(s)
    to a public address.
    """
    current = url
    allowed = {origin(url), *(origin(o) for o in (trusted_origins or ()))}
    for hop in range(MAX_REDIRECTS + 1):
        if hop:
            await check_url_target(current, allowed)
        send = dict(headers or {})
        if credential_headers and credential_origin and same_origin(current, credential_origin):
            send.update(credential_headers)
        request = client.build_request(
            "GET",
            current,
            headers=send,
            params=params,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            if response.is_redirect and "location" in response.headers:
                current = urljoin(str(response.url), response.headers["location"])
                params = None  # the Location carries its own query
                continue
            chunks: list[bytes] = []
            size = 0
            truncated = False
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_bytes:
                    truncated = True
                    break
            body = b"".join(chunks)[:max_bytes]
            return BoundedResponse(
                response.status_code, str(response.url), response.headers, body, truncated
            )
        finally:
            await response.aclose()
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects from {url}")
