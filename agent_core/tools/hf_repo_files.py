"""``hf_repo_files``: list, read, upload and delete files in a Hub repo (upstream operations).

Bounded where upstream was not: ``list`` shows at most ``MAX_LIST`` entries (with totals), and
``read`` streams at most what it will show — a 5 GB checkpoint is never downloaded to answer
"what is in this file"; binaries are reported by size. Reads fetch the ``resolve`` URL built by
``huggingface_hub.hf_hub_url`` for our endpoint, with the token only on the Hub's own origin
(a redirect to a CDN continues without it). ``upload``/``delete`` are gated by the approval
policy (repo_write / repo_destructive). Uploads take ``content`` or a workspace file.
"""

from __future__ import annotations

from typing import Any

from ..hub import HubError, status_error
from .base import Services, ToolContext, ToolSpec
from .hub_artifacts import add_to_collection, is_card_upload, with_provenance
from .hub_common import (
    get_repo_file,
    human_size,
    int_arg,
    repo_id_arg,
    repo_type_arg,
    repo_url,
    require_hub,
)

MAX_LIST = 200
DEFAULT_READ_CHARS = 30_000
MAX_READ_CHARS = 50_000
MAX_FETCH_BYTES = 5_000_000
MAX_UPLOAD_BYTES = 50_000_000
OUTPUT_CAP = 52_000

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "operation": {"type": "string", "enum": ["list", "read", "upload", "delete"]},
        "repo_id": {"type": "string", "description": "owner/name"},
        "repo_type": {
            "type": "string",
            "enum": ["model", "dataset", "space"],
            "description": "Default model.",
        },
        "revision": {"type": "string", "description": "Branch, tag or commit (default main)."},
        "path": {
            "type": "string",
            "description": "File path in the repo (read/upload/delete) or folder (list).",
        },
        "content": {"type": "string", "description": "upload: the file's text content."},
        "source_path": {
            "type": "string",
            "description": "upload: a file in your workspace to upload instead of content.",
        },
        "patterns": {
            "type": "array",
            "items": {"type": "string"},
            "description": "delete: glob patterns (e.g. ['*.bin']).",
        },
        "create_pr": {
            "type": "boolean",
            "description": "upload/delete: open a pull request instead of committing.",
        },
        "commit_message": {"type": "string"},
        "offset": {"type": "integer", "description": "read: start at this character (paging)."},
        "max_chars": {
            "type": "integer",
            "description": f"read: characters to return (default {DEFAULT_READ_CHARS}, max {MAX_READ_CHARS}).",
        },
    },
    "required": ["operation", "repo_id"],
}


async def _list(
    args: dict[str, Any], ctx: ToolContext, repo_id: str, repo_type: str
) -> tuple[str, bool]:
    hub = require_hub(ctx)
    path = str(args.get("path") or "").strip().strip("/") or None
    entries = await hub.call(
        "list_repo_tree",
        repo_id,
        path_in_repo=path,
        recursive=True,
        revision=args.get("revision") or None,
        repo_type=repo_type,
        what=f"{repo_type} {repo_id}",
    )
    files = [e for e in entries if hasattr(e, "size")]
    total = sum(int(getattr(e, "size", 0) or 0) for e in files)
    head = f"{repo_id} ({repo_type}{', ' + str(args['revision']) if args.get('revision') else ''}"
    head += f"{', /' + path if path else ''}): {len(files)} files, {human_size(total)}"
    lines = [head]
    for e in sorted(entries, key=lambda e: e.path)[:MAX_LIST]:
        if hasattr(e, "size"):
            lfs = " (LFS)" if getattr(e, "lfs", None) else ""
            lines.append(f"- {e.path} — {human_size(e.size)}{lfs}")
        else:
            lines.append(f"- {e.path}/")
    if len(entries) > MAX_LIST:
        lines.append(f"… {len(entries) - MAX_LIST} more entries (pass path= to list a folder).")
    return "\n".join(lines), True


async def _read(
    args: dict[str, Any], ctx: ToolContext, repo_id: str, repo_type: str
) -> tuple[str, bool]:
    hub = require_hub(ctx)
    path = str(args.get("path") or "").strip().lstrip("/")
    if not path:
        return "read needs `path` (a file in the repo; use list to find it).", False
    offset = int_arg(args, "offset", 0, 0, MAX_FETCH_BYTES)
    limit = int_arg(args, "max_chars", DEFAULT_READ_CHARS, 1, MAX_READ_CHARS)
    want = min(MAX_FETCH_BYTES, (offset + limit) * 4 + 1)
    try:
        resp = await get_repo_file(
            hub,
            repo_id,
            path,
            repo_type=repo_type,
            revision=args.get("revision") or None,
            max_bytes=want,
        )
    except Exception as exc:
        from ..hub import translate_error

        raise translate_error(exc, f"{path} in {repo_id}", hub.endpoint) from exc
    if resp.status_code >= 400:
        code = resp.headers.get("X-Error-Code", "")
        if resp.status_code == 404 and code == "EntryNotFound":
            raise HubError(
                f"File not found: {path} in {repo_id}. List files with hf_repo_files list.",
                kind="not_found",
                status=404,
            )
        if resp.status_code == 404 and code == "RevisionNotFound":
            raise HubError(
                f"Revision not found: {args.get('revision')} in {repo_id}.",
                kind="not_found",
                status=404,
            )
        raise status_error(resp.status_code, resp.headers, resp.content, f"{repo_type} {repo_id}")
    size_header = resp.headers.get("Content-Length") or resp.headers.get("X-Linked-Size")
    data = resp.content
    head = data[:8192]
    if b"\x00" in head:
        size = int(size_header) if size_header and size_header.isdigit() else None
        return (
            f"{path} is a binary file ({human_size(size) if size else 'size unknown'}); not shown.",
            True,
        )
    text = data.decode("utf-8", errors="replace")
    chunk = text[offset : offset + limit]
    more = resp.truncated or len(text) > offset + limit
    header = f"{repo_id}/{path}"
    if offset or more:
        header += f" (characters {offset}–{offset + len(chunk)}"
        header += f"; more: pass offset={offset + len(chunk)})" if more else ")"
    return f"{header}\n```\n{chunk}\n```", True


async def _upload(
    args: dict[str, Any], ctx: ToolContext, repo_id: str, repo_type: str
) -> tuple[str, bool]:
    hub = require_hub(ctx)
    path = str(args.get("path") or "").strip().lstrip("/")
    if not path:
        return "upload needs `path` (where to put the file in the repo).", False
    content = args.get("content")
    source = str(args.get("source_path") or "").strip()
    if (content is None) == (not source):
        return "upload needs exactly one of `content` or `source_path` (a workspace file).", False
    if source:
        from .workspace import resolve_workspace_path

        try:
            real = resolve_workspace_path(ctx, source)
        except ValueError as exc:
            return f"source_path: {exc}", False
        if not real.is_file():
            return f"source_path '{source}' is not a file in your workspace.", False
        if real.stat().st_size > MAX_UPLOAD_BYTES:
            return (
                f"source_path is larger than {human_size(MAX_UPLOAD_BYTES)}; upload it from a job instead.",
                False,
            )
        payload = real.read_bytes()
    else:
        payload = str(content).encode("utf-8")
    if is_card_upload(path, repo_type):
        # Provenance survives a card rewrite: tag and section are merged into the new text.
        payload = with_provenance(
            payload.decode("utf-8", errors="replace"),
            repo_id=repo_id,
            repo_type=repo_type,
            origin=ctx.origin,
            session_id=ctx.session_id,
        ).encode("utf-8")
    info = await hub.call(
        "upload_file",
        path_or_fileobj=payload,
        path_in_repo=path,
        repo_id=repo_id,
        repo_type=repo_type,
        revision=args.get("revision") or None,
        commit_message=args.get("commit_message") or f"Upload {path} with ml-intern",
        create_pr=bool(args.get("create_pr")) or None,
        what=f"{repo_type} {repo_id}",
    )
    url = (
        getattr(info, "pr_url", None)
        or getattr(info, "commit_url", None)
        or repo_url(hub.endpoint, repo_id, repo_type)
    )
    if is_card_upload(path, repo_type):
        await add_to_collection(hub, repo_id, repo_type, ctx)
    kind = "Pull request opened" if getattr(info, "pr_url", None) else "Committed"
    return f"Uploaded {path} ({human_size(len(payload))}) to {repo_id}. {kind}: {url}", True


async def _delete(
    args: dict[str, Any], ctx: ToolContext, repo_id: str, repo_type: str
) -> tuple[str, bool]:
    hub = require_hub(ctx)
    patterns = [str(p) for p in (args.get("patterns") or []) if str(p).strip()]
    if not patterns and args.get("path"):
        patterns = [str(args["path"]).strip().lstrip("/")]
    if not patterns:
        return "delete needs `path` or `patterns`.", False
    info = await hub.call(
        "delete_files",
        repo_id,
        patterns,
        repo_type=repo_type,
        revision=args.get("revision") or None,
        commit_message=args.get("commit_message")
        or f"Delete {', '.join(patterns)[:60]} with ml-intern",
        create_pr=bool(args.get("create_pr")) or None,
        what=f"{repo_type} {repo_id}",
    )
    url = getattr(info, "pr_url", None) or getattr(info, "commit_url", None) or ""
    return f"Deleted {', '.join(patterns)} in {repo_id}. {url}".strip(), True


_OPS = {"list": _list, "read": _read, "upload": _upload, "delete": _delete}


async def hf_repo_files_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    op = str(args.get("operation") or "").strip().lower()
    if op not in _OPS:
        return (
            "hf_repo_files operations: list (files in a repo), read (a text file, paged), "
            "upload (content or a workspace file; needs approval), delete (paths/patterns; needs approval).",
            False,
        )
    try:
        repo_id = repo_id_arg(args)
        repo_type = repo_type_arg(args)
        return await _OPS[op](args, ctx, repo_id, repo_type)
    except HubError as exc:
        return f"hf_repo_files {op}: {exc.message}", False


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="hf_repo_files",
            description=(
                "Files in a Hub repo (model/dataset/space): list, read (text, paged with offset), "
                "upload (text content or a workspace file; asks for approval), delete (asks for "
                "approval). create_pr=true proposes the change as a pull request."
            ),
            parameters=PARAMETERS,
            handler=hf_repo_files_handler,
            read_only=False,
            output_cap=OUTPUT_CAP,
            timeout_s=300.0,
            key_argument="repo_id",
        )
    ]
