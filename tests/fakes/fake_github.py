"""A fake GitHub REST API on 127.0.0.1 for the GitHub tools (aiohttp).

Routes, with the real API's shapes (only the fields the tools read, plus a few more):

* ``GET /repos/{o}/{r}`` → ``{full_name, default_branch, ...}`` or 404 ``{"message": "Not Found"}``
* ``GET /repos/{o}/{r}/git/trees/{branch}?recursive=1`` → ``{sha, tree: [{path, type}], truncated}``
* ``GET /repos/{o}/{r}/contents/{path}?ref=`` → a file ``{type: "file", encoding: "base64",
  content}`` (base64 with newlines every 60 chars, like GitHub), a directory listing (a JSON
  list), or — for files marked ``large`` — ``encoding: "none"`` with empty content; with
  ``Accept: application/vnd.github.raw`` the raw bytes.
* ``GET /orgs/{o}/repos`` and ``/users/{o}/repos`` with ``per_page``/``page`` and RFC 5988
  ``Link: <…>; rel="next"`` headers (``sort``/``direction`` honoured for updated/created).
* ``GET /search/repositories?q=`` → ``{total_count, items: [{full_name}]}`` (substring match).

Switches: ``rate_limited`` = ``"primary"`` (403 with ``X-RateLimit-Remaining: 0`` and
``X-RateLimit-Reset``) or ``"secondary"`` (429 with ``Retry-After``). Every request is recorded
in ``requests`` as ``(path_qs, headers)``.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer, Middleware


@dataclass
class FakeRepo:
    owner: str
    name: str
    files: dict[str, str] = field(default_factory=dict)
    default_branch: str = "main"
    stars: int = 0
    forks: int = 0
    updated_at: str = "2025-01-01T00:00:00Z"
    created_at: str = "2020-01-01T00:00:00Z"
    description: str = ""
    large: set[str] = field(default_factory=set)  # served without inline content
    owner_type: str = "org"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def summary(self) -> dict[str, Any]:
        return {
            "full_name": self.full_name,
            "name": self.name,
            "owner": {"login": self.owner},
            "default_branch": self.default_branch,
            "stargazers_count": self.stars,
            "forks_count": self.forks,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            "description": self.description,
            "html_url": f"https://github.com/{self.full_name}",
        }


class FakeGitHub(FakeServer):
    """``async with FakeGitHub() as gh:`` → ``gh.base_url``; add repos with :meth:`add_repo`."""

    def __init__(self) -> None:
        super().__init__()
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.rate_limited: str | None = None

    def add_repo(
        self, owner: str, name: str, files: dict[str, str] | None = None, **kw: Any
    ) -> FakeRepo:
        repo = FakeRepo(owner, name, dict(files or {}), **kw)
        self.repos[repo.full_name.lower()] = repo
        return repo

    def middlewares(self) -> list[Middleware]:
        return [self._middleware]

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/search/repositories", self._search)
        r.add_get("/orgs/{owner}/repos", self._list)
        r.add_get("/users/{owner}/repos", self._list)
        r.add_get("/repos/{owner}/{repo}", self._repo)
        r.add_get("/repos/{owner}/{repo}/git/trees/{branch}", self._tree)
        r.add_get("/repos/{owner}/{repo}/contents/{path:.*}", self._contents)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.http_url

    # ------------------------------------------------------------------ plumbing
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.path_qs, dict(request.headers)))
        if self.rate_limited == "primary":
            reset = int(time.time()) + 600
            return web.json_response(
                {"message": "API rate limit exceeded for 127.0.0.1."},
                status=403,
                headers={
                    "X-RateLimit-Limit": "60",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
            )
        if self.rate_limited == "secondary":
            return web.json_response(
                {"message": "You have exceeded a secondary rate limit."},
                status=429,
                headers={"Retry-After": "42"},
            )
        return await handler(request)

    def _get_repo(self, request: web.Request) -> FakeRepo:
        key = f"{request.match_info['owner']}/{request.match_info['repo']}".lower()
        repo = self.repos.get(key)
        if repo is None:
            raise web.HTTPNotFound(
                text='{"message": "Not Found", "status": "404"}', content_type="application/json"
            )
        return repo

    # ------------------------------------------------------------------ routes
    async def _repo(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._get_repo(request).summary())

    async def _tree(self, request: web.Request) -> web.StreamResponse:
        repo = self._get_repo(request)
        if request.match_info["branch"] != repo.default_branch:
            raise web.HTTPNotFound(text='{"message": "Not Found"}', content_type="application/json")
        paths: dict[str, str] = {}
        for path in repo.files:
            parts = path.split("/")
            for i in range(1, len(parts)):
                paths["/".join(parts[:i])] = "tree"
            paths[path] = "blob"
        tree = [{"path": p, "type": t, "mode": "100644"} for p, t in sorted(paths.items())]
        if request.query.get("recursive") != "1":
            tree = [e for e in tree if "/" not in e["path"]]
        return web.json_response({"sha": "abc123", "tree": tree, "truncated": False})

    async def _contents(self, request: web.Request) -> web.StreamResponse:
        repo = self._get_repo(request)
        path = request.match_info["path"].strip("/")
        if path in repo.files:
            data = repo.files[path].encode()
            if "application/vnd.github.raw" in request.headers.get("Accept", ""):
                return web.Response(body=data, content_type="text/plain")
            if path in repo.large:
                return web.json_response(
                    {
                        "type": "file",
                        "path": path,
                        "encoding": "none",
                        "content": "",
                        "size": len(data),
                    }
                )
            b64 = base64.b64encode(data).decode()
            wrapped = "\n".join(b64[i : i + 60] for i in range(0, len(b64), 60))
            return web.json_response(
                {
                    "type": "file",
                    "path": path,
                    "encoding": "base64",
                    "content": wrapped,
                    "size": len(data),
                }
            )
        prefix = path + "/" if path else ""
        children = {p[len(prefix) :].split("/")[0]: p for p in repo.files if p.startswith(prefix)}
        if not children:
            raise web.HTTPNotFound(text='{"message": "Not Found"}', content_type="application/json")
        listing = [
            {"name": n, "path": prefix + n, "type": "file" if prefix + n in repo.files else "dir"}
            for n in sorted(children)
        ]
        return web.json_response(listing)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        owner = request.match_info["owner"].lower()
        kind = "org" if request.path.startswith("/orgs/") else "user"
        repos = [
            r for r in self.repos.values() if r.owner.lower() == owner and r.owner_type == kind
        ]
        if not repos:
            raise web.HTTPNotFound(text='{"message": "Not Found"}', content_type="application/json")
        sort = request.query.get("sort")
        if sort in ("updated", "created"):
            key = "updated_at" if sort == "updated" else "created_at"
            repos.sort(
                key=lambda r: getattr(r, key), reverse=request.query.get("direction") != "asc"
            )
        else:
            repos.sort(key=lambda r: r.name)
        per_page = int(request.query.get("per_page", "30"))
        page = int(request.query.get("page", "1"))
        chunk = repos[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(repos):
            q = dict(request.query)
            q["page"] = str(page + 1)
            nxt = request.url.with_query(q)
            headers["Link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
        return web.json_response([r.summary() for r in chunk], headers=headers)

    async def _search(self, request: web.Request) -> web.StreamResponse:
        q = request.query.get("q", "")
        words = [w for w in q.split() if ":" not in w]
        scope = [w.split(":", 1)[1].lower() for w in q.split() if w.startswith(("user:", "org:"))]
        items = [
            r.summary()
            for r in self.repos.values()
            if (not scope or r.owner.lower() in scope)
            and all(w.lower() in r.name.lower() or r.name.lower() in w.lower() for w in words)
        ]
        return web.json_response(
            {"total_count": len(items), "incomplete_results": False, "items": items}
        )
