"""How a file someone shared is shown to the model: whole, as a preview, or described.

Pure functions of the bytes on disk, so they are cheap to test. The shapes follow what an ML
engineer needs first: a small CSV or script whole; a big CSV's columns, types and first rows; a
JSONL's keys; a notebook's cells as code (outputs dropped: they are large and stale); a binary's
name, type and size. Everything says where the file is in the workspace, so tools can read it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

TEXT_EXTENSIONS = {
    "txt": "", "md": "markdown", "csv": "csv", "tsv": "tsv", "json": "json", "jsonl": "json",
    "ndjson": "json", "py": "python", "ipynb": "json", "yaml": "yaml", "yml": "yaml",
    "toml": "toml", "cfg": "ini", "ini": "ini", "log": "", "sh": "bash", "js": "javascript",
    "ts": "typescript", "sql": "sql", "r": "r", "rs": "rust", "go": "go", "java": "java",
    "c": "c", "h": "c", "cpp": "cpp", "html": "html", "xml": "xml", "rst": "rst", "tex": "latex",
    "diff": "diff", "patch": "diff", "dockerfile": "dockerfile", "env": "", "out": "", "err": "",
}  # fmt: skip
SNIFF_BYTES = 8192
NOTEBOOK_PARSE_BYTES = 20 * 1024 * 1024  # notebooks up to this are parsed to show their cells
SCHEMA_ROWS = 50


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover


def extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1].lower()
    return base.rsplit(".", 1)[-1] if "." in base else base


def looks_like_text(head: bytes, name: str, mimetype: str) -> bool:
    """Text if the name or type says so and the first bytes agree (no NULs, valid UTF-8)."""
    if b"\x00" in head[:SNIFF_BYTES]:
        return False
    try:
        head[:SNIFF_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head[:SNIFF_BYTES]) - 4:  # not just a character cut at the edge
            return False
    known = extension(name) in TEXT_EXTENSIONS
    textual_type = mimetype.startswith("text/") or mimetype in (
        "application/json", "application/x-ndjson", "application/x-yaml", "application/xml",
        "application/x-ipynb+json", "application/x-sh", "application/javascript",
    )  # fmt: skip
    return known or textual_type or not mimetype or mimetype == "application/octet-stream"


def count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (0 if last == b"\n" else 1)


def fence(text: str, lang: str = "") -> str:
    """A code fence longer than any backtick run inside, so file content cannot close it."""
    run, longest = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip(chr(10))}\n{ticks}"


def notebook_cells(raw: str) -> str | None:
    """A notebook's cells as code and markdown (outputs dropped), or None if it is not one."""
    try:
        nb = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None
    lang = ((nb.get("metadata") or {}).get("language_info") or {}).get("name") or "python"
    parts = []
    for i, cell in enumerate(nb["cells"], 1):
        if not isinstance(cell, dict):
            continue
        src = cell.get("source") or ""
        src = "".join(src) if isinstance(src, list) else str(src)
        kind = cell.get("cell_type") or "code"
        if kind == "code":
            parts.append(f"# cell {i} (code)\n" + fence(src, str(lang)))
        else:
            parts.append(f"# cell {i} ({kind})\n{src.rstrip()}")
    return "\n\n".join(parts)


def _value_type(value: str) -> str:
    v = value.strip()
    if not v:
        return "empty"
    for kind, parse in (("int", int), ("float", float)):
        try:
            parse(v)
            return kind
        except ValueError:
            pass
    return "bool" if v.lower() in ("true", "false") else "str"


def csv_schema(head: str, delimiter: str | None = None) -> str | None:
    """Columns with the types seen in the first rows, or None if it does not parse as a table."""
    lines = head.splitlines()[: SCHEMA_ROWS + 1]
    if len(lines) < 2:
        return None
    try:
        dialect: Any = csv.Sniffer().sniff(lines[0] + "\n" + lines[1], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel_tab if delimiter == "\t" else csv.excel
    rows = list(csv.reader(io.StringIO("\n".join(lines)), dialect))
    header, body = rows[0], rows[1:]
    if len(header) < 2 and not delimiter:
        return None
    cols = []
    for i, name in enumerate(header):
        kinds = {_value_type(r[i]) for r in body if i < len(r)} - {"empty"}
        kind = (
            "float" if kinds == {"int", "float"} else "/".join(sorted(kinds)) if kinds else "empty"
        )
        cols.append(f"{name} ({kind})")
    return f"{len(header)} columns: " + ", ".join(cols)


def jsonl_schema(head: str) -> str | None:
    """Keys and value types of the first JSON lines, or None if they are not JSON objects."""
    keys: dict[str, set[str]] = {}
    seen = 0
    for line in head.splitlines()[:SCHEMA_ROWS]:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            break  # the preview may end mid-line
        if not isinstance(obj, dict):
            return None
        seen += 1
        for k, v in obj.items():
            keys.setdefault(k, set()).add(type(v).__name__.replace("NoneType", "null"))
    if not seen:
        return None
    return f"keys (first {seen} records): " + ", ".join(
        f"{k} ({'/'.join(sorted(t))})" for k, t in keys.items()
    )


def json_outline(raw: str) -> str | None:
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if isinstance(obj, dict):
        return f"a JSON object with keys: {', '.join(list(obj)[:40])}"
    if isinstance(obj, list):
        return f"a JSON array of {len(obj)} items"
    return None


HEAD_BYTES = 256 * 1024


def preview(path: Path, name: str, *, lines: int, chars: int) -> tuple[str, str | None]:
    """``(first lines, schema)`` of a large text file, reading only its head. A gzipped text
    file (``train.csv.gz``) is previewed through its decompressed head."""
    compressed = extension(name) == "gz"
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as fh:
            head_bytes = fh.read(max(chars * 4, HEAD_BYTES))
    except (OSError, EOFError):  # not gzip after all, or truncated
        return "", None
    whole = not compressed and path.stat().st_size <= len(head_bytes)
    head = head_bytes.decode("utf-8", errors="replace")
    ext = extension(name[:-3] if compressed else name)
    schema = None
    if ext in ("csv", "tsv"):
        schema = csv_schema(head, "\t" if ext == "tsv" else None)
    elif ext in ("jsonl", "ndjson"):
        schema = jsonl_schema(head)
    elif ext == "json" and whole:
        schema = json_outline(head)
    first = "\n".join(head.splitlines()[:lines])
    if len(first) > chars:
        first = first[:chars] + " […]"
    return first, schema


def gzipped_text(name: str) -> bool:
    """``x.csv.gz``, ``x.jsonl.gz``, ``x.log.gz``: compressed text worth a preview."""
    return extension(name) == "gz" and extension(name[:-3]) in TEXT_EXTENSIONS


def describe_file(
    path: Path,
    *,
    kind: str,
    mimetype: str,
    inline_bytes: int,
    preview_lines: int,
    preview_chars: int,
    budget_used_up: bool = False,
) -> tuple[str, int]:
    """The model's view of a saved file, and how many characters of the message's inline
    budget it used. ``inline_bytes`` is what may still be shown whole for this file."""
    name, size = path.name, path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    where = f"saved in your workspace as `{name}`"
    if gzipped_text(name):
        first, schema = preview(path, name, lines=preview_lines, chars=preview_chars)
        text = f"[File `{name}` ({kind}, {human_size(size)}), {where}: gzipped]"
        if schema:
            text += f"\nSchema: {schema}"
        if first:
            lang = TEXT_EXTENSIONS.get(extension(name[:-3]), "")
            text += f"\nFirst lines, decompressed:\n{fence(first, lang)}"
        return text, len(first)
    if not looks_like_text(head, name, mimetype):
        what = "an image" if mimetype.startswith("image/") else "a binary file"
        return f"[File `{name}` ({kind}, {human_size(size)}), {where}: {what}, not shown here]", 0
    head_line = f"[File `{name}` ({kind}, {human_size(size)}, {count_lines(path)} lines), {where}]"
    lang = TEXT_EXTENSIONS.get(extension(name), "")
    if extension(name) == "ipynb" and size <= NOTEBOOK_PARSE_BYTES:
        # Outputs make notebooks large; the cells alone usually fit.
        cells = notebook_cells(path.read_bytes().decode("utf-8", errors="replace"))
        if cells is not None:
            if len(cells.encode()) <= inline_bytes:
                return f"{head_line}\nNotebook cells (outputs omitted):\n{cells}", len(cells)
            cut = cells.encode()[:preview_chars].decode("utf-8", "ignore")
            return (
                f"{head_line}\nIts cells are too long to show whole; read it with your tools. "
                f"The first cells (outputs omitted):\n{cut}\n[…]",
                len(cut),
            )
    if size <= inline_bytes:
        raw = path.read_bytes().decode("utf-8", errors="replace")
        return f"{head_line}\n{fence(raw, lang)}", len(raw)
    first, schema = preview(path, name, lines=preview_lines, chars=preview_chars)
    why = (
        "not shown whole: this message's inline budget is used up"
        if budget_used_up
        else "too large to show whole"
    )
    text = f"{head_line}\nIt is {why}; read it with your tools."
    if schema:
        text += f"\nSchema: {schema}"
    return text + f"\nFirst lines:\n{fence(first, lang)}", len(first)
