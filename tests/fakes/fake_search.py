"""Fake web search backends on 127.0.0.1: DuckDuckGo's HTML page, Brave's and Tavily's JSON.

* ``GET /html/?q=`` — DuckDuckGo HTML with ``a.result__a`` links wrapped as ``/l/?uddg=…``
  redirects and ``a.result__snippet`` snippets (``ddg_mode="plain"`` serves a page with only
  generic links, exercising the fallback);
* ``GET /brave?q=&count=`` — ``{"web": {"results": [{title, url, description}]}}``, requires
  ``X-Subscription-Token``;
* ``POST /tavily`` — ``{"results": [{title, url, content}]}``, requires a bearer token.

``results`` is the list of ``(title, url, snippet)`` every backend returns; ``requests`` records
``(path_qs, headers)``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from tests.fakes.server import FakeServer, Middleware

DEFAULT_RESULTS = [
    ("TRL SFT docs", "https://huggingface.co/docs/trl/sft_trainer", "Supervised fine-tuning."),
    ("LoRA paper", "https://arxiv.org/abs/2106.09685", "Low-rank adaptation of LLMs."),
    ("Blog: fine-tune", "https://blog.example.com/finetune", "A blog post."),
    ("Dup", "https://arxiv.org/abs/2106.09685/", "duplicate"),
]


class FakeSearch(FakeServer):
    def __init__(self, results: list[tuple[str, str, str]] | None = None):
        super().__init__()
        self.results = list(results or DEFAULT_RESULTS)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.ddg_mode = "results"
        self.status = 200

    def middlewares(self) -> list[Middleware]:
        return [self._mw]

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/html/", self._ddg)
        app.router.add_get("/brave", self._brave)
        app.router.add_post("/tavily", self._tavily)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.http_url

    @web.middleware
    async def _mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.path_qs, dict(request.headers)))
        if self.status != 200:
            return web.json_response({"error": "boom"}, status=self.status)
        return await handler(request)

    async def _ddg(self, request: web.Request) -> web.StreamResponse:
        if self.ddg_mode == "plain":
            links = "".join(f'<p><a href="{u}">{t}</a></p>' for t, u, _ in self.results)
            links += '<a href="https://duckduckgo.com/settings">Settings</a>'
            return web.Response(text=f"<html><body>{links}</body></html>", content_type="text/html")
        items = "".join(
            '<div class="result results_links web-result"><h2 class="result__title">'
            f'<a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg={quote(u, safe="")}&amp;rut=x">{t}</a>'
            f'</h2><a class="result__snippet" href="#">{s}</a></div>'
            for t, u, s in self.results
        )
        return web.Response(text=f"<html><body>{items}</body></html>", content_type="text/html")

    async def _brave(self, request: web.Request) -> web.StreamResponse:
        if not request.headers.get("X-Subscription-Token"):
            return web.json_response({"error": "no key"}, status=401)
        items = [{"title": t, "url": u, "description": s} for t, u, s in self.results]
        return web.json_response({"web": {"results": items}})

    async def _tavily(self, request: web.Request) -> web.StreamResponse:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return web.json_response({"error": "no key"}, status=401)
        body = await request.json()
        items = [{"title": t, "url": u, "content": s} for t, u, s in self.results]
        return web.json_response({"query": body.get("query"), "results": items})
