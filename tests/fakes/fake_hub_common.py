"""Shared plumbing for the fake Hugging Face Hub (see ``tests/fakes/fake_hub.py``).

Why a separate module: the repo, jobs and content services all need the same small set of
primitives (users, tokens, the JSON error format ``huggingface_hub`` maps to typed exceptions,
a raw-path router, timestamps and ids). Keeping them here avoids import cycles between the
services and the ``FakeHub`` class that wires them together.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote

from aiohttp import web

# ---------------------------------------------------------------------------
# Time, ids, hashes
# ---------------------------------------------------------------------------


def utcnow() -> datetime:
    """Wall-clock "now" in UTC (timestamps in JSON bodies; stage timing uses the hub clock)."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Format like the Hub does (``2025-07-22T16:06:25.079Z``); ``parse_datetime`` needs the ``Z``."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_oid_counter = itertools.count(int.from_bytes(secrets.token_bytes(3), "big"))


def object_id() -> str:
    """A 24-hex id shaped like the Mongo ObjectIds the Hub uses for jobs, users and discussions."""
    return f"{int(time.time()):08x}{secrets.token_hex(5)}{next(_oid_counter) & 0xFFFFFF:06x}"


def random_sha() -> str:
    """A 40-hex commit id (commit ids are opaque to the client; only the format is checked)."""
    return secrets.token_hex(20)


def git_blob_oid(data: bytes) -> str:
    """Git blob sha1 — what the Hub sends as ``oid``/``ETag`` for regular (non-LFS) files.

    ``huggingface_hub`` computes the same value client-side (``sha.git_hash``) to skip no-op
    uploads, so the fake must use the real algorithm for that code path to behave.
    """
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# ---------------------------------------------------------------------------
# Users and tokens
# ---------------------------------------------------------------------------


@dataclass
class FakeUser:
    """A Hub user; ``orgs`` are the organisations the user may act for (repos, jobs)."""

    name: str
    fullname: str
    orgs: tuple[str, ...] = ()
    id: str = field(default_factory=object_id)
    email: str | None = None
    is_pro: bool = False
    can_pay: bool = True

    @property
    def namespaces(self) -> set[str]:
        """Namespaces this user can write to: their own plus every org they belong to."""
        return {self.name, *self.orgs}

    def author_json(self) -> dict[str, Any]:
        """The ``author`` object embedded in discussions and events."""
        return {
            "_id": self.id,
            "avatarUrl": f"/avatars/{self.name}.svg",
            "fullname": self.fullname,
            "name": self.name,
            "type": "user",
            "isPro": self.is_pro,
            "isHf": False,
            "isMod": False,
            "followerCount": 0,
        }


TokenRole = Literal["read", "write"]


@dataclass(frozen=True)
class TokenInfo:
    """A valid access token: who it belongs to and whether it can write."""

    token: str
    user: str
    role: TokenRole = "write"


@dataclass(frozen=True)
class Auth:
    """The authenticated caller of one request."""

    user: FakeUser
    role: TokenRole
    token: str

    @property
    def can_write(self) -> bool:
        return self.role == "write"


# ---------------------------------------------------------------------------
# Errors: the JSON body + headers that ``hf_raise_for_status`` turns into typed exceptions
# ---------------------------------------------------------------------------


def _header_safe(text: str) -> str:
    """HTTP header values must be latin-1; keep messages ASCII and single-line."""
    return text.encode("ascii", "replace").decode("ascii").replace("\n", " ").replace("\r", " ")


def error_response(
    status: int,
    message: str,
    *,
    error_code: str | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> web.Response:
    """Build a Hub-style error.

    The client reads ``X-Error-Code`` (``RepoNotFound``, ``GatedRepo``, ``RevisionNotFound``,
    ``EntryNotFound``) to pick the exception class, and ``X-Error-Message`` plus the JSON
    ``{"error": ...}`` body for the message, so both are always sent.
    """
    hdrs = {"X-Error-Message": _header_safe(message)}
    if error_code:
        hdrs["X-Error-Code"] = error_code
    hdrs.update(headers or {})
    return web.json_response(
        {"error": message} if body is None else body, status=status, headers=hdrs
    )


class HubError(Exception):
    """Raise inside a handler to answer with a Hub-style error response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers
        self.body = body

    def to_response(self) -> web.Response:
        return error_response(
            self.status,
            self.message,
            error_code=self.error_code,
            headers=self.headers,
            body=self.body,
        )


INVALID_CREDENTIALS = "Invalid credentials in Authorization header"

#: Where the dispatcher stores the caller's ``Auth`` (or ``None``) on each request.
AUTH_KEY: web.RequestKey[Auth | None] = web.RequestKey("fake_hub_auth")


def request_auth(request: web.Request) -> Auth | None:
    """The authenticated caller of ``request`` (``None`` when anonymous)."""
    return request.get(AUTH_KEY)


async def read_json(request: web.Request, default: Any = None) -> Any:
    """Parse the JSON body; ``default`` (``{}`` if not given) for an empty body, 400 if invalid.

    The dispatcher has already read the body (to record it), so ``request.can_read_body`` is
    False afterwards; ``request.read()`` returns the cached bytes.
    """
    import json as _json

    raw = await request.read()
    if not raw.strip():
        return {} if default is None else default
    try:
        return _json.loads(raw)
    except ValueError as e:
        raise HubError(400, f"Invalid JSON body: {e}") from e


# ---------------------------------------------------------------------------
# Routing on the *raw* path
# ---------------------------------------------------------------------------

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


@dataclass
class Route:
    """One route. ``pattern`` uses ``{name}`` for one segment and ``{name:regex}`` otherwise."""

    methods: frozenset[str]
    pattern: str
    handler: Handler
    name: str
    regex: re.Pattern[str]


def _compile(pattern: str) -> re.Pattern[str]:
    out = []
    pos = 0
    for m in re.finditer(r"\{(\w+)(?::([^{}]+))?\}", pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>{m.group(2) or '[^/]+'})")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out))


class Router:
    """A tiny router that matches the *undecoded* request path.

    Why not aiohttp's router: ``huggingface_hub`` percent-encodes revisions and tree paths with
    ``quote(x, safe="")`` (``refs%2Fpr%2F1``, ``dir%2Ffile.txt``) but leaves ``/`` in resolve
    paths. Matching the raw path and unquoting each captured group afterwards keeps both forms
    unambiguous.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, methods: str, pattern: str, handler: Handler, name: str | None = None) -> None:
        """Register ``handler`` for space-separated ``methods`` (GET also answers HEAD)."""
        meths = set(methods.upper().split())
        if "GET" in meths:
            meths.add("HEAD")
        self.routes.append(
            Route(frozenset(meths), pattern, handler, name or pattern, _compile(pattern))
        )

    def resolve(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | str | None:
        """Return ``(route, params)``, ``"405"`` if only the method is wrong, or ``None``."""
        path_matched = False
        for route in self.routes:
            m = route.regex.fullmatch(raw_path)
            if m is None:
                continue
            if method.upper() not in route.methods:
                path_matched = True
                continue
            params = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
            return route, params
        return "405" if path_matched else None


# ---------------------------------------------------------------------------
# Recorded requests
# ---------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """Everything the fake saw for one HTTP request (kept in ``FakeHub.requests``)."""

    index: int
    method: str
    path: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    json: Any
    time: float
    user: str | None = None
    route: str | None = None
    status: int | None = None

    @property
    def params(self) -> dict[str, str]:
        """First value of each query parameter."""
        out: dict[str, str] = {}
        for k, v in self.query:
            out.setdefault(k, v)
        return out

    def param_list(self, name: str) -> list[str]:
        """Every value of a repeated query parameter (``stage=``, ``label=``, ``filter=``)."""
        return [v for k, v in self.query if k == name]

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def ndjson(self) -> list[Any]:
        """Parsed NDJSON lines (the commit endpoint's payload)."""
        import json as _json

        return [_json.loads(line) for line in self.text.splitlines() if line.strip()]


@dataclass
class FaultRule:
    """An injected failure or delay for requests whose path starts with ``path_prefix``."""

    path_prefix: str
    status: int | None = None
    method: str | None = None
    message: str = "Injected failure"
    error_code: str | None = None
    headers: dict[str, str] | None = None
    body: Any = None
    delay: float = 0.0
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return path.startswith(self.path_prefix)


class ManualClock:
    """A controllable monotonic clock: pass ``FakeHub(clock=ManualClock())`` and call ``advance``.

    With it, job stages only move when the test advances time (``hub.advance(secs)``), which
    makes stage-timing assertions exact instead of racing the wall clock.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds
        return self._now


def json_or_none(body: bytes) -> Any:
    """Best-effort JSON decode of a request body (``None`` for NDJSON, forms, binary)."""
    import json as _json

    if not body:
        return None
    try:
        return _json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def bool_param(value: str | None) -> bool:
    """Query-string booleans as the client sends them (``True``/``true``/``1``)."""
    return value is not None and value.lower() in ("1", "true", "yes")
