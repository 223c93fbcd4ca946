"""Model and dataset search on the Hub, and a compact "details" view of one repo.

Three small tools instead of one with a mode switch, because the filters differ (a model has
a task and a library, a dataset has task categories and sizes) and the model picks the right
schema more reliably than the right mode. Names carry an ``hf_`` prefix so they never collide
with the Hub MCP server's ``model_search``/``dataset_search`` when both are configured.
Results are capped (``limit`` ≤ 50, tags ≤ 6, files ≤ 25).
"""

from __future__ import annotations

from typing import Any

from ..hub import HubError
from .base import Services, ToolContext, ToolSpec
from .hub_common import (
    cut,
    fmt_date,
    human_count,
    human_size,
    int_arg,
    repo_id_arg,
    repo_type_arg,
    repo_url,
    require_hub,
)

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
MAX_TAGS = 6
MAX_FILES = 25
OUTPUT_CAP = 10_000
SORTS = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trending_score",
    "created": "created_at",
    "modified": "last_modified",
}

_COMMON = {
    "query": {"type": "string", "description": "Search terms (matched against repo ids)."},
    "author": {"type": "string", "description": "Only repos of this user/org."},
    "filter": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Hub tags, e.g. ['en', 'license:mit'].",
    },
    "sort": {"type": "string", "enum": list(SORTS), "description": "Order (default downloads)."},
    "limit": {
        "type": "integer",
        "description": f"Results (default {DEFAULT_LIMIT}, max {MAX_LIMIT}).",
    },
}

MODEL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_COMMON,
        "task": {
            "type": "string",
            "description": "Pipeline tag, e.g. text-generation, text-classification.",
        },
        "library": {
            "type": "string",
            "description": "e.g. transformers, peft, gguf, sentence-transformers.",
        },
    },
}

DATASET_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_COMMON,
        "task": {
            "type": "string",
            "description": "Task category, e.g. text-classification, question-answering.",
        },
        "size": {"type": "string", "description": "Size category, e.g. 10K<n<100K."},
    },
}

DETAILS_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "repo_id": {"type": "string", "description": "owner/name"},
        "repo_type": {
            "type": "string",
            "enum": ["model", "dataset", "space"],
            "description": "Default model.",
        },
    },
    "required": ["repo_id"],
}


def _tags(tags: Any) -> str:
    shown = [
        t
        for t in (tags or [])
        if not str(t).startswith(("arxiv:", "region:", "endpoints_compatible"))
    ]
    return ", ".join(shown[:MAX_TAGS])


def _row(r: Any) -> str:
    flags = []
    if getattr(r, "gated", False):
        flags.append("gated")
    if getattr(r, "private", False):
        flags.append("private")
    task = getattr(r, "pipeline_tag", None)
    bits = [
        f"- {r.id}",
        f"{human_count(getattr(r, 'downloads', None))} downloads",
        f"{human_count(getattr(r, 'likes', None))} likes",
    ]
    if task:
        bits.append(task)
    if getattr(r, "last_modified", None):
        bits.append(f"updated {fmt_date(r.last_modified)}")
    line = " · ".join(bits)
    if flags:
        line += f" [{', '.join(flags)}]"
    tags = _tags(getattr(r, "tags", None))
    return line + (f"\n  tags: {tags}" if tags else "")


async def _search(kind: str, args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    try:
        hub = require_hub(ctx)
        limit = int_arg(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        sort = SORTS.get(str(args.get("sort") or "downloads"), "downloads")
        filters = [str(f) for f in (args.get("filter") or []) if str(f).strip()]
        kw: dict[str, Any] = {
            "search": str(args.get("query") or "").strip() or None,
            "author": str(args.get("author") or "").strip() or None,
            "sort": sort,
            "limit": limit,
        }
        if kind == "model":
            if args.get("library"):
                filters.append(str(args["library"]))
            kw["pipeline_tag"] = str(args.get("task") or "").strip() or None
            kw["filter"] = filters or None
            items = await hub.call("list_models", what="model search", **kw)
        else:
            kw["task_categories"] = str(args.get("task") or "").strip() or None
            kw["size_categories"] = str(args.get("size") or "").strip() or None
            kw["filter"] = filters or None
            items = await hub.call("list_datasets", what="dataset search", **kw)
    except HubError as exc:
        return f"hf_{kind}_search: {exc.message}", False
    what = " ".join(
        x
        for x in (
            str(args.get("query") or ""),
            f"by {args['author']}" if args.get("author") else "",
        )
        if x
    )
    if not items:
        return f"No {kind}s found{' for ' + what if what else ''}.", True
    head = f"{len(items)} {kind}(s){' for ' + what if what else ''}, by {args.get('sort') or 'downloads'}:"
    return "\n".join([head, *(_row(r) for r in items[:limit])]), True


async def hf_model_search_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    return await _search("model", args, ctx)


async def hf_dataset_search_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    return await _search("dataset", args, ctx)


async def hf_repo_details_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    try:
        hub = require_hub(ctx)
        repo_id = repo_id_arg(args)
        repo_type = repo_type_arg(args)
        method = {"model": "model_info", "dataset": "dataset_info", "space": "space_info"}[
            repo_type
        ]
        info = await hub.call(method, repo_id, files_metadata=True, what=f"{repo_type} {repo_id}")
    except HubError as exc:
        return f"hf_repo_details: {exc.message}", False
    card = getattr(info, "card_data", None)
    card_get = (
        (lambda k: card.get(k)) if card is not None and hasattr(card, "get") else (lambda k: None)
    )
    lines = [f"# {info.id} ({repo_type})", repo_url(hub.endpoint, info.id, repo_type)]
    meta = [
        f"{human_count(getattr(info, 'downloads', None))} downloads",
        f"{human_count(getattr(info, 'likes', None))} likes",
        f"updated {fmt_date(getattr(info, 'last_modified', None))}",
    ]
    if getattr(info, "gated", False):
        meta.append(f"gated ({info.gated}): accept the terms on the Hub before use")
    if getattr(info, "private", False):
        meta.append("private")
    lines.append(" · ".join(meta))
    for label, value in (
        ("task", getattr(info, "pipeline_tag", None)),
        ("library", getattr(info, "library_name", None)),
        ("license", card_get("license")),
        ("base model", card_get("base_model")),
        ("datasets", card_get("datasets")),
        ("sdk", getattr(info, "sdk", None)),
    ):
        if value:
            lines.append(
                f"{label}: {cut(value if isinstance(value, str) else ', '.join(map(str, value)), 200)}"
            )
    st = getattr(info, "safetensors", None)
    if st is not None and getattr(st, "total", None):
        lines.append(f"parameters: {human_count(st.total)}")
    tags = _tags(getattr(info, "tags", None))
    if tags:
        lines.append(f"tags: {tags}")
    siblings = getattr(info, "siblings", None) or []
    if siblings:
        total = sum(int(getattr(s, "size", 0) or 0) for s in siblings)
        lines.append(f"files ({len(siblings)}, {human_size(total)}):")
        for s in siblings[:MAX_FILES]:
            lines.append(
                f"- {s.rfilename}"
                + (f" — {human_size(s.size)}" if getattr(s, "size", None) else "")
            )
        if len(siblings) > MAX_FILES:
            lines.append(f"- … {len(siblings) - MAX_FILES} more (hf_repo_files list)")
    return "\n".join(lines), True


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="hf_model_search",
            description="Search models on the Hugging Face Hub by keywords, author, task, library and tags; sorted by downloads, likes, trending or recency.",
            parameters=MODEL_PARAMETERS,
            handler=hf_model_search_handler,
            read_only=True,
            output_cap=OUTPUT_CAP,
            timeout_s=60.0,
            key_argument="query",
        ),
        ToolSpec(
            name="hf_dataset_search",
            description="Search datasets on the Hugging Face Hub by keywords, author, task category, size and tags; sorted by downloads, likes, trending or recency.",
            parameters=DATASET_PARAMETERS,
            handler=hf_dataset_search_handler,
            read_only=True,
            output_cap=OUTPUT_CAP,
            timeout_s=60.0,
            key_argument="query",
        ),
        ToolSpec(
            name="hf_repo_details",
            description="Details of one Hub repo (model, dataset or space): stats, task, library, license, base model, gating, parameters and its files with sizes.",
            parameters=DETAILS_PARAMETERS,
            handler=hf_repo_details_handler,
            read_only=True,
            output_cap=OUTPUT_CAP,
            timeout_s=60.0,
            key_argument="repo_id",
        ),
    ]
