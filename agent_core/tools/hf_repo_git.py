"""``hf_repo_git``: branches, tags, pull requests and repo settings (upstream operations).

Gating lives in :mod:`agent_core.policy` (delete_branch, delete_tag, merge_pr, create_repo,
update_repo ask; the rest run). Outputs are short: PR lists show 20 entries, PR details show
the last comments cut to a few hundred characters. ``create_repo`` defaults to private, as
upstream, because an agent should not publish by accident.
"""

from __future__ import annotations

from typing import Any

from ..hub import HubError
from ..policy import normalize_operation
from .base import Services, ToolContext, ToolSpec
from .hub_artifacts import tag_new_repo
from .hub_common import cut, fmt_date, repo_id_arg, repo_type_arg, repo_url, require_hub

MAX_PRS = 20
MAX_REFS = 50
MAX_COMMENTS = 10
COMMENT_CHARS = 400
OUTPUT_CAP = 10_000

OPERATIONS = [
    "create_branch",
    "delete_branch",
    "create_tag",
    "delete_tag",
    "list_refs",
    "create_pr",
    "list_prs",
    "get_pr",
    "merge_pr",
    "close_pr",
    "comment_pr",
    "change_pr_status",
    "create_repo",
    "update_repo",
]

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "operation": {"type": "string", "enum": OPERATIONS},
        "repo_id": {"type": "string", "description": "owner/name"},
        "repo_type": {
            "type": "string",
            "enum": ["model", "dataset", "space"],
            "description": "Default model.",
        },
        "branch": {"type": "string", "description": "create_branch/delete_branch: branch name."},
        "from_rev": {
            "type": "string",
            "description": "create_branch: start from this revision (default main).",
        },
        "tag": {"type": "string", "description": "create_tag/delete_tag: tag name."},
        "revision": {
            "type": "string",
            "description": "create_tag: revision to tag (default main).",
        },
        "tag_message": {"type": "string"},
        "title": {"type": "string", "description": "create_pr: title."},
        "description": {"type": "string", "description": "create_pr: description."},
        "pr_num": {"type": "integer", "description": "PR/discussion number."},
        "comment": {
            "type": "string",
            "description": "comment_pr text, or a comment for merge/close/status change.",
        },
        "new_status": {
            "type": "string",
            "enum": ["open", "closed"],
            "description": "change_pr_status.",
        },
        "status": {
            "type": "string",
            "enum": ["open", "closed", "merged", "draft", "all"],
            "description": "list_prs filter (default open).",
        },
        "private": {"type": "boolean", "description": "create_repo (default true) / update_repo."},
        "gated": {
            "description": "update_repo: 'auto', 'manual' or false.",
            "anyOf": [{"type": "string"}, {"type": "boolean"}],
        },
        "space_sdk": {
            "type": "string",
            "enum": ["gradio", "docker", "static"],
            "description": "create_repo of a space.",
        },
    },
    "required": ["operation", "repo_id"],
}


def _need(args: dict[str, Any], name: str) -> str:
    value = str(args.get(name) or "").strip()
    if not value:
        raise HubError(f"this operation needs `{name}`.", kind="bad_request")
    return value


def _pr_num(args: dict[str, Any]) -> int:
    try:
        return int(args.get("pr_num"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise HubError(
            "this operation needs `pr_num` (the PR number).", kind="bad_request"
        ) from None


async def _dispatch(
    op: str, args: dict[str, Any], ctx: ToolContext, repo_id: str, repo_type: str
) -> str:
    hub = require_hub(ctx)
    what = f"{repo_type} {repo_id}"
    base = repo_url(hub.endpoint, repo_id, repo_type)

    async def call(method: str, *a: Any, **kw: Any) -> Any:
        return await hub.call(method, *a, what=what, **kw)

    if op == "create_branch":
        branch = _need(args, "branch")
        await call(
            "create_branch",
            repo_id,
            branch=branch,
            revision=args.get("from_rev") or None,
            repo_type=repo_type,
        )
        return f"Created branch {branch} in {repo_id} (from {args.get('from_rev') or 'main'})."
    if op == "delete_branch":
        branch = _need(args, "branch")
        await call("delete_branch", repo_id, branch=branch, repo_type=repo_type)
        return f"Deleted branch {branch} in {repo_id}."
    if op == "create_tag":
        tag = _need(args, "tag")
        await call(
            "create_tag", repo_id, tag=tag, tag_message=args.get("tag_message") or None,
            revision=args.get("revision") or None, repo_type=repo_type,
        )  # fmt: skip
        return f"Created tag {tag} in {repo_id} at {args.get('revision') or 'main'}."
    if op == "delete_tag":
        tag = _need(args, "tag")
        await call("delete_tag", repo_id, tag=tag, repo_type=repo_type)
        return f"Deleted tag {tag} in {repo_id}."
    if op == "list_refs":
        refs = await call(
            "list_repo_refs", repo_id, repo_type=repo_type, include_pull_requests=True
        )
        lines = [f"Refs of {repo_id}:"]
        for label, items in (
            ("branches", refs.branches),
            ("tags", refs.tags),
            ("pull requests", refs.pull_requests or []),
        ):
            shown = (
                ", ".join(f"{r.name} ({r.target_commit[:8]})" for r in items[:MAX_REFS]) or "none"
            )
            more = f" … +{len(items) - MAX_REFS}" if len(items) > MAX_REFS else ""
            lines.append(f"- {label}: {shown}{more}")
        return "\n".join(lines)
    if op == "create_pr":
        title = _need(args, "title")
        pr = await call(
            "create_pull_request",
            repo_id,
            title=title,
            description=args.get("description") or None,
            repo_type=repo_type,
        )
        return (
            f"Opened draft PR #{pr.num} in {repo_id}: {base}/discussions/{pr.num}\n"
            f"Push files to it with hf_repo_files upload revision='refs/pr/{pr.num}'."
        )
    if op == "list_prs":
        status = str(args.get("status") or "open").lower()
        items = await call(
            "get_repo_discussions", repo_id, discussion_type="pull_request",
            discussion_status=None if status in ("all", "merged", "draft") else status, repo_type=repo_type,
        )  # fmt: skip
        if status in ("merged", "draft"):
            items = [d for d in items if d.status == status]
        if not items:
            return f"No {status if status != 'all' else ''} pull requests in {repo_id}.".replace(
                "  ", " "
            )
        lines = [f"Pull requests in {repo_id} ({len(items)}):"]
        for d in items[:MAX_PRS]:
            lines.append(
                f"- #{d.num} [{d.status}] {cut(d.title, 80)} — {d.author} · {fmt_date(d.created_at)}"
            )
        if len(items) > MAX_PRS:
            lines.append(f"… {len(items) - MAX_PRS} more")
        return "\n".join(lines)
    if op == "get_pr":
        num = _pr_num(args)
        d = await call("get_discussion_details", repo_id, num, repo_type=repo_type)
        lines = [
            f"#{d.num} [{d.status}] {d.title} — by {d.author} on {fmt_date(d.created_at)}",
            f"{'Pull request' if d.is_pull_request else 'Discussion'}: {base}/discussions/{d.num}",
        ]
        if d.is_pull_request:
            lines.append(f"Target: {d.target_branch or 'main'}; git ref: {d.git_reference or '-'}")
            if d.conflicting_files:
                lines.append(
                    f"Conflicting files: {', '.join(list(d.conflicting_files)[:20]) if not isinstance(d.conflicting_files, bool) else 'yes'}"
                )
        comments = [
            e
            for e in d.events
            if getattr(e, "type", "") == "comment" and not getattr(e, "hidden", False)
        ]
        for e in comments[-MAX_COMMENTS:]:
            lines.append(
                f"- {e.author} ({fmt_date(e.created_at)}): {cut(getattr(e, 'content', ''), COMMENT_CHARS)}"
            )
        return "\n".join(lines)
    if op == "merge_pr":
        num = _pr_num(args)
        await call(
            "merge_pull_request",
            repo_id,
            num,
            comment=args.get("comment") or None,
            repo_type=repo_type,
        )
        return f"Merged PR #{num} in {repo_id}."
    if op in ("close_pr", "change_pr_status"):
        num = _pr_num(args)
        status = "closed" if op == "close_pr" else str(args.get("new_status") or "").lower()
        if status not in ("open", "closed"):
            raise HubError(
                "change_pr_status needs new_status 'open' or 'closed'.", kind="bad_request"
            )
        await call(
            "change_discussion_status",
            repo_id,
            num,
            status,
            comment=args.get("comment") or None,
            repo_type=repo_type,
        )
        return f"PR #{num} in {repo_id} is now {status}."
    if op == "comment_pr":
        num = _pr_num(args)
        comment = _need(args, "comment")
        await call("comment_discussion", repo_id, num, comment, repo_type=repo_type)
        return f"Commented on #{num} in {repo_id}."
    if op == "create_repo":
        private = args.get("private")
        private = True if private is None else bool(private)
        sdk = args.get("space_sdk") or None
        if repo_type == "space" and not sdk:
            raise HubError(
                "create_repo of a space needs space_sdk (gradio, docker or static).",
                kind="bad_request",
            )
        url = await call(
            "create_repo",
            repo_id,
            repo_type=repo_type,
            private=private,
            space_sdk=sdk,
            exist_ok=False,
        )
        text = f"Created {'private' if private else 'public'} {repo_type} repo {repo_id}: {url}"
        if await tag_new_repo(hub, repo_id, repo_type, ctx):
            text += " (README.md: tagged `ml-intern`, with a provenance section naming this thread)"
        return text
    if op == "update_repo":
        gated = args.get("gated")
        if isinstance(gated, str):
            gated = False if gated.lower() in ("false", "no", "off", "") else gated.lower()
        if gated not in (None, False, "auto", "manual"):
            raise HubError("gated must be 'auto', 'manual' or false.", kind="bad_request")
        private = args.get("private")
        if private is None and gated is None:
            raise HubError("update_repo needs `private` and/or `gated`.", kind="bad_request")
        await call(
            "update_repo_settings", repo_id, private=private, gated=gated, repo_type=repo_type
        )
        changes = ", ".join(
            x
            for x in (
                f"private={private}" if private is not None else "",
                f"gated={gated}" if gated is not None else "",
            )
            if x
        )
        return f"Updated {repo_id}: {changes}."
    raise HubError(f"Unknown operation '{op}'. Valid: {', '.join(OPERATIONS)}.", kind="bad_request")


async def hf_repo_git_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    op = normalize_operation(args)  # the same reading as the approval policy
    try:
        repo_id = repo_id_arg(args)
        repo_type = repo_type_arg(args)
        return await _dispatch(op, args, ctx, repo_id, repo_type), True
    except HubError as exc:
        return f"hf_repo_git {op}: {exc.message}", False


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="hf_repo_git",
            description=(
                "Git-level operations on a Hub repo: branches (create/delete), tags "
                "(create/delete), list_refs, pull requests (create_pr → draft, list_prs, get_pr, "
                "merge_pr, close_pr, comment_pr, change_pr_status), create_repo (private by "
                "default) and update_repo (private/gated). Deletes, merges and repo "
                "creation/settings ask for approval."
            ),
            parameters=PARAMETERS,
            handler=hf_repo_git_handler,
            read_only=False,
            output_cap=OUTPUT_CAP,
            timeout_s=120.0,
            key_argument="operation",
        )
    ]
