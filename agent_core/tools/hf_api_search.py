"""``find_hf_api``: search the Hub's own API description for the endpoint a task needs
(upstream's tool name and parameters: ``query``, ``tag``).

Why: the dedicated Hub tools cover the common paths; for everything else (moving a repo,
a Space's hardware, collections…) the model should find the real endpoint and its parameters
instead of guessing URLs. The document is ``<HF_ENDPOINT>/.well-known/openapi.json``, fetched
once per process through :class:`~agent_core.hub.HubClient` (token only to the Hub's origin,
bounded body) and kept in ``Services.extras``; a failed fetch is not cached, so the next call
tries again.

Each hit shows method and path, summary, description (≤300 characters), parameters (with
``$ref`` resolved), the JSON body's fields, response codes and a curl example whose token is
the literal ``$HF_TOKEN`` — never the real one. Upstream builds the ``tag`` enum at start-up
from the fetched document; we fetch on first use, so ``tag`` is free text and an unknown tag
is answered with the list of tags.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..hub import HubError
from .base import Services, ToolContext, ToolSpec
from .hub_common import cut, require_hub

SPEC_PATH = "/.well-known/openapi.json"
SPEC_MAX_BYTES = 20_000_000
MAX_HITS = 20
MAX_TAG_LISTING = 40
DESCRIPTION_CHARS = 300
METHODS = ("get", "post", "put", "patch", "delete", "head")
# How much a query word counts where it appears (best field per word, summed over words).
WEIGHTS = {"path": 3, "summary": 3, "operation": 2, "tags": 2, "params": 1, "description": 1}


@dataclass
class Param:
    name: str
    where: str
    type: str
    required: bool
    description: str = ""

    def line(self) -> str:
        bits = [self.where, self.type] + (["required"] if self.required else [])
        text = f"- {self.name} ({', '.join(b for b in bits if b)})"
        return text + (f": {cut(self.description, 120)}" if self.description else "")


@dataclass
class Endpoint:
    method: str
    path: str
    summary: str
    description: str
    operation_id: str
    tags: list[str]
    params: list[Param] = field(default_factory=list)
    body: list[Param] = field(default_factory=list)
    responses: list[tuple[str, str]] = field(default_factory=list)
    words: dict[str, set[str]] = field(default_factory=dict)


def _words(text: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text or "")
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", spaced.lower())}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _resolve(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """Follow local ``$ref``s (``#/components/...``), a few levels deep (cycles stop there)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 8:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return {}
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node, depth = target, depth + 1
    return node if isinstance(node, dict) else {}


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type") or ("object" if "properties" in schema else "")
    if isinstance(kind, list):
        kind = "|".join(str(k) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array[{schema['items'].get('type', 'object')}]"
    if schema.get("enum"):
        return f"{kind or 'string'} ∈ {{{', '.join(str(v) for v in schema['enum'][:8])}}}"
    return str(kind)


def _params(spec: dict[str, Any], raw: Any) -> list[Param]:
    out: list[Param] = []
    for item in raw if isinstance(raw, list) else []:
        p = _resolve(spec, item)
        if p.get("name"):
            schema = _resolve(spec, p.get("schema") or {})
            where = str(p.get("in") or "")
            required = bool(p.get("required")) or where == "path"
            out.append(Param(str(p["name"]), where, _type_of(schema), required, str(p.get("description") or "")))  # fmt: skip
    return out


def _body(spec: dict[str, Any], op: dict[str, Any]) -> list[Param]:
    body = _resolve(spec, op.get("requestBody") or {})
    content = body.get("content") if isinstance(body.get("content"), dict) else {}
    media = content.get("application/json") or next(iter(content.values()), {}) if content else {}
    media = media if isinstance(media, dict) else {}
    schema = _resolve(spec, media.get("schema") or {})
    required = set(schema.get("required") or [])
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    return [
        Param(
            name,
            "body",
            _type_of(_resolve(spec, sub)),
            name in required,
            str(_resolve(spec, sub).get("description") or ""),
        )  # fmt: skip
        for name, sub in list(props.items())[:15]
    ]


def build_index(spec: Any) -> list[Endpoint]:
    """Every operation of the document, with its words per field for scoring."""
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        raise HubError("the Hub's OpenAPI document has no `paths`; try again later.", kind="server")
    index: list[Endpoint] = []
    for path, item in spec["paths"].items():
        if not isinstance(item, dict):
            continue
        shared = _params(spec, item.get("parameters"))
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            own = _params(spec, op.get("parameters"))
            names = {p.name for p in own}
            ep = Endpoint(
                method=method.upper(),
                path=str(path),
                summary=str(op.get("summary") or ""),
                description=str(op.get("description") or ""),
                operation_id=str(op.get("operationId") or ""),
                tags=[str(t) for t in op.get("tags") or []],
                params=[p for p in shared if p.name not in names] + own,
                body=_body(spec, op),
                responses=[
                    (str(code), str(_resolve(spec, r).get("description") or ""))
                    for code, r in (op.get("responses") or {}).items()
                ],
            )
            ep.words = {
                "path": _words(ep.path),
                "summary": _words(ep.summary),
                "operation": _words(ep.operation_id),
                "tags": _words(" ".join(ep.tags)),
                "params": _words(" ".join(p.name for p in ep.params + ep.body)),
                "description": _words(ep.description),
            }
            index.append(ep)
    return index


def search(index: list[Endpoint], query: str) -> list[Endpoint]:
    terms = _words(query)
    scored = []
    for ep in index:
        score = sum(
            max((WEIGHTS[f] for f, words in ep.words.items() if t in words), default=0)
            for t in terms
        )
        if score:
            scored.append((-score, len(ep.path), ep.path, ep.method, ep))
    scored.sort(key=lambda s: s[:4])
    return [s[-1] for s in scored[:MAX_HITS]]


def curl_example(endpoint: str, ep: Endpoint) -> str:
    query = "&".join(f"{p.name}=<{p.name}>" for p in ep.params if p.where == "query" and p.required)
    url = endpoint + ep.path + (f"?{query}" if query else "")
    parts = [f'curl -X {ep.method} "{url}"', '-H "Authorization: Bearer $HF_TOKEN"']
    required = {p.name: f"<{p.type or 'value'}>" for p in ep.body if p.required}
    if ep.body:
        parts += ['-H "Content-Type: application/json"', f"-d '{json.dumps(required)}'"]
    return " \\\n  ".join(parts)


def describe(endpoint: str, ep: Endpoint) -> str:
    lines = [f"### {ep.method} {ep.path}" + (f" — {ep.summary}" if ep.summary else "")]
    meta = []
    if ep.tags:
        meta.append(f"tags: {', '.join(ep.tags)}")
    if ep.operation_id:
        meta.append(f"operationId: {ep.operation_id}")
    if meta:
        lines.append(" · ".join(meta))
    if ep.description:
        lines.append(cut(ep.description, DESCRIPTION_CHARS))
    if ep.params:
        lines += ["Parameters:", *(p.line() for p in ep.params)]
    if ep.body:
        lines += ["JSON body:", *(p.line() for p in ep.body)]
    if ep.responses:
        lines.append("Responses: " + " · ".join(f"{c} {cut(d, 60)}".strip() for c, d in ep.responses))  # fmt: skip
    lines += ["```", curl_example(endpoint, ep), "```"]
    return "\n".join(lines)


async def load_index(ctx: ToolContext) -> list[Endpoint]:
    hub = require_hub(ctx)
    slot = f"hf_openapi:{hub.endpoint}"
    extras = ctx.services.extras
    lock = extras.setdefault(slot + ":lock", asyncio.Lock())
    async with lock:
        if slot not in extras:
            spec = await hub.get_json(
                hub.endpoint + SPEC_PATH,
                what="the Hub's OpenAPI document",
                max_bytes=SPEC_MAX_BYTES,
            )
            extras[slot] = build_index(spec)
    return extras[slot]


def _tag_counts(index: list[Endpoint]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ep in index:
        for tag in ep.tags or ["(untagged)"]:
            counts[tag] = counts.get(tag, 0) + 1
    return dict(sorted(counts.items()))


async def find_hf_api_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    query = " ".join(str(args.get("query") or "").split())
    tag = str(args.get("tag") or "").strip()
    try:
        index = await load_index(ctx)
    except HubError as exc:
        return f"find_hf_api: {exc.message}", False
    endpoint = require_hub(ctx).endpoint
    tags = _tag_counts(index)
    tag_list = ", ".join(f"{t} ({n})" for t, n in tags.items())
    if tag:
        match = next((t for t in tags if t.lower() == tag.lower()), None)
        if match is None:
            return f"find_hf_api: no tag {tag!r}. Tags: {tag_list}", False
        index = [ep for ep in index if match in ep.tags]
    if not query and not tag:
        return (
            f"The Hub API has {len(index)} endpoints. Tags: {tag_list}.\n"
            "Pass query='what you want to do' (e.g. 'create repo', 'space hardware') or a tag."
        ), True
    hits = search(index, query) if query else index[:MAX_TAG_LISTING]
    if not hits:
        return f"No Hub API endpoint matches {query!r}" + (f" in tag {tag!r}" if tag else "") + f". Tags: {tag_list}", True  # fmt: skip
    head = f"Hub API endpoints for {query!r}" if query else f"Hub API endpoints tagged {tag!r}"
    more = f" (first {len(hits)} of {len(index)})" if not query and len(index) > len(hits) else ""
    body = "\n\n".join(describe(endpoint, ep) for ep in hits)
    return f"{head}{more}:\n\n{body}\n\nSet HF_TOKEN in the job or sandbox environment to run these.", True  # fmt: skip


PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {
            "type": "string",
            "description": "What you want to do or find, e.g. 'move repo', 'space hardware'.",
        },
        "tag": {
            "type": "string",
            "description": "Browse one OpenAPI tag (e.g. 'models', 'spaces'); call with no "
            "arguments to list the tags.",
        },
    },
}


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="find_hf_api",
            description=(
                "Find Hugging Face Hub REST API endpoints in the Hub's OpenAPI spec when no "
                "dedicated tool covers a need: search with `query` or browse a `tag`. Each hit "
                "has method, path, parameters, body fields, responses and a curl example "
                "(token as $HF_TOKEN)."
            ),
            parameters=PARAMETERS,
            handler=find_hf_api_handler,
            read_only=True,
            output_cap=15_000,
            timeout_s=60.0,
            key_argument="query",
        )
    ]
