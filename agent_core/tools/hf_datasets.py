"""``hf_inspect_dataset``: what a dataset looks like before you train on it (datasets-server).

Same calls as upstream (``/is-valid``, ``/splits``, ``/parquet`` in parallel, then ``/info`` and
``/first-rows`` for the chosen config/split) and the same sections — status, configs/splits,
schema, sample rows, the structure of a chat ``messages`` column, parquet files — with every
section capped, so a wide dataset cannot flood the context. The base URL is
``HF_DATASETS_SERVER_URL`` (default the public datasets-server); the token is sent only there.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from ..hub import HubError
from .base import Services, ToolContext, ToolSpec
from .hub_common import cut, human_count, human_size, int_arg, require_hub

MAX_SPLIT_ROWS = 10
MAX_SAMPLE_ROWS = 10
DEFAULT_SAMPLE_ROWS = 3
VALUE_CHARS = 150
MAX_COLUMNS = 40
MAX_PARQUET_GROUPS = 10
OUTPUT_CAP = 12_000

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "dataset": {"type": "string", "description": "Dataset id, e.g. 'stanfordnlp/imdb'."},
        "config": {"type": "string", "description": "Config (subset) name; default: the first."},
        "split": {"type": "string", "description": "Split for sample rows; default: the first."},
        "sample_rows": {
            "type": "integer",
            "description": f"Rows to show (default {DEFAULT_SAMPLE_ROWS}, max {MAX_SAMPLE_ROWS}).",
        },
    },
    "required": ["dataset"],
}


def format_feature(feature: Any, depth: int = 0) -> str:
    """A compact type for a datasets ``Features`` entry (Value, ClassLabel, Sequence, dict, list)."""
    if depth > 3:
        return "…"
    if isinstance(feature, list):
        return f"list[{format_feature(feature[0], depth + 1)}]" if feature else "list"
    if isinstance(feature, dict):
        kind = feature.get("_type")
        if kind == "Value":
            return str(feature.get("dtype", "?"))
        if kind == "ClassLabel":
            names = feature.get("names") or []
            shown = ", ".join(str(n) for n in names[:6]) + (", …" if len(names) > 6 else "")
            return f"ClassLabel[{shown}]"
        if kind in ("Sequence", "List", "LargeList"):
            return f"list[{format_feature(feature.get('feature'), depth + 1)}]"
        if kind in ("Image", "Audio", "Video", "Translation"):
            return kind
        if kind is None:
            inner = ", ".join(
                f"{k}: {format_feature(v, depth + 1)}" for k, v in list(feature.items())[:8]
            )
            return "{" + inner + "}"
        return str(kind)
    return str(feature)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return cut(text.replace("\n", "\\n"), VALUE_CHARS)


def analyse_messages(rows: list[dict[str, Any]], column: str = "messages") -> list[str] | None:
    """Structure of a chat column: roles, per-message keys, tool calls, an example message."""
    convs = [r.get(column) for r in rows if isinstance(r.get(column), list)]
    if not convs:
        return None
    roles: Counter[str] = Counter()
    keys: set[str] = set()
    tool_calls = False
    lengths = []
    example = None
    for conv in convs:
        lengths.append(len(conv))
        for msg in conv:
            if not isinstance(msg, dict):
                continue
            roles[str(msg.get("role"))] += 1
            keys.update(msg.keys())
            if msg.get("tool_calls"):
                tool_calls = True
            if example is None and msg.get("content"):
                example = msg
    lines = [
        f"- roles: {', '.join(f'{r} ({n})' for r, n in roles.most_common())}",
        f"- message keys: {', '.join(sorted(keys))}",
        f"- messages per row: {min(lengths)}–{max(lengths)}",
        f"- tool calls: {'yes' if tool_calls else 'no'}",
    ]
    if example is not None:
        lines.append(
            f"- example: {{role: {example.get('role')!r}, content: {cut(example.get('content'), 100)!r}}}"
        )
    first_roles = Counter(str(c[0].get("role")) for c in convs if c and isinstance(c[0], dict))
    lines.append(f"- first message role: {', '.join(first_roles)}")
    return lines


async def hf_inspect_dataset_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    try:
        hub = require_hub(ctx)
    except HubError as exc:
        return exc.message, False
    dataset = str(args.get("dataset") or "").strip().strip("/")
    if not dataset:
        return "hf_inspect_dataset needs `dataset` (e.g. 'stanfordnlp/imdb').", False
    n_rows = int_arg(args, "sample_rows", DEFAULT_SAMPLE_ROWS, 0, MAX_SAMPLE_ROWS)
    base = hub.datasets_server_url
    what = f"dataset {dataset}"

    async def get(route: str, **params: Any) -> Any:
        return await hub.get_json(
            f"{base}/{route}", params={"dataset": dataset, **params}, what=what
        )

    valid, splits, parquet = await asyncio.gather(
        get("is-valid"), get("splits"), get("parquet"), return_exceptions=True
    )
    first_error = next((r for r in (splits, valid, parquet) if isinstance(r, HubError)), None)
    for r in (valid, splits, parquet):
        if isinstance(r, BaseException) and not isinstance(r, HubError):
            raise r
    if all(isinstance(r, HubError) for r in (valid, splits, parquet)):
        assert first_error is not None
        return f"hf_inspect_dataset {dataset}: {first_error.message}", False

    out = [f"# Dataset {dataset}"]
    if isinstance(valid, dict):
        flags = [k for k in ("viewer", "preview", "search", "filter", "statistics") if valid.get(k)]
        out.append(
            f"Status: {'available in the viewer' if valid.get('viewer') or valid.get('preview') else 'not available in the viewer'}"
            + (f" ({', '.join(flags)})" if flags else "")
        )
    split_list = splits.get("splits", []) if isinstance(splits, dict) else []
    config = str(args.get("config") or "").strip() or (
        split_list[0]["config"] if split_list else ""
    )
    config_splits = [s["split"] for s in split_list if s.get("config") == config]
    split = str(args.get("split") or "").strip() or (config_splits[0] if config_splits else "")
    if split_list and config not in {s.get("config") for s in split_list}:
        configs = sorted({str(s.get("config")) for s in split_list})
        return (
            f"hf_inspect_dataset {dataset}: no config {config!r}. Configs: {', '.join(configs[:20])}.",
            False,
        )

    info_task = get("info", config=config) if config else None
    rows_task = get("first-rows", config=config, split=split) if config and split else None
    info, first = await asyncio.gather(
        info_task if info_task else asyncio.sleep(0, result=None),
        rows_task if rows_task else asyncio.sleep(0, result=None),
        return_exceptions=True,
    )
    info_data = info.get("dataset_info") if isinstance(info, dict) else None
    split_sizes = (info_data or {}).get("splits") or {} if isinstance(info_data, dict) else {}

    if split_list:
        out += ["", "## Configs and splits", "| config | split | rows |", "|---|---|---|"]
        for s in split_list[:MAX_SPLIT_ROWS]:
            rows_n = (
                (split_sizes.get(s["split"]) or {}).get("num_examples")
                if s.get("config") == config
                else None
            )
            out.append(
                f"| {s.get('config')} | {s.get('split')} | {human_count(rows_n) if rows_n is not None else '-'} |"
            )
        if len(split_list) > MAX_SPLIT_ROWS:
            out.append(f"… {len(split_list) - MAX_SPLIT_ROWS} more config/split pairs")
    elif isinstance(splits, HubError):
        out += ["", f"Splits unavailable: {splits.message}"]

    features = (info_data or {}).get("features") if isinstance(info_data, dict) else None
    if not features and isinstance(first, dict):
        features = {f["name"]: f["type"] for f in first.get("features", []) if isinstance(f, dict)}
    if features:
        out += ["", f"## Schema ({config})"]
        for name, ft in list(features.items())[:MAX_COLUMNS]:
            out.append(f"- {name}: {format_feature(ft)}")
        if len(features) > MAX_COLUMNS:
            out.append(f"- … {len(features) - MAX_COLUMNS} more columns")
    elif isinstance(info, HubError):
        out += ["", f"Schema unavailable: {info.message}"]

    rows: list[dict[str, Any]] = []
    if isinstance(first, dict):
        rows = [r.get("row", {}) for r in first.get("rows", []) if isinstance(r, dict)]
        if n_rows and rows:
            out += ["", f"## Sample rows ({config}/{split})"]
            for i, row in enumerate(rows[:n_rows]):
                cells = ", ".join(f"{k}: {_cell(v)}" for k, v in list(row.items())[:MAX_COLUMNS])
                out.append(f"{i}. {cells}")
    elif isinstance(first, HubError):
        out += ["", f"Sample rows unavailable: {first.message}"]

    chat_col = next(
        (
            c
            for c in ("messages", "conversations", "chosen", "conversation")
            if rows and isinstance(rows[0].get(c), list)
        ),
        None,
    )
    if chat_col:
        analysis = analyse_messages(rows, chat_col)
        if analysis:
            out += ["", f"## `{chat_col}` column structure", *analysis]

    files = parquet.get("parquet_files", []) if isinstance(parquet, dict) else []
    if files:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for f in files:
            groups.setdefault((str(f.get("config")), str(f.get("split"))), []).append(f)
        out += ["", "## Parquet files"]
        for (cfg, spl), group in list(groups.items())[:MAX_PARQUET_GROUPS]:
            size = sum(int(f.get("size") or 0) for f in group)
            out.append(
                f"- {cfg}/{spl}: {len(group)} file(s), {human_size(size)} — {group[0].get('url')}"
            )
        if len(groups) > MAX_PARQUET_GROUPS:
            out.append(f"- … {len(groups) - MAX_PARQUET_GROUPS} more groups")
    return "\n".join(out), True


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="hf_inspect_dataset",
            description=(
                "Inspect a Hub dataset before using it: viewer status, configs/splits with row "
                "counts, schema, sample rows, the structure of a chat `messages` column, and "
                "parquet files. Use it to pick the right columns/format for a training script."
            ),
            parameters=PARAMETERS,
            handler=hf_inspect_dataset_handler,
            read_only=True,
            output_cap=OUTPUT_CAP,
            timeout_s=90.0,
            key_argument="dataset",
        )
    ]
