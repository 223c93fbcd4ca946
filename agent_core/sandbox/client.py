"""Talking to a running sandbox server (see :mod:`.server` for the protocol).

Two credentials travel on every call, as upstream does: the HF token in ``Authorization``
(a private Space's edge refuses anyone without read access) and the sandbox's own random
secret in ``X-Sandbox-Authorization`` (the server refuses anyone without it — the Space's
URL alone is never enough to run commands). Connection failures are retried briefly, because
a Space that just turned RUNNING sometimes refuses its first connections; a command that
timed out is never re-sent (it may have run).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from ..retry import backoff_delay

CONNECT_TRIES = 3
# A command may run up to the server's 1200 s limit; the read timeout leaves it room to answer.
CALL_TIMEOUT = httpx.Timeout(1260.0, connect=30.0)


class SandboxUnavailable(RuntimeError):
    """The sandbox could not be reached or answered nonsense; the model is told in words."""


@dataclass(frozen=True)
class SandboxResult:
    ok: bool
    output: str
    error: str | None = None
    data: dict[str, Any] | None = None

    def as_tool_result(self) -> tuple[str, bool]:
        """Upstream's text shape: the output, and ``ERROR: …`` appended on failure."""
        if self.ok:
            return self.output or "(no output)", True
        if self.output and self.output != "(no output)":
            return f"{self.output}\n\nERROR: {self.error}", False
        return f"ERROR: {self.error}", False


class SandboxClient:
    def __init__(
        self,
        base_url: str,
        sandbox_token: str,
        hf_token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"X-Sandbox-Authorization": f"Bearer {sandbox_token}"}
        if hf_token:
            headers["Authorization"] = f"Bearer {hf_token}"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=CALL_TIMEOUT,
            transport=transport,
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def health(self) -> bool:
        try:
            resp = await self._http.get("api/health", timeout=10.0)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    async def call(self, route: str, payload: dict[str, Any] | None = None) -> SandboxResult:
        """POST ``/api/<route>``; connection errors retried, everything else reported."""
        for attempt in range(1, CONNECT_TRIES + 1):
            try:
                resp = await self._http.post(f"api/{route}", json=payload or {})
                break
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                if attempt == CONNECT_TRIES:
                    raise SandboxUnavailable(f"the sandbox is not reachable ({exc})") from exc
                await asyncio.sleep(backoff_delay(attempt, base=1.0, cap=6.0))
            except httpx.TimeoutException as exc:
                raise SandboxUnavailable("the sandbox did not answer in time") from exc
        if resp.status_code in (401, 403):
            raise SandboxUnavailable(
                f"the sandbox refused our credentials (HTTP {resp.status_code})"
            )
        try:
            body = resp.json()
        except ValueError as exc:
            raise SandboxUnavailable(
                f"the sandbox answered HTTP {resp.status_code} without JSON (is it still starting?)"
            ) from exc
        if not isinstance(body, dict):
            raise SandboxUnavailable("the sandbox answered with an unexpected shape")
        if resp.status_code >= 400 and "ok" not in body:
            # Not our server's answer: the Space edge (404 gone/private, 503 not running).
            detail = body.get("error") or body.get("message") or ""
            raise SandboxUnavailable(
                f"the sandbox is not available (HTTP {resp.status_code}{': ' if detail else ''}"
                f"{str(detail)[:200]})"
            )
        return SandboxResult(
            ok=bool(body.get("ok")),
            output=str(body.get("output") or ""),
            error=body.get("error"),
            data=body,
        )
