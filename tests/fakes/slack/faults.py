"""Scripted failures and Slack's rate-limit tiers, for every endpoint of the emulator.

``fail_next("chat.postMessage", status=429, retry_after=1)`` makes the next matching request
fail the way Slack fails (``ok:false`` + error code, HTTP 429 + ``Retry-After``, an HTML 503
page); ``enable_rate_limits()`` turns on the tiers from ``slack_limits``. The Web API, the
upload URL, incoming webhooks and response_urls consult the same plan.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import slack_limits as limits


@dataclass
class Fault:
    """A scripted failure (after ``delay`` seconds) for the next ``remaining`` matching calls."""

    method: str
    error: str | None
    status: int
    retry_after: int | None = None
    remaining: int = 1
    delay: float = 0.0
    match: Callable[[dict[str, Any]], bool] | None = None
    body: str | None = None


@dataclass
class LostResponse:
    """A call that takes effect in Slack but whose answer never reaches the caller (the
    connection dies first): held until ``release`` is set. ``peer`` is the caller's
    (host, port) once the call arrived, so a test can tell which process made it."""

    method: str
    match: Callable[[dict[str, Any]], bool] | None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    peer: tuple[str, int] | None = None
    taken: bool = False


class FaultPlan:
    """The scripted faults and the rate limiter; ``rate_limited`` counts the 429s served."""

    def __init__(self, rate_limited: Counter[str], *, clock: Callable[[], float]) -> None:
        self.rate_limited = rate_limited
        self.rate_limits_enabled = False
        self._faults: list[Fault] = []
        self._lost: list[LostResponse] = []
        self._limiter = limits.RateLimiter(clock=clock)

    @property
    def limiter(self) -> limits.RateLimiter:
        return self._limiter

    def fail_next(
        self,
        method: str,
        error: str | None = None,
        *,
        status: int = 200,
        retry_after: int | None = None,
        count: int = 1,
        delay: float = 0.0,
        match: Callable[[dict[str, Any]], bool] | None = None,
        body: str | None = None,
    ) -> Fault:
        """Make the next ``count`` calls of ``method`` fail.

        ``method`` is a Web API method, or ``"webhook"``, ``"response_url"``,
        ``"upload_url"`` for the non-API endpoints. Defaults for ``error``: HTTP 200/429 ->
        ``ratelimited`` (webhooks: ``rate_limited``), 5xx -> ``internal_error``, 404 ->
        ``no_service``. HTTP 429 always carries ``Retry-After`` (default 1). ``body``
        replaces the JSON body with raw text (e.g. an HTML 503 page).
        """
        fault = Fault(
            method=method,
            error=error,
            status=status,
            retry_after=retry_after,
            remaining=count,
            delay=delay,
            match=match,
            body=body,
        )
        self._faults.append(fault)
        return fault

    def lose_next_response(
        self, method: str, match: Callable[[dict[str, Any]], bool] | None = None
    ) -> LostResponse:
        """The next matching call of ``method`` succeeds in Slack, but its response is held
        until ``release`` is set: "posted, then the poster died before it knew"."""
        lost = LostResponse(method, match)
        self._lost.append(lost)
        return lost

    def take_lost(self, method: str, args: dict[str, Any]) -> LostResponse | None:
        for lost in self._lost:
            if lost.method == method and (lost.match is None or lost.match(args)):
                self._lost.remove(lost)
                lost.taken = True
                return lost
        return None

    def take(self, method: str, args: dict[str, Any]) -> Fault | None:
        for fault in self._faults:
            if (
                fault.method == method
                and fault.remaining > 0
                and (fault.match is None or fault.match(args))
            ):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def enable_rate_limits(
        self,
        methods: Iterable[str] | None = None,
        overrides: Mapping[str, limits.RateLimit] | None = None,
    ) -> None:
        """Turn on tier enforcement (all known methods, or only ``methods``)."""
        self._limiter.configure(methods, overrides)
        self.rate_limits_enabled = True

    def disable_rate_limits(self) -> None:
        self.rate_limits_enabled = False

    def rate_limit(
        self, method: str, bucket: str | None, *, count_as: str | None = None
    ) -> int | None:
        """Seconds to wait if this call exceeds ``method``'s tier (the 429 is counted under
        ``count_as``, default ``method``), else None."""
        if not self.rate_limits_enabled:
            return None
        retry_after = self._limiter.check(method, bucket)
        if retry_after is not None:
            self.rate_limited[count_as or method] += 1
        return retry_after

    def response(self, fault: Fault, *, api: bool, method: str) -> web.Response:
        """The failure as Slack sends it: JSON for the Web API, plain text for hooks."""
        status = fault.status
        error = fault.error
        if error is None:
            if status in (200, 429):
                error = "ratelimited" if api else "rate_limited"
            elif status >= 500:
                error = "internal_error"
            elif status == 404:
                error = "no_service" if not api else "not_found"
            else:
                error = "fatal_error"
        headers = {}
        if status == 429 or fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
        if status == 429:
            self.rate_limited[method] += 1
        if fault.body is not None:
            return web.Response(
                status=status, text=fault.body, content_type="text/html", headers=headers
            )
        if api:
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        return web.Response(status=status, text=error, headers=headers)
