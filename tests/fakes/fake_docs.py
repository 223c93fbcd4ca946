"""A tiny fake of huggingface.co/docs on 127.0.0.1, for the docs tools.

Serves what ``explore_hf_docs`` / ``fetch_hf_docs`` read from the real site:

* ``GET /docs/{section}`` — an HTML page whose ``<nav>`` sidebar links the section's pages
  under ``<h3>`` group headings (plus a footer link outside the nav that must be ignored, and a
  versioned duplicate link that must be skipped);
* ``GET /docs/{section}/{page}.md`` — the page as Markdown;
* ``GET /docs/{section}/{page}`` — the page as HTML;
* ``GET /redirect?to=<url>`` — a 302 to any URL (to check the token is not carried off-origin).

Every request is recorded in ``requests`` as ``(path_qs, headers)`` so tests can assert which
requests carried an ``Authorization`` header. (The shared fake Hub may grow the same routes;
this module keeps the docs tests independent of it.)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer, Middleware

DEFAULT_PAGES: dict[str, dict[str, tuple[str, str, str]]] = {
    # section -> page slug -> (group heading, title, markdown body)
    "trl": {
        "index": ("Get started", "TRL", "# TRL\n\nTRL trains transformer language models."),
        "sft_trainer": (
            "Trainers",
            "SFT Trainer",
            "# SFT Trainer\n\nSupervised fine-tuning with SFTTrainer. Use SFTConfig to set the "
            "learning rate, packing and max_length. The dataset needs a messages column or a "
            "text column.\n" + "More details about supervised fine-tuning.\n" * 5,
        ),
        "dpo_trainer": (
            "Trainers",
            "DPO Trainer",
            "# DPO Trainer\n\nDirect preference optimization needs chosen and rejected columns.",
        ),
        "lora": (
            "How-to guides",
            "Using LoRA with PEFT",
            "# LoRA\n\nParameter efficient fine-tuning with peft LoRA adapters, learning rate 2e-4.",
        ),
    }
}


class FakeDocs(FakeServer):
    """``async with FakeDocs() as docs:`` → ``docs.base_url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, pages: dict[str, dict[str, tuple[str, str, str]]] | None = None):
        super().__init__()
        self.pages = pages if pages is not None else {k: dict(v) for k, v in DEFAULT_PAGES.items()}
        self.requests: list[tuple[str, dict[str, str]]] = []

    # ----------------------------------------------------------------- lifecycle
    def middlewares(self) -> list[Middleware]:
        return [self._record]

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/docs/{section}", self._section)
        app.router.add_get("/docs/{section}/{page:.+}", self._page)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.http_url

    # ----------------------------------------------------------------- helpers
    def authorized_paths(self) -> list[str]:
        return [p for p, h in self.requests if "Authorization" in h]

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.path_qs, dict(request.headers)))
        return await handler(request)

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.query["to"])

    async def _section(self, request: web.Request) -> web.StreamResponse:
        section = request.match_info["section"]
        pages = self.pages.get(section)
        if pages is None:
            raise web.HTTPNotFound(text="no such docs section")
        groups: dict[str, list[str]] = {}
        for slug, (group, title, _) in pages.items():
            groups.setdefault(group, []).append(
                f'<li><a href="/docs/{section}/{slug}" class="sidebar-link">{title}</a></li>'
            )
        nav = "".join(f"<h3>{g}</h3><ul>{''.join(items)}</ul>" for g, items in groups.items())
        html = (
            "<html><head><title>docs</title></head><body>"
            f'<nav class="sidebar">{nav}'
            f'<a href="/docs/{section}/v1.0.0/en/index">TRL (old)</a></nav>'
            "<main><h1>Welcome</h1><p>Body text.</p></main>"
            '<footer><a href="/pricing">Pricing</a></footer></body></html>'
        )
        return web.Response(text=html, content_type="text/html")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        section = request.match_info["section"]
        slug = request.match_info["page"]
        is_md = slug.endswith(".md")
        slug = slug.removesuffix(".md")
        entry = self.pages.get(section, {}).get(slug)
        if entry is None:
            raise web.HTTPNotFound(text="page not found")
        _, title, body = entry
        if is_md:
            return web.Response(text=body, content_type="text/markdown")
        return web.Response(
            text=f"<html><body><nav>menu</nav><h1>{title}</h1><p>{body}</p></body></html>",
            content_type="text/html",
        )
