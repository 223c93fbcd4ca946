"""A fake Hugging Face Hub on 127.0.0.1 that real ``HfApi(endpoint=hub.url, token=...)`` calls work
against unchanged.

Why: the agent's Hub tools (jobs, repo files/git, dataset inspection, papers, docs) must be
tested end to end through the real ``huggingface_hub`` client — its URL building, JSON parsing
and error mapping are part of what we rely on — without the network. The fake serves the same
routes and JSON shapes as huggingface.co (checked against huggingface_hub 1.33 sources) plus the
datasets-server (``{url}/datasets-server``), papers, docs and an arXiv-like HTML page.

Quick start::

    async with FakeHub() as hub:                        # in the test's event loop
        api = HfApi(endpoint=hub.url, token=ALICE_TOKEN)
        job = await asyncio.to_thread(api.run_job, image="python:3.12",
                                      command=["python", "train.py"], namespace="alice")
        await hub.wait_for(lambda: hub.jobs.get(job.id).stage == "COMPLETED")

    with FakeHub().run_in_thread() as hub:              # for synchronous tests
        HfApi(endpoint=hub.url, token=ALICE_TOKEN).whoami()

    python -m tests.fakes.fake_hub --port 0             # prints "READY http://127.0.0.1:PORT"

Traps when pointing ``huggingface_hub`` at it: never set ``HF_HUB_OFFLINE`` (it also blocks
loopback); always pass ``namespace=`` to jobs calls (``list_jobs`` without it calls the
module-level ``whoami`` that ignores the HfApi's endpoint and token); ``HF_ENDPOINT`` is read at
import time, so prefer explicit ``HfApi(endpoint=...)`` instances.

Requests are recorded in ``hub.requests`` (see ``RecordedRequest``) so tests can assert what
went over the wire — e.g. ``hub.token_locations(token)`` to prove a token only travelled in the
``Authorization`` header and the jobs ``secrets`` field.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from .fake_hub_common import (
    AUTH_KEY,
    INVALID_CREDENTIALS,
    Auth,
    FakeUser,
    FaultRule,
    HubError,
    ManualClock,
    RecordedRequest,
    Router,
    TokenInfo,
    TokenRole,
    error_response,
    json_or_none,
    object_id,
    request_auth,
)
from .fake_hub_content import ContentService, DocsStore, FakePaper, PaperStore, seed_default_repos
from .fake_hub_jobs import DEFAULT_HARDWARE, FakeJob, FakeJobs, JobScript, training_log_lines
from .fake_hub_repos import FakeRepo, RepoService, RepoStore
from .server import FakeServer, serve_until_signalled

log = logging.getLogger("tests.fakes.fake_hub")
T = TypeVar("T")

#: Default tokens. They look like real HF tokens (``hf_`` + 34 chars) so redaction logic that
#: matches ``hf_[A-Za-z0-9]{34}`` treats them like the real thing.
ALICE_TOKEN = "hf_FakeAliceToken000000000000000001"
ALICE_READ_TOKEN = "hf_FakeAliceReadOnly00000000000002"
BOB_TOKEN = "hf_FakeBobToken0000000000000000003"
INVALID_TOKEN = "hf_NotAValidToken00000000000000099"

DEFAULT_ORGS: dict[str, dict[str, Any]] = {
    "acme-ml": {"fullname": "Acme ML", "id": "6500000000000000000ac4e0"},
    "huggingface": {"fullname": "Hugging Face", "id": "5e67bd5b1009063689407478"},
}


def _default_users() -> dict[str, FakeUser]:
    return {
        "alice": FakeUser(
            name="alice",
            fullname="Alice Liddell",
            orgs=("acme-ml",),
            id="64f0000000000000000a11ce",
            email="alice@example.com",
            is_pro=True,
        ),
        "bob": FakeUser(
            name="bob",
            fullname="Bob Builder",
            id="64f00000000000000000b0b0",
            email="bob@example.com",
        ),
    }


def _default_tokens() -> dict[str, TokenInfo]:
    return {
        ALICE_TOKEN: TokenInfo(ALICE_TOKEN, "alice", "write"),
        ALICE_READ_TOKEN: TokenInfo(ALICE_READ_TOKEN, "alice", "read"),
        BOB_TOKEN: TokenInfo(BOB_TOKEN, "bob", "write"),
    }


class FakeHub(FakeServer):
    """The fake Hub server. See the module docstring for usage.

    Public state and controls:

    * ``url`` (``http://127.0.0.1:PORT``), ``datasets_server_url``, ``arxiv_html_url``, ``docs_url``
    * ``users`` / ``tokens`` / ``add_user`` / ``add_token``
    * ``repos`` (``RepoStore``), ``jobs`` (``FakeJobs``), ``papers`` (``PaperStore``),
      ``docs`` (``DocsStore``)
    * ``requests`` (``list[RecordedRequest]``), ``count``, ``requests_to``, ``token_locations``
    * ``wait_for`` / ``wait_for_sync`` / ``wait_for_request`` — condition waits, no sleeping
    * ``inject_error`` / ``inject_delay`` / ``clear_faults`` — fault injection by path prefix
    * ``clock`` / ``advance`` — the stage clock (``ManualClock`` for exact timing)
    """

    client_max_size = 1024**3  # repo uploads

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        schedule_secs: float = 0.05,
        run_secs: float = 0.3,
        metrics_secs: float = 0.05,
        keepalive_secs: float = 30.0,
        tick_secs: float = 0.01,
        clock: Callable[[], float] | None = None,
        users: dict[str, FakeUser] | None = None,
        tokens: dict[str, str | TokenInfo] | None = None,
        orgs: dict[str, dict[str, Any]] | None = None,
        billing_required: tuple[str, ...] | set[str] = (),
        default_logs: list[str] | None = None,
        seed: bool = True,
        list_page_size: int = 1000,
    ) -> None:
        super().__init__(host=host, port=port)
        self.clock: Callable[[], float] = clock or time.monotonic
        self.tick_secs = tick_secs
        self.list_page_size = list_page_size
        self.users: dict[str, FakeUser] = users if users is not None else _default_users()
        self.orgs: dict[str, dict[str, Any]] = dict(DEFAULT_ORGS if orgs is None else orgs)
        self.tokens: dict[str, TokenInfo] = {}
        for tok, info in (tokens if tokens is not None else _default_tokens()).items():
            self.tokens[tok] = info if isinstance(info, TokenInfo) else TokenInfo(tok, info)
        for user in self.users.values():
            for org in user.orgs:
                self.orgs.setdefault(org, {"fullname": org, "id": object_id()})

        self.requests: list[RecordedRequest] = []
        self.faults: list[FaultRule] = []
        self.repos = RepoStore()
        self.papers = PaperStore(seed=seed)
        self.docs = DocsStore(seed=seed)
        if seed:
            seed_default_repos(self.repos)
        self.jobs = FakeJobs(
            self,
            schedule_secs=schedule_secs,
            run_secs=run_secs,
            metrics_secs=metrics_secs,
            keepalive_secs=keepalive_secs,
            default_logs=default_logs,
            billing_required=billing_required,
        )
        self.router = Router()
        RepoService(self, self.repos).register(self.router)
        ContentService(self, self.papers, self.docs, self.repos).register(self.router)
        self.jobs.register(self.router)
        self.router.add("GET", "/api/whoami-v2", self._whoami, "whoami")

        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._waiters: set[asyncio.Future[None]] = set()
        self.closing = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:PORT``); pass it as ``HfApi(endpoint=...)``."""
        return self.http_url

    @property
    def datasets_server_url(self) -> str:
        return f"{self.url}/datasets-server"

    @property
    def arxiv_html_url(self) -> str:
        return f"{self.url}/arxiv-html"

    @property
    def docs_url(self) -> str:
        return f"{self.url}/docs"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._dispatch)

    async def on_started(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.closing = False
        self._ticker = self._loop.create_task(self._tick_loop())

    async def on_stopping(self) -> None:
        """Open log/metrics streams are closed first so shutdown is quick."""
        self.closing = True
        self.notify()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    # ------------------------------------------------------------------ thread/loop helpers

    def _in_loop(self) -> bool:
        return self._loop is None or threading.get_ident() == self._loop_thread

    def call_in_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server loop (state is only mutated there) and return its result."""
        loop = self._loop
        if self._in_loop() or loop is None or not loop.is_running():
            return fn()
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def runner() -> None:
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)

        loop.call_soon_threadsafe(runner)
        return fut.result(timeout=10)

    def notify(self) -> None:
        """Wake every ``wait_for``/stream waiting for a state change."""
        if not self._in_loop() and self._loop is not None:
            self._loop.call_soon_threadsafe(self.notify)
            return
        waiters, self._waiters = self._waiters, set()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_change(self, timeout: float) -> None:
        """Wait (in the server loop) until the next ``notify`` or ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait({fut}, timeout=timeout)
        finally:
            self._waiters.discard(fut)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_secs)
            try:
                if self.jobs.refresh_all():
                    self.notify()
            except Exception:  # pragma: no cover - a bug here must not kill the ticker
                log.exception("fake hub ticker failed")

    def advance(self, seconds: float) -> None:
        """Advance a ``ManualClock`` and apply the job transitions that became due."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs FakeHub(clock=ManualClock())")

        def apply() -> None:
            assert isinstance(self.clock, ManualClock)
            self.clock.advance(seconds)
            self.jobs.refresh_all()
            self.notify()

        self.call_in_loop(apply)

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, *, poll: float = 0.05
    ) -> T:
        """Return ``predicate()``'s first truthy value; re-check on every hub state change (and
        every ``poll`` s for conditions on external state). Raises ``TimeoutError``.

        The predicate runs on the server loop, so it may read hub state freely.
        """
        loop = self._loop
        if loop is not None and asyncio.get_running_loop() is not loop:
            cf = asyncio.run_coroutine_threadsafe(self._wait_for(predicate, timeout, poll), loop)
            return await asyncio.wrap_future(cf)
        return await self._wait_for(predicate, timeout, poll)

    def wait_for_sync(
        self, predicate: Callable[[], T], timeout: float = 5.0, *, poll: float = 0.05
    ) -> T:
        """Blocking ``wait_for`` for synchronous tests using ``run_in_thread``."""
        if self._loop is None or self._in_loop():
            raise RuntimeError(
                "wait_for_sync needs the hub running in another thread (run_in_thread)"
            )
        cf = asyncio.run_coroutine_threadsafe(self._wait_for(predicate, timeout, poll), self._loop)
        return cf.result(timeout + 1)

    async def _wait_for(self, predicate: Callable[[], T], timeout: float, poll: float) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.jobs.refresh_all()
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            await self.wait_change(min(poll, remaining))

    async def wait_for_request(
        self,
        path_prefix: str,
        *,
        method: str | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """Wait until ``count`` matching requests arrived; return the last of them."""

        def check() -> RecordedRequest | None:
            hits = self.requests_to(path_prefix, method=method)
            return hits[count - 1] if len(hits) >= count else None

        result = await self.wait_for(check, timeout)
        assert result is not None
        return result

    # ------------------------------------------------------------------ users / auth

    def add_user(
        self,
        name: str,
        *,
        fullname: str | None = None,
        orgs: tuple[str, ...] = (),
        token: str | None = None,
        role: TokenRole = "write",
    ) -> str:
        """Add a user (and its orgs); returns a token for it."""
        self.users[name] = FakeUser(name=name, fullname=fullname or name.title(), orgs=tuple(orgs))
        for org in orgs:
            self.orgs.setdefault(org, {"fullname": org, "id": object_id()})
        token = token or ("hf_" + (f"Fake{name}Token" + "0" * 34)[:34])
        self.add_token(token, name, role)
        return token

    def add_token(self, token: str, user: str, role: TokenRole = "write") -> None:
        if user not in self.users:
            raise KeyError(f"unknown user {user!r}")
        self.tokens[token] = TokenInfo(token, user, role)

    def revoke_token(self, token: str) -> None:
        self.tokens.pop(token, None)

    def org_id(self, org: str) -> str:
        return str(self.orgs.get(org, {}).get("id") or object_id())

    def authenticate(self, request: web.Request) -> Auth | None:
        """``None`` for anonymous requests; 401 for a malformed/unknown token (even on public
        routes, like the real Hub)."""
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        info = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if info is None:
            raise HubError(401, INVALID_CREDENTIALS)
        return Auth(user=self.users[info.user], role=info.role, token=info.token)

    def require_auth(self, request: web.Request, *, write: bool = False) -> Auth:
        auth = request_auth(request)
        if auth is None:
            raise HubError(401, "You must be authenticated to access this resource")
        if write and not auth.can_write:
            raise HubError(403, "This action requires a token with write access")
        return auth

    async def _whoami(self, request: web.Request, p: dict[str, str]) -> web.Response:
        auth = self.require_auth(request)
        user = auth.user
        orgs = [
            {
                "type": "org",
                "id": self.org_id(org),
                "name": org,
                "fullname": self.orgs.get(org, {}).get("fullname", org),
                "email": None,
                "canPay": True,
                "avatarUrl": f"/avatars/{org}.svg",
                "roleInOrg": "write",
                "isEnterprise": False,
                "periodEnd": None,
            }
            for org in user.orgs
        ]
        return web.json_response(
            {
                "type": "user",
                "id": user.id,
                "name": user.name,
                "fullname": user.fullname,
                "email": user.email,
                "emailVerified": True,
                "canPay": user.can_pay,
                "isPro": user.is_pro,
                "periodEnd": None,
                "avatarUrl": f"/avatars/{user.name}.svg",
                "orgs": orgs,
                "auth": {
                    "type": "access_token",
                    "accessToken": {
                        "displayName": f"fake-{auth.role}-token",
                        "role": auth.role,
                        "createdAt": "2025-01-01T00:00:00.000Z",
                    },
                },
            }
        )

    # ------------------------------------------------------------------ faults

    def inject_error(
        self,
        path_prefix: str,
        status: int = 500,
        *,
        method: str | None = None,
        message: str = "Injected failure",
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int | None = None,
        delay: float = 0.0,
    ) -> FaultRule:
        """Answer requests whose path starts with ``path_prefix`` with an error (``times`` caps it)."""
        rule = FaultRule(
            path_prefix=path_prefix,
            status=status,
            method=method,
            message=message,
            error_code=error_code,
            headers=headers,
            body=body,
            times=times,
            delay=delay,
        )
        self.faults.append(rule)
        return rule

    def inject_delay(
        self,
        path_prefix: str,
        seconds: float,
        *,
        method: str | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Delay matching requests by ``seconds`` before handling them normally."""
        rule = FaultRule(
            path_prefix=path_prefix, status=None, method=method, delay=seconds, times=times
        )
        self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------------ request log

    def requests_to(
        self, path_prefix: str = "", *, method: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests whose decoded path starts with ``path_prefix``."""
        return [
            r
            for r in list(self.requests)
            if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())
        ]

    def count(self, path_prefix: str = "", *, method: str | None = None) -> int:
        """How many requests hit paths starting with ``path_prefix``."""
        return len(self.requests_to(path_prefix, method=method))

    def count_by_route(self) -> dict[str, int]:
        """Request counts keyed by route name (``jobs.inspect``, ``repos.commit``, ...)."""
        out: dict[str, int] = {}
        for r in list(self.requests):
            out[r.route or "unmatched"] = out.get(r.route or "unmatched", 0) + 1
        return out

    def token_locations(self, token: str) -> set[str]:
        """Where ``token`` appeared in recorded requests, e.g. ``{"header:authorization",
        "json:secrets.HF_TOKEN"}`` — anything else (query, body, other headers) is a leak."""
        found: set[str] = set()

        def walk(obj: Any, where: str) -> None:
            if isinstance(obj, dict):
                for k, v in obj.items():
                    walk(v, f"{where}.{k}" if where else str(k))
            elif isinstance(obj, list):
                for i, v in enumerate(obj):
                    walk(v, f"{where}[{i}]")
            elif isinstance(obj, str) and token in obj:
                found.add(f"json:{where}")

        for r in list(self.requests):
            for name, value in r.headers.items():
                if token in value:
                    found.add(f"header:{name}")
            for name, value in r.query:
                if token in value or token in name:
                    found.add(f"query:{name}")
            if token.encode() in r.body:
                if r.json is not None:
                    walk(r.json, "")
                else:
                    found.add(f"body:{r.path}")
            if token in r.raw_path:
                found.add("path")
        return found

    # ------------------------------------------------------------------ responses

    def paginated(
        self,
        request: web.Request,
        items: list[Any],
        *,
        limit: str | int | None = None,
        page_size: int | None = None,
    ) -> web.Response:
        """JSON list with GitHub-style ``Link: <...>; rel="next"`` pagination (what ``paginate``
        in huggingface_hub follows). An explicit ``limit`` returns one page of that size."""
        q = request.rel_url.query
        start = int(q.get("cursor", "0") or 0)
        if limit is not None:
            return web.json_response(items[start : start + int(limit)])
        size = page_size or self.list_page_size
        page = items[start : start + size]
        headers = {}
        if start + size < len(items):
            nxt = self.url + str(request.rel_url.update_query({"cursor": str(start + size)}))
            headers["Link"] = f'<{nxt}>; rel="next"'
        return web.json_response(page, headers=headers)

    # ------------------------------------------------------------------ dispatch

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rec = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=request.path,
            raw_path=request.rel_url.raw_path,
            query=list(request.rel_url.query.items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            json=json_or_none(body),
            time=self.clock(),
        )
        self.requests.append(rec)
        try:
            resp = await self._handle(request, rec)
        except HubError as e:
            resp = e.to_response()
        except web.HTTPException:
            raise
        except Exception as e:
            log.exception("fake hub handler crashed on %s %s", request.method, request.path)
            resp = error_response(500, f"Fake Hub internal error: {type(e).__name__}: {e}")
        rec.status = resp.status
        self.notify()
        return resp

    async def _handle(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        for rule in self.faults:
            if rule.matches(request.method, request.path):
                rule.hits += 1
                if rule.delay:
                    await asyncio.sleep(rule.delay)
                if rule.status is not None:
                    rec.route = "fault"
                    return error_response(
                        rule.status,
                        rule.message,
                        error_code=rule.error_code,
                        headers=rule.headers,
                        body=rule.body,
                    )
                break
        auth = self.authenticate(request)
        request[AUTH_KEY] = auth
        rec.user = auth.user.name if auth else None
        resolved = self.router.resolve(request.method, request.rel_url.raw_path)
        if resolved == "405":
            raise HubError(405, f"Method {request.method} not allowed on {request.path}")
        if resolved is None:
            raise HubError(404, "Sorry, we can't find the page you are looking for.")
        assert not isinstance(resolved, str)
        route, params = resolved
        rec.route = route.name
        return await route.handler(request, params)


# ---------------------------------------------------------------------------
# CLI (benchmarks): python -m tests.fakes.fake_hub --port 0
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the fake Hugging Face Hub.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--schedule-secs", type=float, default=0.05)
    parser.add_argument("--run-secs", type=float, default=0.3)
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN=USER",
        help="extra valid token for an existing or new user (repeatable)",
    )
    args = parser.parse_args(argv)

    async def serve() -> None:
        hub = FakeHub(
            host=args.host, port=args.port, schedule_secs=args.schedule_secs, run_secs=args.run_secs
        )
        for spec in args.token:
            token, _, user = spec.partition("=")
            if user not in hub.users:
                hub.add_user(user, token=token)
            else:
                hub.add_token(token, user)
        await serve_until_signalled(hub, lambda: hub.url)

    asyncio.run(serve())
    return 0


__all__ = [
    "ALICE_READ_TOKEN",
    "ALICE_TOKEN",
    "BOB_TOKEN",
    "DEFAULT_HARDWARE",
    "INVALID_TOKEN",
    "FakeHub",
    "FakeJob",
    "FakePaper",
    "FakeRepo",
    "FakeUser",
    "JobScript",
    "ManualClock",
    "RecordedRequest",
    "training_log_lines",
]

if __name__ == "__main__":
    sys.exit(main())
