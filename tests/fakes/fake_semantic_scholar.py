"""A fake Semantic Scholar (Academic Graph + Recommendations APIs) on 127.0.0.1 (aiohttp).

Paths, parameters and JSON shapes follow the official documentation
(https://api.semanticscholar.org/api-docs/graph and
https://api.semanticscholar.org/api-docs/recommendations, as of 2025):

* ``GET /graph/v1/paper/{paper_id}/citations`` / ``…/references`` with ``fields``, ``offset``,
  ``limit`` (≤1000) → ``{"offset", "next"?, "data": [{"contexts", "intents", "isInfluential",
  "citingPaper"|"citedPaper": {paperId, …fields}}]}`` (graph docs, "Details about a paper's
  citations / references");
* ``GET /graph/v1/paper/search/bulk`` with ``query``, ``fields``, ``publicationDateOrYear``
  (``from:to``), ``fieldsOfStudy``, ``minCitationCount``, ``sort`` (``field:order``) →
  ``{"total", "token", "data": [paper]}`` (graph docs, "Paper bulk search");
* ``GET /graph/v1/snippet/search`` with ``query`` (required), ``limit`` (≤1000) and the same
  filters → ``{"data": [{"snippet": {text, snippetKind, section, snippetOffset}, "score",
  "paper": {corpusId, title, authors, openAccessInfo}}], "retrievalVersion"}`` (graph docs,
  "Text snippet search");
* ``GET /recommendations/v1/papers/forpaper/{paper_id}`` with ``from`` (``recent``|``all-cs``),
  ``limit`` (≤500), ``fields`` and ``POST /recommendations/v1/papers/`` with
  ``{"positivePaperIds", "negativePaperIds"}`` → ``{"recommendedPapers": [paper]}``.

Rules the real service enforces, enforced here: paper ids are ``ARXIV:<id>``, ``CorpusId:<n>``
or a 40-hex paperId (unknown → 404 ``{"error": "Paper with id … not found"}``); unknown
``fields`` → 400 ``{"error": "Unrecognized or unsupported fields: [...]"}``; limits above the
maximum → 400; an ``x-api-key`` that is not known → 403 ``{"message": "Forbidden"}``; requests
without a key share a pool — ``keyless_budget`` requests, then 429 ``{"message": "Too Many
Requests. …", "code": "429"}`` until :meth:`reset_pool` (the real pool's behaviour, without its
timing). ``inject(status, times)`` fails the next requests (transient 429/5xx). ``requests``
records ``(method, path_qs, headers)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from tests.fakes.server import FakeServer, Middleware

PAPER_FIELDS = {
    "paperId", "corpusId", "externalIds", "url", "title", "abstract", "venue", "year",
    "citationCount", "influentialCitationCount", "publicationDate", "fieldsOfStudy", "tldr",
    "authors",
}  # fmt: skip
EDGE_FIELDS = {"contexts", "intents", "contextsWithIntent", "isInfluential"}
TOO_MANY = (
    "Too Many Requests. Please wait and try again or apply for a key for higher rate limits. "
    "https://www.semanticscholar.org/product/api#api-key-form"
)


@dataclass
class S2Paper:
    arxiv: str
    title: str
    year: int
    venue: str = "arXiv.org"
    fields_of_study: list[str] = field(default_factory=lambda: ["Computer Science"])
    tldr: str = ""
    snippets: list[tuple[str, str]] = field(default_factory=list)  # (section, text)
    authors: list[str] = field(default_factory=list)

    @property
    def paper_id(self) -> str:
        return hashlib.sha1(self.arxiv.encode()).hexdigest()

    @property
    def corpus_id(self) -> int:
        return int(self.paper_id[:7], 16)

    def full(self, citation_count: int, influential: int) -> dict[str, Any]:
        return {
            "paperId": self.paper_id,
            "corpusId": self.corpus_id,
            "externalIds": {"ArXiv": self.arxiv, "CorpusId": self.corpus_id},
            "url": f"https://www.semanticscholar.org/paper/{self.paper_id}",
            "title": self.title,
            "abstract": f"Abstract of {self.title}.",
            "venue": self.venue,
            "year": self.year,
            "citationCount": citation_count,
            "influentialCitationCount": influential,
            "publicationDate": f"{self.year}-06-01",
            "fieldsOfStudy": self.fields_of_study,
            "tldr": {"model": "tldr@v2.0.0", "text": self.tldr} if self.tldr else None,
            "authors": [{"authorId": str(i), "name": n} for i, n in enumerate(self.authors)],
        }


@dataclass
class Edge:
    citing: str
    cited: str
    influential: bool = False
    intents: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)


def default_papers() -> list[S2Paper]:
    return [
        S2Paper("1707.06347", "Proximal Policy Optimization Algorithms", 2017),
        S2Paper(
            "2203.02155",
            "Training language models to follow instructions with human feedback",
            2022,
            "NeurIPS",
            tldr="InstructGPT: RLHF fine-tuning of GPT-3.",
        ),  # fmt: skip
        S2Paper(
            "2305.18290",
            "Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
            2023,
            "NeurIPS",
            tldr="DPO optimises preferences with a classification loss.",
            snippets=[
                (
                    "4 Direct Preference Optimization",
                    "We set beta = 0.1 for all DPO experiments unless noted; the reference model is the SFT model.",
                )
            ],
            authors=["Rafael Rafailov", "Archit Sharma"],
        ),  # fmt: skip
        S2Paper(
            "2310.16944",
            "Zephyr: Direct Distillation of LM Alignment",
            2023,
            snippets=[
                (
                    "5 Experiments",
                    "We train with DPO for 3 epochs with beta 0.1 and a learning rate of 5e-7.",
                )
            ],
        ),  # fmt: skip
        S2Paper("2402.01306", "KTO: Model Alignment as Prospect Theoretic Optimization", 2024),
        S2Paper(
            "2403.07691", "ORPO: Monolithic Preference Optimization without Reference Model", 2024
        ),  # fmt: skip
        S2Paper("2106.09685", "LoRA: Low-Rank Adaptation of Large Language Models", 2021, "ICLR"),
        S2Paper("2305.14314", "QLoRA: Efficient Finetuning of Quantized LLMs", 2023, "NeurIPS"),
    ]


def default_edges() -> list[Edge]:
    return [
        Edge(
            "2305.18290",
            "1707.06347",
            False,
            ["background"],
            ["PPO [37] is the standard RL algorithm for RLHF."],
        ),  # fmt: skip
        Edge(
            "2305.18290",
            "2203.02155",
            True,
            ["background", "methodology"],
            ["Following InstructGPT [26], we first fine-tune with SFT."],
        ),  # fmt: skip
        Edge(
            "2310.16944",
            "2305.18290",
            True,
            ["methodology"],
            [
                "We align the model with DPO (Rafailov et al., 2023).",
                "DPO removes the need for a reward model.",
            ],
        ),  # fmt: skip
        Edge(
            "2402.01306",
            "2305.18290",
            True,
            ["methodology", "result"],
            ["KTO matches DPO without paired preferences."],
        ),  # fmt: skip
        Edge(
            "2403.07691",
            "2305.18290",
            False,
            ["background"],
            ["Unlike DPO, ORPO needs no reference model."],
        ),  # fmt: skip
        Edge(
            "2305.14314",
            "2106.09685",
            True,
            ["methodology"],
            ["We add LoRA adapters to every linear layer."],
        ),  # fmt: skip
    ]


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body


class FakeSemanticScholar(FakeServer):
    def __init__(self, *, api_keys: set[str] | None = None, keyless_budget: int | None = None):
        super().__init__()
        self.papers = {p.arxiv: p for p in default_papers()}
        self.edges = default_edges()
        self.api_keys = set(api_keys or {"s2-test-key"})
        self.keyless_budget = keyless_budget  # None: unlimited
        self.keyless_used = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._injected: list[int] = []

    # ---- test controls ---------------------------------------------------------------
    def reset_pool(self) -> None:
        self.keyless_used = 0

    def inject(self, status: int, times: int = 1) -> None:
        self._injected += [status] * times

    def paths(self) -> list[str]:
        return [p.split("?")[0] for _, p, _ in self.requests]

    def query(self, index: int = -1) -> dict[str, str]:
        """The decoded query parameters of a recorded request (the last by default)."""
        return dict(parse_qsl(urlsplit(self.requests[index][1]).query))

    # ---- server ----------------------------------------------------------------------
    def middlewares(self) -> list[Middleware]:
        return [self._mw]

    def routes(self, app: web.Application) -> None:
        g = "/graph/v1"
        app.router.add_get(g + "/paper/search/bulk", self._bulk)
        app.router.add_get(g + "/snippet/search", self._snippets)
        app.router.add_get(g + "/paper/{pid:.+}/citations", self._citations)
        app.router.add_get(g + "/paper/{pid:.+}/references", self._references)
        app.router.add_get("/recommendations/v1/papers/forpaper/{pid:.+}", self._for_paper)
        app.router.add_post("/recommendations/v1/papers/", self._for_papers)

    @web.middleware
    async def _mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        key = request.headers.get("x-api-key")
        if key is not None and key not in self.api_keys:
            return web.json_response({"message": "Forbidden"}, status=403)
        if self._injected:
            status = self._injected.pop(0)
            body = {"message": TOO_MANY, "code": "429"} if status == 429 else {"message": "Internal Server Error"}  # fmt: skip
            return web.json_response(body, status=status)
        if key is None and self.keyless_budget is not None:
            if self.keyless_used >= self.keyless_budget:
                return web.json_response({"message": TOO_MANY, "code": "429"}, status=429)
            self.keyless_used += 1
        try:
            return await handler(request)
        except _Refused as exc:
            return web.json_response(exc.body, status=exc.status)

    # ---- helpers ---------------------------------------------------------------------
    def _paper(self, pid: str) -> S2Paper:
        for p in self.papers.values():
            if pid in (f"ARXIV:{p.arxiv}", f"CorpusId:{p.corpus_id}", p.paper_id):
                return p
        raise _Refused(404, {"error": f"Paper with id {pid} not found"})

    def _full(self, p: S2Paper) -> dict[str, Any]:
        cited = [e for e in self.edges if e.cited == p.arxiv]
        return p.full(len(cited) * 1000 + 7, sum(e.influential for e in cited) * 100)

    @staticmethod
    def _fields(request: web.Request, allowed: set[str]) -> list[str]:
        raw = request.rel_url.query.get("fields", "")
        wanted = [f.strip() for f in raw.split(",") if f.strip()] or ["title"]
        bad = [f for f in wanted if f not in allowed]
        if bad:
            raise _Refused(400, {"error": f"Unrecognized or unsupported fields: {bad}"})
        return wanted

    @staticmethod
    def _limit(request: web.Request, default: int, maximum: int) -> int:
        try:
            limit = int(request.rel_url.query.get("limit", default))
        except ValueError:
            raise _Refused(400, {"error": "limit must be an integer"}) from None
        if not 1 <= limit <= maximum:
            raise _Refused(400, {"error": f"Limit must be <= {maximum}"})
        return limit

    def _project(self, p: S2Paper, fields: list[str]) -> dict[str, Any]:
        full = self._full(p)
        return {"paperId": p.paper_id, **{f: full[f] for f in fields if f in PAPER_FIELDS}}

    def _filtered(self, request: web.Request, papers: list[S2Paper]) -> list[S2Paper]:
        q = request.rel_url.query
        if span := q.get("publicationDateOrYear"):
            start, _, end = span.partition(":")
            papers = [
                p
                for p in papers
                if (not start or f"{p.year}-06-01" >= start[:10])
                and (not end or str(p.year) <= end[:10])
            ]
        if fos := q.get("fieldsOfStudy"):
            wanted = {f.strip() for f in fos.split(",")}
            papers = [p for p in papers if wanted & set(p.fields_of_study)]
        if mcc := q.get("minCitationCount"):
            papers = [p for p in papers if self._full(p)["citationCount"] >= int(mcc)]
        return papers

    # ---- routes ----------------------------------------------------------------------
    async def _edges(self, request: web.Request, direction: str) -> web.Response:
        paper = self._paper(request.match_info["pid"])
        fields = self._fields(request, PAPER_FIELDS | EDGE_FIELDS)
        limit = self._limit(request, 100, 1000)
        offset = int(request.rel_url.query.get("offset", "0"))
        if direction == "citations":
            found = [(e, self.papers[e.citing]) for e in self.edges if e.cited == paper.arxiv]
            key = "citingPaper"
        else:
            found = [(e, self.papers[e.cited]) for e in self.edges if e.citing == paper.arxiv]
            key = "citedPaper"
        data = []
        for edge, other in found[offset : offset + limit]:
            item: dict[str, Any] = {
                f: getattr(edge, "influential" if f == "isInfluential" else f)
                for f in fields
                if f in EDGE_FIELDS - {"contextsWithIntent"}
            }
            item[key] = self._project(other, [f for f in fields if f in PAPER_FIELDS])
            data.append(item)
        body: dict[str, Any] = {"offset": offset, "data": data}
        if offset + limit < len(found):
            body["next"] = offset + limit
        return web.json_response(body)

    async def _citations(self, request: web.Request) -> web.Response:
        return await self._edges(request, "citations")

    async def _references(self, request: web.Request) -> web.Response:
        return await self._edges(request, "references")

    async def _bulk(self, request: web.Request) -> web.Response:
        q = request.rel_url.query
        fields = self._fields(request, PAPER_FIELDS)
        words = q.get("query", "").lower().split()
        found = [p for p in self.papers.values() if any(w in p.title.lower() for w in words)]
        found = self._filtered(request, found)
        if sort := q.get("sort"):
            name, _, order = sort.partition(":")
            if name not in ("paperId", "publicationDate", "citationCount"):
                raise _Refused(400, {"error": f"Unsupported sort field: {name}"})
            found.sort(key=lambda p: self._full(p)[name], reverse=order != "asc")
        data = [self._project(p, fields) for p in found[:1000]]
        return web.json_response({"total": len(found), "token": None, "data": data})

    async def _snippets(self, request: web.Request) -> web.Response:
        q = request.rel_url.query
        if not q.get("query"):
            raise _Refused(400, {"error": "Missing required parameter: 'query'"})
        limit = self._limit(request, 10, 1000)
        words = set(q["query"].lower().split())
        hits = []
        for p in self._filtered(request, list(self.papers.values())):
            for section, text in p.snippets:
                score = len(words & set(text.lower().replace(",", " ").split()))
                if score:
                    hits.append((score, p, section, text))
        hits.sort(key=lambda h: -h[0])
        data = [
            {
                "snippet": {
                    "text": text,
                    "snippetKind": "body",
                    "section": section,
                    "snippetOffset": {"start": 0, "end": len(text)},
                },
                "score": score / max(1, len(words)),
                "paper": {
                    "corpusId": str(p.corpus_id),
                    "title": p.title,
                    "authors": p.authors,
                    "openAccessInfo": {"license": "CCBY", "status": "GREEN", "disclaimer": ""},
                },
            }
            for score, p, section, text in hits[:limit]
        ]
        return web.json_response({"data": data, "retrievalVersion": "pa1-v1"})

    def _recommended(self, exclude: set[str], near: set[str], limit: int, fields: list[str]):
        scored = []
        for p in self.papers.values():
            if p.arxiv in exclude:
                continue
            linked = sum(
                1
                for e in self.edges
                if {e.citing, e.cited} & near and p.arxiv in (e.citing, e.cited)
            )
            if linked:
                scored.append((linked, p.year, p))
        scored.sort(key=lambda s: (-s[0], -s[1]))
        return {"recommendedPapers": [self._project(p, fields) for *_, p in scored[:limit]]}

    async def _for_paper(self, request: web.Request) -> web.Response:
        paper = self._paper(request.match_info["pid"])
        if request.rel_url.query.get("from", "recent") not in ("recent", "all-cs"):
            raise _Refused(400, {"error": "from must be one of recent, all-cs"})
        fields = self._fields(request, PAPER_FIELDS)
        limit = self._limit(request, 100, 500)
        body = self._recommended({paper.arxiv}, {paper.arxiv}, limit, fields)
        return web.json_response(body)

    async def _for_papers(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise _Refused(400, {"error": "Body must be JSON"}) from None
        positive = body.get("positivePaperIds") or []
        if not positive:
            raise _Refused(400, {"error": "positivePaperIds must not be empty"})
        pos = {self._paper(pid).arxiv for pid in positive}
        neg = {self._paper(pid).arxiv for pid in body.get("negativePaperIds") or []}
        fields = self._fields(request, PAPER_FIELDS)
        limit = self._limit(request, 100, 500)
        return web.json_response(self._recommended(pos | neg, pos, limit, fields))
