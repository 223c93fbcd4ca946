"""GitHub research tools: ``github_find_examples``, ``github_list_repos``, ``github_read_file``.

Upstream used synchronous ``requests`` inside async handlers (blocking the event loop), fetched
every page of an org's repos, and needed ``GITHUB_TOKEN``. Here: async httpx, ``GITHUB_TOKEN``
optional (anonymous calls work, with GitHub's lower rate limit), the API base configurable for
GitHub Enterprise (``GITHUB_API_URL`` env, else ``tools.github_api_url``), bounded pagination,
and rate-limit responses turned into one clear sentence with the reset time. The token is only
ever sent to that API origin.
"""

from __future__ import annotations

import base64
import json
import re
from difflib import SequenceMatcher
from typing import Any

import httpx

from .base import Services, ToolContext, ToolSpec
from .github_client import (
    GitHubClient,
    GitHubError,
    api_url,
    check,
    check_name,
    github_token,
    path_segment,
    repo_file_path,
    split_repo,
)
from .http_util import http_client

READ_DEFAULT_LINES = 300
READ_OUTPUT_CHARS = 30_000
LIST_MAX_PAGES = 10
LIST_DEFAULT_LIMIT = 30
LIST_MAX_LIMIT = 100
FIND_DEFAULT_RESULTS = 50
FIND_MAX_RESULTS = 100
TREE_MAX_BYTES = 20_000_000

# Directory names where runnable examples usually live.
EXAMPLE_DIRS = (
    "examples", "example", "scripts", "script", "notebooks", "notebook", "tutorials", "tutorial",
    "demos", "demo", "recipes", "recipe", "cookbook", "cookbooks", "samples", "sample",
    "training", "train", "finetuning", "fine-tuning", "fine_tuning", "research_projects",
    "projects", "quickstart", "getting_started", "guides", "usage", "benchmarks", "apps",
    "showcase", "use_cases", "colabs", "templates", "community", "legacy",
)  # fmt: skip
_CODE_EXT = (".py", ".ipynb", ".sh", ".md", ".yaml", ".yml", ".json", ".toml", ".txt", ".cfg")


# --------------------------------------------------------------------------- fuzzy matching


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def similarity(a: str, b: str) -> float:
    """0–100: exact/substring matches score high, otherwise difflib's ratio."""
    if not a or not b:
        return 0.0
    if a == b:
        return 100.0
    if len(a) >= 3 and (a in b or b in a):
        return 90.0
    return 100.0 * SequenceMatcher(None, a, b).ratio()


def _dir_like(name: str, known: str) -> bool:
    return name == known or SequenceMatcher(None, name, known).ratio() >= 0.85


def is_example_path(path: str) -> bool:
    """True for code/docs files under an examples-like directory (``examples/``, ``scripts/``,
    ``notebooks/`` …, tolerating close spellings such as ``example``/``exemples``)."""
    dirs = path.lower().split("/")[:-1]
    return path.lower().endswith(_CODE_EXT) and any(
        _dir_like(d, e) for d in dirs for e in EXAMPLE_DIRS
    )


def keyword_score(path: str, keyword: str) -> float:
    """How well a path matches the keyword (0–100): mean over keyword tokens of the best path
    token match, so 'sft lora' prefers paths that mention both."""
    words = _tokens(keyword)
    if not words:
        return 100.0
    parts = _tokens(path)
    best = [max((similarity(w, p) for p in parts), default=0.0) for w in words]
    score = sum(best) / len(best)
    if keyword.lower().replace(" ", "_") in path.lower():
        score = max(score, 100.0)
    return score


# --------------------------------------------------------------------------- find examples

FIND_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "repo": {"type": "string", "description": "Repository name (e.g. 'trl') or 'owner/name'."},
        "keyword": {
            "type": "string",
            "description": "What the example should be about (e.g. 'sft lora').",
        },
        "org": {
            "type": "string",
            "description": "Owner when repo has no slash. Default 'huggingface'.",
        },
        "max_results": {"type": "integer", "description": f"Default {FIND_DEFAULT_RESULTS}."},
        "min_score": {
            "type": "integer",
            "description": "Keyword match threshold 0-100. Default 60.",
        },
    },
    "required": ["repo"],
}


async def _suggest_repos(gh: GitHubClient, owner: str, name: str) -> str:
    try:
        data, _ = await gh.get_json(
            "/search/repositories", {"q": f"{name} user:{owner}", "per_page": 5}
        )
        names = [item["full_name"] for item in data.get("items", [])][:5]
    except (GitHubError, httpx.HTTPError, KeyError, AttributeError):
        names = []
    return f" Similar repositories: {', '.join(names)}." if names else ""


async def find_examples_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    try:
        owner, name = split_repo(str(args.get("repo") or ""), str(args.get("org") or "huggingface"))
        limit = max(1, min(int(args.get("max_results") or FIND_DEFAULT_RESULTS), FIND_MAX_RESULTS))
        min_score = float(args.get("min_score") if args.get("min_score") is not None else 60)
    except (GitHubError, TypeError, ValueError) as exc:
        return f"ERROR: {exc}", False
    keyword = str(args.get("keyword") or "").strip()
    async with http_client(ctx) as client:
        gh = GitHubClient(client, api_url(ctx), github_token())
        try:
            try:
                meta, _ = await gh.get_json(f"/repos/{path_segment(owner)}/{path_segment(name)}")
            except GitHubError as exc:
                if str(exc).startswith("not found"):
                    hint = await _suggest_repos(gh, owner, name)
                    return f"ERROR: repository {owner}/{name} not found.{hint}", False
                raise
            branch = meta.get("default_branch") or "main"
            tree, _ = await gh.get_json(
                f"/repos/{path_segment(owner)}/{path_segment(name)}/git/trees/{path_segment(branch)}",
                {"recursive": "1"},
                max_bytes=TREE_MAX_BYTES,
            )
        except (GitHubError, httpx.HTTPError) as exc:
            return f"ERROR: {exc}", False
    files = [e["path"] for e in tree.get("tree", []) if e.get("type") == "blob" and e.get("path")]
    examples = [p for p in files if is_example_path(p)]
    if keyword:
        scored = ((keyword_score(p, keyword), p) for p in examples)
        hits = sorted(
            ((sc, p) for sc, p in scored if sc >= min_score),
            key=lambda sp: (-sp[0], len(sp[1]), sp[1]),
        )
    else:
        hits = [(100.0, p) for p in examples]
    shown = hits[:limit]
    where = f"{owner}/{name}@{branch}"
    if not shown:
        reason = f" matching '{keyword}' (min_score {min_score:.0f})" if keyword else ""
        return (
            f"No example files{reason} in {where} ({len(examples)} example files of "
            f"{len(files)} total). Try another keyword or a lower min_score."
        ), True
    lines = [
        f"{len(hits)} example files in {where}" + (f" for '{keyword}'" if keyword else "") + ":"
    ]
    for score, path in shown:
        lines.append(f"- {path}" + (f"  (score {score:.0f})" if keyword else ""))
    if len(hits) > len(shown):
        lines.append(f"… {len(hits) - len(shown)} more (raise max_results or refine keyword)")
    if tree.get("truncated"):
        lines.append("(GitHub truncated the file tree: very large repository; some files missing)")
    lines.append(f"Read one with github_read_file(repo='{owner}/{name}', path=...).")
    return "\n".join(lines), True


# --------------------------------------------------------------------------- list repos

LIST_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "owner": {"type": "string", "description": "Organization or user name."},
        "owner_type": {"type": "string", "enum": ["org", "user"], "description": "Default org."},
        "sort": {
            "type": "string",
            "enum": ["stars", "forks", "updated", "created"],
            "description": "Default stars.",
        },  # fmt: skip
        "order": {"type": "string", "enum": ["desc", "asc"], "description": "Default desc."},
        "limit": {
            "type": "integer",
            "description": f"Default {LIST_DEFAULT_LIMIT}, max {LIST_MAX_LIMIT}.",
        },
    },
    "required": ["owner"],
}

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


async def list_repos_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    owner = str(args.get("owner") or "").strip()
    try:
        check_name(owner)
    except GitHubError:
        return "ERROR: owner must be an organization or user name (no slash)", False
    owner_type = str(args.get("owner_type") or "org")
    sort = str(args.get("sort") or "stars")
    order = str(args.get("order") or "desc")
    if owner_type not in ("org", "user") or sort not in ("stars", "forks", "updated", "created"):
        return "ERROR: owner_type must be org|user and sort stars|forks|updated|created", False
    try:
        limit = max(1, min(int(args.get("limit") or LIST_DEFAULT_LIMIT), LIST_MAX_LIMIT))
    except (TypeError, ValueError):
        return "ERROR: limit must be an integer", False
    # updated/created sort server-side, so pages stop once we have enough; stars/forks need
    # every page (bounded) and sort in memory.
    server_sort = sort in ("updated", "created")
    params: dict[str, Any] = {"per_page": 100, "type": "all"}
    if server_sort:
        params.update(sort=sort, direction=order)
    repos: list[dict[str, Any]] = []
    pages = 0
    more = False
    async with http_client(ctx) as client:
        gh = GitHubClient(client, api_url(ctx), github_token())
        kind = "orgs" if owner_type == "org" else "users"
        path: str | None = f"/{kind}/{path_segment(owner)}/repos"
        try:
            while path and pages < LIST_MAX_PAGES:
                try:
                    data, resp = await gh.get_json(path, params)
                except GitHubError as exc:
                    if pages == 0 and kind == "orgs" and str(exc).startswith("not found"):
                        kind = "users"  # a user passed as an org: try once as a user
                        path = f"/users/{path_segment(owner)}/repos"
                        continue
                    raise
                pages += 1
                repos.extend(r for r in data if isinstance(r, dict))
                m = _LINK_NEXT.search(resp.headers.get("link", ""))
                path, params = (m.group(1).removeprefix(gh.api_url), None) if m else (None, None)
                if path and not path.startswith("/"):
                    path = None  # a next link off the API origin is not followed
                if server_sort and len(repos) >= limit:
                    more = path is not None
                    break
            more = more or path is not None
        except (GitHubError, httpx.HTTPError) as exc:
            return f"ERROR: {exc}", False
    if not server_sort:
        key = "stargazers_count" if sort == "stars" else "forks_count"
        repos.sort(key=lambda r: r.get(key) or 0, reverse=order == "desc")
    shown = repos[:limit]
    if not shown:
        return f"{owner} has no public repositories.", True
    lines = [
        f"{len(shown)} of {len(repos)}{'+' if more else ''} repositories of {owner} by {sort} ({order}):"
    ]
    for r in shown:
        desc = (r.get("description") or "").strip().replace("\n", " ")
        lines.append(
            f"- {r.get('full_name')} ★{r.get('stargazers_count', 0)} forks {r.get('forks_count', 0)}"
            f" updated {str(r.get('updated_at') or '')[:10]}" + (f" — {desc[:120]}" if desc else "")
        )
    if more and not server_sort:
        lines.append(f"(Only the first {LIST_MAX_PAGES * 100} repositories were ranked.)")
    return "\n".join(lines), True


# --------------------------------------------------------------------------- read file

READ_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "repo": {"type": "string", "description": "'owner/name'."},
        "path": {"type": "string", "description": "File path in the repository."},
        "ref": {"type": "string", "description": "Branch, tag or commit. Default: default branch."},
        "line_start": {"type": "integer", "description": "First line (1-based)."},
        "line_end": {"type": "integer", "description": "Last line (inclusive)."},
    },
    "required": ["repo", "path"],
}


def notebook_to_markdown(raw: str) -> str:
    """A notebook as Markdown, outputs dropped (they are noise and often huge)."""
    nb = json.loads(raw)
    lang = (nb.get("metadata", {}).get("kernelspec", {}) or {}).get("language", "python")
    parts = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        if cell.get("cell_type") == "code":
            parts.append(f"```{lang}\n{src.rstrip()}\n```")
        else:
            parts.append(src.rstrip())
    return "\n\n".join(p for p in parts if p.strip())


async def read_file_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    try:
        owner, name = split_repo(str(args.get("repo") or ""))
    except GitHubError as exc:
        return f"ERROR: {exc}", False
    path = str(args.get("path") or "").strip().strip("/")
    if not path:
        return "ERROR: path is required", False
    try:
        api_path = (
            f"/repos/{path_segment(owner)}/{path_segment(name)}/contents/{repo_file_path(path)}"
        )
    except GitHubError as exc:
        return f"ERROR: {exc}", False
    ref = str(args.get("ref") or "").strip()
    params = {"ref": ref} if ref else None
    async with http_client(ctx) as client:
        gh = GitHubClient(client, api_url(ctx), github_token())
        try:
            data, _ = await gh.get_json(api_path, params)
            if isinstance(data, list):
                names = [f"{e.get('name')}{'/' if e.get('type') == 'dir' else ''}" for e in data]
                return f"{path} is a directory in {owner}/{name}:\n" + "\n".join(names[:300]), True
            if data.get("encoding") == "base64" and data.get("content"):
                text = base64.b64decode(data["content"]).decode("utf-8", errors="replace")
            else:  # files > 1 MB come back without inline content: ask for the raw body
                resp = await gh.get(api_path, params, raw=True)
                check(resp, f"{owner}/{name}:{path}")
                text = resp.text
        except (GitHubError, httpx.HTTPError, ValueError) as exc:
            return f"ERROR: {exc}", False
    if "\x00" in text[:8192]:
        return f"ERROR: {path} is a binary file", False
    if path.endswith(".ipynb"):
        try:
            text = notebook_to_markdown(text)
        except (ValueError, AttributeError):
            pass
    lines = text.splitlines()
    total = len(lines)
    try:
        start = max(1, int(args.get("line_start") or 1))
        end_arg = args.get("line_end")
        end = int(end_arg) if end_arg not in (None, "") else start + READ_DEFAULT_LINES - 1
    except (TypeError, ValueError):
        return "ERROR: line_start/line_end must be integers", False
    if end < start:
        return "ERROR: line_end must not be before line_start", False
    end = min(end, total)
    if total and start > total:
        return f"ERROR: line_start {start} is past the end ({total} lines)", False
    body_lines: list[str] = []
    used = 0
    last = start - 1
    for i in range(start, end + 1):
        line = f"{i:5d}  {lines[i - 1]}"
        if body_lines and used + len(line) > READ_OUTPUT_CHARS:
            break
        body_lines.append(line)
        used += len(line) + 1
        last = i
    header = f"{owner}/{name}{'@' + ref if ref else ''}:{path} — lines {start}-{last} of {total}"
    out = header + "\n" + "\n".join(body_lines)
    if last < total:
        out += f"\n\n[{total - last} more lines. Call github_read_file with line_start={last + 1}.]"
    return out, True


# --------------------------------------------------------------------------- provider


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="github_find_examples",
            description=(
                "Find example/script/notebook files in a GitHub repository (default org "
                "huggingface), ranked by a keyword. Use before writing training code to copy "
                "a working recipe."
            ),
            parameters=FIND_PARAMETERS,
            handler=find_examples_handler,
            read_only=True,
            output_cap=15_000,
            timeout_s=120.0,
            key_argument="repo",
        ),
        ToolSpec(
            name="github_list_repos",
            description="List an organization's or user's GitHub repositories, sorted by stars, forks or date.",
            parameters=LIST_PARAMETERS,
            handler=list_repos_handler,
            read_only=True,
            output_cap=15_000,
            timeout_s=120.0,
            key_argument="owner",
        ),
        ToolSpec(
            name="github_read_file",
            description=(
                f"Read a file from a GitHub repository (first {READ_DEFAULT_LINES} lines unless "
                "a line range is given; notebooks are shown as Markdown without outputs)."
            ),
            parameters=READ_PARAMETERS,
            handler=read_file_handler,
            read_only=True,
            output_cap=READ_OUTPUT_CHARS + 2_000,
            timeout_s=60.0,
            key_argument="path",
        ),
    ]
