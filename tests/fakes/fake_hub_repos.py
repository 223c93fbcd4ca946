"""Repository side of the fake Hub, plus the datasets-server it fronts.

Covers what ``HfApi`` needs for model/dataset/space repos — info and listing, tree, resolve
(download), the commit API (preupload + NDJSON commit, regular base64 files only), refs,
branches, tags, create/delete/settings, and discussions/pull requests — with the exact JSON
shapes ``huggingface_hub`` 1.33 parses. Repos are in-memory snapshots: each commit stores the
full ``{path: bytes}`` mapping, which keeps PR/merge/revision semantics trivial to reason about
for the small files tests use.
"""

from __future__ import annotations

import base64
import difflib
import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import yaml
from aiohttp import web

from .fake_hub_common import (
    Auth,
    FakeUser,
    HubError,
    bool_param,
    git_blob_oid,
    iso,
    object_id,
    random_sha,
    read_json,
    request_auth,
    utcnow,
)

if TYPE_CHECKING:
    from .fake_hub import FakeHub

RepoType = Literal["model", "dataset", "space"]
PLURALS: dict[str, RepoType] = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX: dict[str, str] = {"model": "", "dataset": "datasets/", "space": "spaces/"}
GatedMode = Literal[False, "auto", "manual"]

GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
"""

REPO_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
DISCUSSIONS_PAGE_SIZE = 50


# ---------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------


@dataclass
class Commit:
    """One commit: a full snapshot of the repo's files (small test data, so copies are cheap)."""

    oid: str
    title: str
    message: str
    author: str
    date: datetime
    files: dict[str, bytes]
    parents: list[str] = field(default_factory=list)


@dataclass
class Discussion:
    """A discussion or pull request. PRs own the ref ``refs/pr/<num>``."""

    num: int
    title: str
    author: dict[str, Any]
    is_pr: bool
    status: str  # "draft" | "open" | "closed" | "merged"
    created_at: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    base_branch: str = "main"
    start_oid: str | None = None  # base head when the PR was opened (merge/diff reference)
    merge_commit_oid: str | None = None


@dataclass
class SplitData:
    """Rows of one split as the datasets-server would serve them."""

    rows: list[dict[str, Any]]
    num_rows_total: int | None = None

    @property
    def total(self) -> int:
        return self.num_rows_total if self.num_rows_total is not None else len(self.rows)


@dataclass
class ViewerConfig:
    """One dataset config: HF ``datasets`` features JSON + its splits."""

    features: dict[str, Any]
    splits: dict[str, SplitData] = field(default_factory=dict)


@dataclass
class FakeRepo:
    """A repo on the fake Hub. ``meta`` holds listing/info fields (downloads, likes, tags, ...)."""

    repo_id: str
    repo_type: RepoType = "model"
    private: bool = False
    gated: GatedMode = False
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=object_id)
    created_at: datetime = field(default_factory=utcnow)
    last_modified: datetime = field(default_factory=utcnow)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    tag_messages: dict[str, str] = field(default_factory=dict)
    pr_refs: dict[int, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    discussions: dict[int, Discussion] = field(default_factory=dict)
    viewer: dict[str, ViewerConfig] = field(default_factory=dict)
    granted: set[str] = field(default_factory=set)

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]

    @property
    def name(self) -> str:
        return self.repo_id.split("/")[-1]

    def url(self, base: str) -> str:
        return f"{base}/{URL_PREFIX[self.repo_type]}{self.repo_id}"

    # -- revisions ---------------------------------------------------------

    def resolve(self, rev: str) -> Commit | None:
        """Resolve a branch, tag, ``refs/heads|tags/x``, ``refs/pr/N`` or a full commit id."""
        oid = self.resolve_oid(rev)
        return self.commits.get(oid) if oid else None

    def resolve_oid(self, rev: str) -> str | None:
        if rev.startswith("refs/heads/"):
            return self.branches.get(rev[len("refs/heads/") :])
        if rev.startswith("refs/tags/"):
            return self.tags.get(rev[len("refs/tags/") :])
        if m := re.fullmatch(r"refs/pr/(\d+)", rev):
            return self.pr_refs.get(int(m.group(1)))
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tags:
            return self.tags[rev]
        if rev in self.commits:
            return rev
        return None

    def head(self, branch: str = "main") -> Commit:
        return self.commits[self.branches[branch]]

    def files_at(self, rev: str = "main") -> dict[str, bytes]:
        commit = self.resolve(rev)
        if commit is None:
            raise KeyError(rev)
        return dict(commit.files)

    def write_target(self, rev: str) -> tuple[str, str | int] | None:
        """Where a commit on ``rev`` lands: ``("branch", name)`` or ``("pr", num)``."""
        if m := re.fullmatch(r"refs/pr/(\d+)", rev):
            num = int(m.group(1))
            return ("pr", num) if num in self.pr_refs else None
        name = rev[len("refs/heads/") :] if rev.startswith("refs/heads/") else rev
        return ("branch", name) if name in self.branches else None

    def add_commit(
        self,
        target: tuple[str, str | int],
        files: dict[str, bytes],
        *,
        title: str,
        message: str = "",
        author: str = "system",
    ) -> Commit:
        """Append a commit on a branch or PR ref and move the ref."""
        kind, key = target
        parent = self.branches[key] if kind == "branch" else self.pr_refs[key]  # type: ignore[index]
        commit = Commit(random_sha(), title, message, author, utcnow(), dict(files), [parent])
        self.commits[commit.oid] = commit
        if kind == "branch":
            self.branches[key] = commit.oid  # type: ignore[index]
        else:
            self.pr_refs[key] = commit.oid  # type: ignore[index]
        self.last_modified = commit.date
        return commit


# ---------------------------------------------------------------------------
# Store (the test-facing API: ``hub.repos``)
# ---------------------------------------------------------------------------


class RepoStore:
    """All repos of the fake Hub, keyed by ``(repo_type, repo_id)``.

    Test helpers: ``add``, ``get``, ``remove``, ``grant_access``, ``files``, ``add_viewer_split``.
    """

    def __init__(self) -> None:
        self._repos: dict[tuple[str, str], FakeRepo] = {}

    def add(
        self,
        repo_id: str,
        *,
        repo_type: RepoType = "model",
        files: dict[str, bytes | str] | None = None,
        private: bool = False,
        gated: GatedMode = False,
        commit_title: str = "initial commit",
        **meta: Any,
    ) -> FakeRepo:
        """Create (or replace) a repo whose ``main`` holds ``.gitattributes`` plus ``files``."""
        if "/" not in repo_id:
            raise ValueError("the fake Hub only supports namespaced repo ids ('owner/name')")
        repo = FakeRepo(repo_id=repo_id, repo_type=repo_type, private=private, gated=gated)
        repo.meta = dict(meta)
        snapshot = {".gitattributes": GITATTRIBUTES}
        for path, content in (files or {}).items():
            snapshot[path] = content.encode() if isinstance(content, str) else content
        first = Commit(random_sha(), commit_title, "", repo.namespace, utcnow(), snapshot)
        repo.commits[first.oid] = first
        repo.branches["main"] = first.oid
        self._repos[(repo_type, repo_id)] = repo
        return repo

    def get(self, repo_id: str, repo_type: str = "model") -> FakeRepo | None:
        return self._repos.get((repo_type, repo_id))

    def __getitem__(self, key: str | tuple[str, str]) -> FakeRepo:
        repo_type, repo_id = ("model", key) if isinstance(key, str) else key
        repo = self.get(repo_id, repo_type)
        if repo is None:
            raise KeyError(key)
        return repo

    def __contains__(self, key: str | tuple[str, str]) -> bool:
        repo_type, repo_id = ("model", key) if isinstance(key, str) else key
        return (repo_type, repo_id) in self._repos

    def remove(self, repo_id: str, repo_type: str = "model") -> None:
        self._repos.pop((repo_type, repo_id), None)

    def all(self, repo_type: str | None = None) -> list[FakeRepo]:
        return [r for (t, _), r in self._repos.items() if repo_type is None or t == repo_type]

    def grant_access(self, repo_id: str, user: str, repo_type: str = "model") -> None:
        """Let ``user`` download from a gated repo (as if their access request was accepted)."""
        self[(repo_type, repo_id)].granted.add(user)

    def files(
        self, repo_id: str, repo_type: str = "model", revision: str = "main"
    ) -> dict[str, bytes]:
        return self[(repo_type, repo_id)].files_at(revision)

    def add_viewer_split(
        self,
        dataset_id: str,
        config: str,
        split: str,
        rows: list[dict[str, Any]],
        *,
        features: dict[str, Any] | None = None,
        num_rows_total: int | None = None,
    ) -> FakeRepo:
        """Give a dataset datasets-server data (creates the dataset repo if needed)."""
        repo = self.get(dataset_id, "dataset") or self.add(dataset_id, repo_type="dataset")
        cfg = repo.viewer.get(config)
        if cfg is None:
            cfg = repo.viewer[config] = ViewerConfig(features=features or infer_features(rows))
        elif features:
            cfg.features = features
        cfg.splits[split] = SplitData(rows=list(rows), num_rows_total=num_rows_total)
        return repo


# ---------------------------------------------------------------------------
# JSON builders
# ---------------------------------------------------------------------------


def infer_features(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """HF ``datasets`` features JSON inferred from the first row (enough for the viewer API)."""

    def feat(value: Any) -> Any:
        if isinstance(value, bool):
            return {"dtype": "bool", "_type": "Value"}
        if isinstance(value, int):
            return {"dtype": "int64", "_type": "Value"}
        if isinstance(value, float):
            return {"dtype": "float64", "_type": "Value"}
        if isinstance(value, dict):
            return {k: feat(v) for k, v in value.items()}
        if isinstance(value, list):
            return {
                "feature": feat(value[0]) if value else {"dtype": "null", "_type": "Value"},
                "_type": "List",
            }
        return {"dtype": "string", "_type": "Value"}

    return {k: feat(v) for k, v in (rows[0] if rows else {}).items()}


def _card_data(files: dict[str, bytes]) -> dict[str, Any] | None:
    readme = files.get("README.md")
    if not readme:
        return None
    text = readme.decode("utf-8", "replace")
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not m:
        return None
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def repo_info_json(
    repo: FakeRepo,
    commit: Commit,
    *,
    blobs: bool = False,
    compact: bool = False,
    card_data: bool = True,
) -> dict[str, Any]:
    """Info JSON as ``/api/{type}s/{id}`` returns it (``compact`` = list endpoint entry)."""
    m = repo.meta
    tags = list(m.get("tags", []))
    data: dict[str, Any] = {
        "_id": repo.id,
        "id": repo.repo_id,
        "author": repo.namespace,
        "sha": commit.oid,
        "lastModified": iso(repo.last_modified),
        "createdAt": iso(repo.created_at),
        "private": repo.private,
        "gated": repo.gated,
        "disabled": False,
        "likes": m.get("likes", 0),
        "tags": tags,
        "trendingScore": m.get("trendingScore", 0),
    }
    if repo.repo_type != "space":
        data["downloads"] = m.get("downloads", 0)
    if repo.repo_type == "model":
        data["modelId"] = repo.repo_id
        for key in ("pipeline_tag", "library_name"):
            if m.get(key):
                data[key] = m[key]
    if repo.repo_type == "dataset":
        data["description"] = m.get("description", "")
        for key in ("citation", "paperswithcode_id"):
            if m.get(key):
                data[key] = m[key]
    if repo.repo_type == "space":
        data["sdk"] = m.get("sdk", "gradio")
        data["subdomain"] = repo.repo_id.replace("/", "-").lower()
        data["host"] = f"https://{data['subdomain']}.hf.space"
        data["runtime"] = {
            "stage": "RUNNING",
            "hardware": {"current": "cpu-basic", "requested": "cpu-basic"},
            "storage": None,
            "replicas": {"current": 1, "requested": 1},
        }
    if compact:
        return data
    files = commit.files
    cd = _card_data(files) or m.get("cardData")
    if card_data and cd is not None:
        data["cardData"] = cd
    siblings = []
    for path in sorted(files):
        sib: dict[str, Any] = {"rfilename": path}
        if blobs:
            sib.update(size=len(files[path]), blobId=git_blob_oid(files[path]))
        siblings.append(sib)
    data["siblings"] = siblings
    data["usedStorage"] = sum(len(b) for b in files.values())
    if repo.repo_type == "model":
        data["spaces"] = m.get("spaces", [])
        if "config.json" in files:
            try:
                cfg = json.loads(files["config.json"])
                data["config"] = {
                    k: cfg[k]
                    for k in ("architectures", "model_type", "tokenizer_config")
                    if k in cfg
                }
            except ValueError:
                pass
        for key in ("transformersInfo", "safetensors", "widgetData"):
            if key in m:
                data[key] = m[key]
    return data


def _event(kind: str, author: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": object_id(),
        "type": kind,
        "createdAt": iso(utcnow()),
        "author": author,
        "data": data,
    }


def comment_event(author: dict[str, Any], text: str) -> dict[str, Any]:
    """A ``comment`` event exactly as ``deserialize_event`` expects it."""
    now = iso(utcnow())
    return _event(
        "comment",
        author,
        {
            "edited": False,
            "hidden": False,
            "latest": {
                "raw": text,
                "html": f"<p>{html.escape(text)}</p>",
                "updatedAt": now,
                "author": author,
            },
            "numEdits": 0,
            "editors": [author.get("name")],
            "editorAvatarUrls": [],
            "reactions": [],
            "isReport": False,
        },
    )


def _unified_diff(old: dict[str, bytes], new: dict[str, bytes]) -> str:
    out: list[str] = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        a_lines = [] if a is None else a.decode("utf-8", "replace").splitlines(keepends=True)
        b_lines = [] if b is None else b.decode("utf-8", "replace").splitlines(keepends=True)
        out.extend(
            difflib.unified_diff(
                a_lines,
                b_lines,
                fromfile="/dev/null" if a is None else f"a/{path}",
                tofile="/dev/null" if b is None else f"b/{path}",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def _changes(old: dict[str, bytes], new: dict[str, bytes]) -> dict[str, bytes | None]:
    """Per-path changes from ``old`` to ``new`` (``None`` = deleted)."""
    return {p: new.get(p) for p in set(old) | set(new) if old.get(p) != new.get(p)}


# ---------------------------------------------------------------------------
# HTTP service
# ---------------------------------------------------------------------------


class RepoService:
    """Registers and serves the repo + datasets-server routes of a ``FakeHub``."""

    def __init__(self, hub: FakeHub, store: RepoStore) -> None:
        self.hub = hub
        self.store = store

    def register(self, router: Any) -> None:
        repo = "/api/{plural:models|datasets|spaces}/{ns}/{name}"
        add = router.add
        add("POST", "/api/repos/create", self.create_repo, "repos.create")
        add("DELETE", "/api/repos/delete", self.delete_repo, "repos.delete")
        add("POST", "/api/validate-yaml", self.validate_yaml, "repos.validate_yaml")
        add("GET", "/api/{plural:models|datasets|spaces}", self.list_repos, "repos.list")
        add("GET", repo, self.info, "repos.info")
        add("GET", repo + "/revision/{rev}", self.info, "repos.info")
        add("GET", repo + "/tree/{rev}", self.tree, "repos.tree")
        add("GET", repo + "/tree/{rev}/{path:.+}", self.tree, "repos.tree")
        add("POST", repo + "/paths-info/{rev}", self.paths_info, "repos.paths_info")
        add("POST", repo + "/preupload/{rev}", self.preupload, "repos.preupload")
        add("POST", repo + "/commit/{rev}", self.commit, "repos.commit")
        add("PUT", repo + "/settings", self.settings, "repos.settings")
        add("GET", repo + "/refs", self.refs, "repos.refs")
        add("GET", repo + "/commits/{rev}", self.commits, "repos.commits")
        add("GET", repo + "/auth-check", self.auth_check, "repos.auth_check")
        add("GET", repo + "/auth-check/write", self.auth_check, "repos.auth_check")
        add("POST DELETE", repo + "/branch/{branch}", self.branch, "repos.branch")
        add("POST DELETE", repo + "/tag/{tag}", self.tag, "repos.tag")
        add("GET POST", repo + "/discussions", self.discussions, "repos.discussions")
        add("GET", repo + "/discussions/{num:\\d+}", self.discussion_details, "repos.discussion")
        add(
            "POST",
            repo + "/discussions/{num:\\d+}/{action:comment|status|merge}",
            self.discussion_action,
            "repos.discussion_action",
        )
        for prefix, plural in (("/datasets", "datasets"), ("/spaces", "spaces"), ("", "models")):
            add(
                "GET",
                prefix + "/{ns}/{name}/resolve/{rev}/{path:.+}",
                self._resolve_for(plural),
                "repos.resolve",
            )
        ds = "/datasets-server"
        add("GET", ds + "/is-valid", self.ds_is_valid, "datasets_server.is_valid")
        add("GET", ds + "/splits", self.ds_splits, "datasets_server.splits")
        add("GET", ds + "/info", self.ds_info, "datasets_server.info")
        add("GET", ds + "/first-rows", self.ds_first_rows, "datasets_server.first_rows")
        add("GET", ds + "/rows", self.ds_rows, "datasets_server.rows")
        add("GET", ds + "/parquet", self.ds_parquet, "datasets_server.parquet")

    # -- access control ----------------------------------------------------

    @staticmethod
    def _can_write(auth: Auth | None, namespace: str) -> bool:
        return auth is not None and namespace in auth.user.namespaces

    def _get_repo(
        self, request: web.Request, p: dict[str, str], *, content: bool = False
    ) -> FakeRepo:
        """Find a repo the caller may see; ``content=True`` also enforces gating (file bytes)."""
        repo_type = PLURALS[p.get("plural", "models")]
        repo_id = f"{p['ns']}/{p['name']}"
        auth = request_auth(request)
        repo = self.store.get(repo_id, repo_type)
        if repo is None or (repo.private and not self._can_write(auth, repo.namespace)):
            raise HubError(
                401 if auth is None else 404,
                "Repository not found",
                error_code="RepoNotFound",
            )
        if content and repo.gated:
            allowed = auth is not None and (
                auth.user.name in repo.granted or self._can_write(auth, repo.namespace)
            )
            if not allowed:
                kind = repo.repo_type
                if auth is None:
                    msg = (
                        f"Access to {kind} {repo_id} is restricted. You must have access to it "
                        "and be authenticated to access it. Please log in."
                    )
                    raise HubError(401, msg, error_code="GatedRepo")
                msg = (
                    f"Access to {kind} {repo_id} is restricted and you are not in the authorized "
                    f"list. Visit {repo.url(self.hub.url)} to ask for access."
                )
                raise HubError(403, msg, error_code="GatedRepo")
        return repo

    def _require_write(self, request: web.Request, repo: FakeRepo) -> Auth:
        auth = self.hub.require_auth(request, write=True)
        if not self._can_write(auth, repo.namespace):
            raise HubError(
                403,
                f"You don't have the rights to write to {repo.repo_type} {repo.repo_id}",
            )
        return auth

    @staticmethod
    def _commit_or_404(repo: FakeRepo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", error_code="RevisionNotFound")
        return commit

    def _author(self, auth: Auth) -> dict[str, Any]:
        return auth.user.author_json()

    # -- repos: create / delete / settings --------------------------------

    async def create_repo(self, request: web.Request, p: dict[str, str]) -> web.Response:
        auth = self.hub.require_auth(request, write=True)
        body = await read_json(request)
        name = body.get("name") or ""
        namespace = body.get("organization") or auth.user.name
        repo_type = body.get("type") or "model"
        if repo_type not in URL_PREFIX:
            raise HubError(400, f"Invalid repo type: {repo_type}")
        if not REPO_NAME_RE.fullmatch(name):
            raise HubError(400, f"Invalid repo name: {name!r}")
        if namespace not in auth.user.namespaces:
            raise HubError(
                403,
                f'You don\'t have the rights to create a {repo_type} under the namespace "{namespace}"',
            )
        repo_id = f"{namespace}/{name}"
        existing = self.store.get(repo_id, repo_type)
        url = f"{self.hub.url}/{URL_PREFIX[repo_type]}{repo_id}"
        if existing is not None:
            raise HubError(
                409,
                f"You already created this {repo_type} repo",
                body={"error": f"You already created this {repo_type} repo", "url": url},
            )
        if repo_type == "space" and not body.get("sdk"):
            raise HubError(400, "sdk is required for Spaces")
        visibility = body.get("visibility")
        private = visibility in ("private", "protected") or bool(body.get("private"))
        files: dict[str, bytes | str] = {}
        meta: dict[str, Any] = {}
        if repo_type == "space":
            meta["sdk"] = body["sdk"]
            files["README.md"] = (
                f"---\ntitle: {name}\nemoji: 🚀\nsdk: {body['sdk']}\npinned: false\n---\n"
            )
        repo = self.store.add(repo_id, repo_type=repo_type, files=files, private=private, **meta)
        repo.meta["creation_payload"] = body
        return web.json_response({"url": url, "name": repo_id, "id": repo.id})

    async def delete_repo(self, request: web.Request, p: dict[str, str]) -> web.Response:
        auth = self.hub.require_auth(request, write=True)
        body = await read_json(request)
        repo_type = body.get("type") or "model"
        namespace = body.get("organization") or auth.user.name
        repo_id = f"{namespace}/{body.get('name')}"
        if self.store.get(repo_id, repo_type) is None:
            raise HubError(404, "Repository not found", error_code="RepoNotFound")
        if namespace not in auth.user.namespaces:
            raise HubError(403, f"You don't have the rights to delete {repo_id}")
        self.store.remove(repo_id, repo_type)
        return web.json_response({})

    async def validate_yaml(self, request: web.Request, p: dict[str, str]) -> web.Response:
        body = await read_json(request)
        content = body.get("content") or ""
        m = re.match(r"^---\s*\n(.*?)\n---", content, re.S)
        if m:
            try:
                yaml.safe_load(m.group(1))
            except yaml.YAMLError as e:
                return web.json_response(
                    {"errors": [{"message": f"Invalid YAML: {e}"}], "warnings": []}, status=400
                )
        return web.json_response({"errors": [], "warnings": []})

    async def settings(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        self._require_write(request, repo)
        body = await read_json(request)
        if "gated" in body:
            if body["gated"] not in (False, "auto", "manual"):
                raise HubError(400, f"Invalid gated value: {body['gated']!r}")
            repo.gated = body["gated"]
        if "visibility" in body:
            repo.private = body["visibility"] in ("private", "protected")
        if "private" in body:
            repo.private = bool(body["private"])
        return web.json_response({"gated": repo.gated, "private": repo.private})

    # -- info / list / tree / resolve ---------------------------------------

    async def info(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        commit = self._commit_or_404(repo, p.get("rev", "main"))
        q = request.rel_url.query
        data = repo_info_json(repo, commit, blobs=bool_param(q.get("blobs")))
        expand = q.getall("expand", []) + q.getall("expand[]", [])
        if expand:
            data = {k: v for k, v in data.items() if k in ("_id", "id") or k in expand}
        return web.json_response(data)

    async def list_repos(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo_type = PLURALS[p["plural"]]
        q = request.rel_url.query
        auth = request_auth(request)
        repos = [
            r
            for r in self.store.all(repo_type)
            if not r.private or self._can_write(auth, r.namespace)
        ]
        for term in q.getall("search", []):
            repos = [r for r in repos if term.lower() in r.repo_id.lower()]
        if author := q.get("author"):
            repos = [r for r in repos if r.namespace.lower() == author.lower()]
        for flt in q.getall("filter", []):
            repos = [r for r in repos if flt in r.meta.get("tags", [])]
        if pipeline := q.get("pipeline_tag"):
            repos = [r for r in repos if r.meta.get("pipeline_tag") == pipeline]
        if (gated := q.get("gated")) is not None:
            want = bool_param(gated)
            repos = [r for r in repos if bool(r.gated) == want]
        sort_key = {
            "downloads": lambda r: r.meta.get("downloads", 0),
            "likes": lambda r: r.meta.get("likes", 0),
            "trendingScore": lambda r: r.meta.get("trendingScore", 0),
            "createdAt": lambda r: r.created_at,
            "lastModified": lambda r: r.last_modified,
            "id": lambda r: r.repo_id,
        }.get(q.get("sort", "trendingScore"), lambda r: r.meta.get("trendingScore", 0))
        repos.sort(key=sort_key, reverse=q.get("direction", "-1") != "1")

        full = bool_param(q.get("full"))
        expand = q.getall("expand", []) + q.getall("expand[]", [])
        card = bool_param(q.get("cardData"))
        items = []
        for r in repos:
            commit = r.head()
            data = repo_info_json(r, commit, compact=not (full or card or expand), card_data=card)
            if not full and not expand and not card:
                data.pop("sha", None)
            if expand:
                data = {k: v for k, v in data.items() if k in ("_id", "id") or k in expand}
            items.append(data)
        return self.hub.paginated(request, items, limit=q.get("limit"))

    def _tree_entries(
        self, commit: Commit, path: str, recursive: bool, expand: bool
    ) -> list[dict[str, Any]]:
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        files = {k: v for k, v in commit.files.items() if k.startswith(prefix)}
        if prefix and not files and path.strip("/") not in commit.files:
            raise HubError(
                404, f"{path} does not exist on {commit.oid}", error_code="EntryNotFound"
            )
        if path.strip("/") in commit.files:  # tree of a file path: the file itself
            files = {path.strip("/"): commit.files[path.strip("/")]}
            prefix = ""
        dirs: set[str] = set()
        entries: dict[str, dict[str, Any]] = {}
        for fpath, data in files.items():
            rel = fpath[len(prefix) :]
            parts = rel.split("/")
            for i in range(1, len(parts)):
                dirs.add(prefix + "/".join(parts[:i]))
            if recursive or len(parts) == 1:
                entries[fpath] = {
                    "type": "file",
                    "oid": git_blob_oid(data),
                    "size": len(data),
                    "path": fpath,
                }
        for d in dirs:
            rel_depth = d[len(prefix) :].count("/")
            if recursive or rel_depth == 0:
                oid = git_blob_oid(d.encode())
                entries[d] = {"type": "directory", "oid": oid, "size": 0, "path": d}
        if expand:
            last = {"id": commit.oid, "title": commit.title, "date": iso(commit.date)}
            for e in entries.values():
                e["lastCommit"] = last
        return sorted(entries.values(), key=lambda e: (e["type"] != "directory", e["path"]))

    async def tree(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        commit = self._commit_or_404(repo, p["rev"])
        q = request.rel_url.query
        entries = self._tree_entries(
            commit, p.get("path", ""), bool_param(q.get("recursive")), bool_param(q.get("expand"))
        )
        return self.hub.paginated(request, entries)

    async def paths_info(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        commit = self._commit_or_404(repo, p["rev"])
        form = await request.post()
        out = []
        for path in form.getall("paths", []):
            path = str(path).strip("/")
            if path in commit.files:
                data = commit.files[path]
                out.append(
                    {"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": path}
                )
            elif any(f.startswith(path + "/") for f in commit.files):
                out.append(
                    {
                        "type": "directory",
                        "oid": git_blob_oid(path.encode()),
                        "size": 0,
                        "path": path,
                    }
                )
        return web.json_response(out)

    def _resolve_for(self, plural: str) -> Any:
        async def handler(request: web.Request, p: dict[str, str]) -> web.StreamResponse:
            return await self.resolve(request, {**p, "plural": plural})

        return handler

    async def resolve(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        """Serve file bytes with the headers ``hf_hub_download`` checks (ETag, X-Repo-Commit, size)."""
        repo = self._get_repo(request, p, content=True)
        commit = self._commit_or_404(repo, p["rev"])
        path = p["path"]
        if path not in commit.files:
            raise HubError(
                404,
                "Entry not found",
                error_code="EntryNotFound",
                headers={"X-Repo-Commit": commit.oid},
            )
        data = commit.files[path]
        etag = git_blob_oid(data)
        headers = {
            "ETag": f'"{etag}"',
            "X-Repo-Commit": commit.oid,
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'inline; filename="{path.split("/")[-1]}"',
        }
        ctype = "text/plain; charset=utf-8"
        if path.endswith(".json"):
            ctype = "application/json"
        elif not _looks_text(data):
            ctype = "application/octet-stream"
        rng = request.headers.get("Range")
        if rng and (m := re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())):
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            if start >= len(data):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
            chunk = data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{start + len(chunk) - 1}/{len(data)}"
            return web.Response(
                status=206, body=chunk, headers=headers, content_type=ctype.split(";")[0]
            )
        return web.Response(body=data, headers=headers, content_type=ctype.split(";")[0])

    # -- commit API --------------------------------------------------------------

    async def preupload(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        self._require_write(request, repo)
        commit = self._commit_or_404(repo, p["rev"])
        body = await read_json(request)
        files = []
        for f in body.get("files", []):
            existing = commit.files.get(f["path"])
            files.append(
                {
                    "path": f["path"],
                    # Always "regular": the fake has no LFS/xet storage, small files go inline.
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_oid(existing) if existing is not None else None,
                }
            )
        return web.json_response({"files": files, "commitOid": commit.oid})

    async def commit(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        auth = self._require_write(request, repo)
        rev = p["rev"]
        q = request.rel_url.query
        create_pr = bool_param(q.get("create_pr"))
        try:
            lines = [
                json.loads(line) for line in (await request.read()).splitlines() if line.strip()
            ]
        except ValueError as e:
            raise HubError(400, f"Invalid NDJSON payload: {e}") from e
        header = next((ln["value"] for ln in lines if ln.get("key") == "header"), None)
        if not header or not header.get("summary"):
            raise HubError(400, "Commit summary is required")
        target = repo.write_target(rev)
        if target is None:
            if repo.resolve(rev) is None:
                raise HubError(404, f"Invalid rev id: {rev}", error_code="RevisionNotFound")
            raise HubError(400, f"Cannot commit on {rev}: not a branch or a pull request ref")
        base_oid = repo.branches[target[1]] if target[0] == "branch" else repo.pr_refs[target[1]]  # type: ignore[index]
        if header.get("parentCommit") and header["parentCommit"] != base_oid:
            raise HubError(
                412,
                "A commit has happened since. Please refresh and try again.",
            )
        files = dict(repo.commits[base_oid].files)
        for line in lines:
            key, value = line.get("key"), line.get("value") or {}
            path = str(value.get("path", ""))
            if key == "header":
                continue
            if key in ("file", "lfsFile", "deletedFile", "deletedFolder") and (
                not path or path.startswith("/") or ".." in path.split("/")
            ):
                raise HubError(400, f"Invalid path: {path!r}")
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, "Only base64-encoded files are supported")
                files[path] = base64.b64decode(value.get("content", ""))
            elif key == "lfsFile":
                raise HubError(
                    400,
                    "The fake Hub does not store LFS files; upload small files (regular mode)",
                )
            elif key == "deletedFile":
                if path not in files:
                    raise HubError(
                        404,
                        f"A file with this name doesn't exist: {path}",
                        error_code="EntryNotFound",
                    )
                del files[path]
            elif key == "deletedFolder":
                prefix = path.rstrip("/") + "/"
                doomed = [f for f in files if f.startswith(prefix)]
                if not doomed:
                    raise HubError(404, f"Folder not found: {path}", error_code="EntryNotFound")
                for f in doomed:
                    del files[f]
            else:
                raise HubError(400, f"Unknown commit operation: {key!r}")

        pr: Discussion | None = None
        if create_pr:
            if target[0] != "branch":
                raise HubError(400, "create_pr requires a branch as revision")
            pr = self._new_discussion(
                repo,
                auth,
                title=header["summary"],
                description=header.get("description") or "",
                is_pr=True,
                base_branch=str(target[1]),
            )
            pr.status = "open"
            target = ("pr", pr.num)
        commit = repo.add_commit(
            target,
            files,
            title=header["summary"],
            message=header.get("description") or "",
            author=auth.user.name,
        )
        if target[0] == "pr":
            pr = repo.discussions[int(target[1])]
            if pr.status == "draft":
                pr.status = "open"
            pr.events.append(
                _event("commit", self._author(auth), {"subject": commit.title, "oid": commit.oid})
            )
        out: dict[str, Any] = {
            "success": True,
            "commitOid": commit.oid,
            "commitUrl": f"{repo.url(self.hub.url)}/commit/{commit.oid}",
            "hookOutput": "",
        }
        if create_pr and pr is not None:
            out["pullRequestUrl"] = f"{repo.url(self.hub.url)}/discussions/{pr.num}"
        return web.json_response(out)

    async def commits(self, request: web.Request, p: dict[str, str]) -> web.Response:
        """``list_repo_commits``: first-parent history, newest first."""
        repo = self._get_repo(request, p)
        commit: Commit | None = self._commit_or_404(repo, p["rev"])
        items = []
        while commit is not None:
            item: dict[str, Any] = {
                "id": commit.oid,
                "title": commit.title,
                "message": commit.message,
                "date": iso(commit.date),
                "authors": [{"user": commit.author, "avatar": f"/avatars/{commit.author}.svg"}],
            }
            if "formatted" in request.rel_url.query.getall("expand[]", []):
                item["formatted"] = {
                    "title": html.escape(commit.title),
                    "message": html.escape(commit.message),
                }
            items.append(item)
            commit = repo.commits.get(commit.parents[0]) if commit.parents else None
        return self.hub.paginated(request, items)

    async def auth_check(self, request: web.Request, p: dict[str, str]) -> web.Response:
        """``auth_check``: 200 when the caller can read (``/write``: write) the repo."""
        repo = self._get_repo(request, p, content=True)
        if request.path.endswith("/write"):
            self._require_write(request, repo)
        return web.json_response({})

    # -- refs ------------------------------------------------------------------------

    async def refs(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        data: dict[str, Any] = {
            "branches": [
                {"name": n, "ref": f"refs/heads/{n}", "targetCommit": o}
                for n, o in repo.branches.items()
            ],
            "converts": [],
            "tags": [
                {"name": n, "ref": f"refs/tags/{n}", "targetCommit": o}
                for n, o in repo.tags.items()
            ],
        }
        if bool_param(request.rel_url.query.get("include_prs")):
            data["pullRequests"] = [
                {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": o}
                for n, o in repo.pr_refs.items()
            ]
        return web.json_response(data)

    async def branch(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        self._require_write(request, repo)
        branch = p["branch"]
        if request.method == "DELETE":
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", error_code="RevisionNotFound")
            if branch == "main":
                raise HubError(403, "You cannot delete the default branch")
            del repo.branches[branch]
            return web.json_response({})
        body = await read_json(request)
        start = (body or {}).get("startingPoint") or "main"
        commit = self._commit_or_404(repo, start)
        if branch in repo.branches:
            raise HubError(409, "Reference already exists")
        repo.branches[branch] = commit.oid
        return web.json_response({})

    async def tag(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        self._require_write(request, repo)
        if request.method == "DELETE":
            tag = p["tag"]
            if tag not in repo.tags:
                raise HubError(404, f"Invalid rev id: {tag}", error_code="RevisionNotFound")
            del repo.tags[tag]
            repo.tag_messages.pop(tag, None)
            return web.json_response({})
        body = await read_json(request)
        commit = self._commit_or_404(repo, p["tag"])  # POST /tag/{revision}
        tag = body.get("tag") or ""
        if not tag:
            raise HubError(400, "tag is required")
        if tag in repo.tags:
            raise HubError(409, "Tag already exists")
        repo.tags[tag] = commit.oid
        if body.get("message"):
            repo.tag_messages[tag] = body["message"]
        return web.json_response({})

    # -- discussions / pull requests --------------------------------------------------

    def _new_discussion(
        self,
        repo: FakeRepo,
        auth: Auth,
        *,
        title: str,
        description: str,
        is_pr: bool,
        base_branch: str = "main",
    ) -> Discussion:
        num = max(repo.discussions, default=0) + 1
        d = Discussion(
            num=num,
            title=title,
            author=self._author(auth),
            is_pr=is_pr,
            status="draft" if is_pr else "open",
            created_at=utcnow(),
            base_branch=base_branch,
        )
        d.events.append(comment_event(d.author, description))
        if is_pr:
            d.start_oid = repo.branches[base_branch]
            repo.pr_refs[num] = d.start_oid
        repo.discussions[num] = d
        return d

    def _discussion_json(self, repo: FakeRepo, d: Discussion) -> dict[str, Any]:
        owner_type = "user" if repo.namespace in self.hub.users else "org"
        return {
            "num": d.num,
            "title": d.title,
            "status": d.status,
            "createdAt": iso(d.created_at),
            "isPullRequest": d.is_pr,
            "author": d.author,
            "repo": {"name": repo.repo_id, "type": repo.repo_type},
            "numComments": sum(1 for e in d.events if e["type"] == "comment"),
            "pinned": False,
            "topReactions": [],
            "numReactionUsers": 0,
            "repoOwner": {"name": repo.namespace, "type": owner_type, "isParticipating": False},
        }

    async def discussions(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        if request.method == "POST":
            auth = self.hub.require_auth(request, write=True)
            body = await read_json(request)
            title = (body.get("title") or "").strip()
            if len(title) < 3:
                raise HubError(400, "Title must be at least 3 characters long")
            d = self._new_discussion(
                repo,
                auth,
                title=title,
                description=body.get("description") or "",
                is_pr=bool(body.get("pullRequest")),
            )
            return web.json_response(
                {
                    "num": d.num,
                    "pullRequest": d.is_pr,
                    "url": f"{repo.url(self.hub.url)}/discussions/{d.num}",
                    **({"ref": f"refs/pr/{d.num}"} if d.is_pr else {}),
                }
            )
        q = request.rel_url.query
        items = sorted(repo.discussions.values(), key=lambda d: d.num, reverse=True)
        kind = q.get("type", "all")
        if kind == "pull_request":
            items = [d for d in items if d.is_pr]
        elif kind == "discussion":
            items = [d for d in items if not d.is_pr]
        status = q.get("status", "all")
        if status == "open":
            items = [d for d in items if d.status in ("open", "draft")]
        elif status == "closed":
            items = [d for d in items if d.status in ("closed", "merged")]
        if author := q.get("author"):
            items = [d for d in items if d.author.get("name") == author]
        page = int(q.get("p", "0"))
        start = page * DISCUSSIONS_PAGE_SIZE
        chunk = items[start : start + DISCUSSIONS_PAGE_SIZE]
        return web.json_response(
            {
                "discussions": [self._discussion_json(repo, d) for d in chunk],
                "count": len(items),
                "start": start,
                "numClosedDiscussions": sum(1 for d in items if d.status in ("closed", "merged")),
            }
        )

    def _get_discussion(self, repo: FakeRepo, num: str) -> Discussion:
        d = repo.discussions.get(int(num))
        if d is None:
            raise HubError(404, "Discussion not found")
        return d

    def _pr_state(self, repo: FakeRepo, d: Discussion) -> tuple[dict[str, bytes | None], list[str]]:
        """PR changes relative to where it started, and files that also changed on the base."""
        start = repo.commits[d.start_oid or repo.branches[d.base_branch]].files
        head = repo.commits[repo.pr_refs[d.num]].files
        changes = _changes(start, head)
        base_now = repo.commits[repo.branches[d.base_branch]].files
        base_changes = _changes(start, base_now)
        conflicts = sorted(
            p for p in changes if p in base_changes and base_changes[p] != changes[p]
        )
        return changes, conflicts

    async def discussion_details(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        d = self._get_discussion(repo, p["num"])
        data = self._discussion_json(repo, d)
        data.update(events=d.events, isReport=False, locked=False)
        if d.is_pr:
            changes: dict[str, Any] = {"base": f"refs/heads/{d.base_branch}"}
            if d.merge_commit_oid:
                changes["mergeCommitId"] = d.merge_commit_oid
            _, conflicts = self._pr_state(repo, d)
            start = repo.commits[d.start_oid or repo.branches[d.base_branch]].files
            head = repo.commits[repo.pr_refs[d.num]].files
            data.update(
                changes=changes, filesWithConflicts=conflicts, diff=_unified_diff(start, head)
            )
        return web.json_response(data)

    async def discussion_action(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._get_repo(request, p)
        auth = self.hub.require_auth(request, write=True)
        d = self._get_discussion(repo, p["num"])
        body = await read_json(request)
        body = body or {}
        action = p["action"]
        author = self._author(auth)
        is_maintainer = self._can_write(auth, repo.namespace)
        if action == "comment":
            text = (body.get("comment") or "").strip()
            if not text:
                raise HubError(400, "Comment cannot be empty")
            event = comment_event(author, text)
            d.events.append(event)
            return web.json_response({"newMessage": event})
        if action == "status":
            if not (is_maintainer or d.author.get("name") == auth.user.name):
                raise HubError(
                    403, "You don't have the rights to change the status of this discussion"
                )
            new = body.get("status")
            if new not in ("open", "closed"):
                raise HubError(400, "status must be 'open' or 'closed'")
            if d.status == "merged":
                raise HubError(400, "This pull request has already been merged")
            out: dict[str, Any] = {}
            if body.get("comment"):
                out["newMessage"] = comment_event(author, body["comment"])
                d.events.append(out["newMessage"])
            d.status = new
            out["newStatus"] = _event("status-change", author, {"status": new})
            d.events.append(out["newStatus"])
            return web.json_response(out)
        # merge
        if not is_maintainer:
            raise HubError(403, "You don't have the rights to merge this pull request")
        if not d.is_pr:
            raise HubError(400, "This discussion is not a pull request")
        if d.status in ("merged", "closed"):
            raise HubError(400, f"Cannot merge a {d.status} pull request")
        changes, conflicts = self._pr_state(repo, d)
        if conflicts:
            raise HubError(409, f"Cannot merge: conflicting files {', '.join(conflicts)}")
        files = dict(repo.head(d.base_branch).files)
        for path, data in changes.items():
            if data is None:
                files.pop(path, None)
            else:
                files[path] = data
        merged = repo.add_commit(
            ("branch", d.base_branch),
            files,
            title=f"{d.title} (#{d.num})",
            author=auth.user.name,
        )
        d.merge_commit_oid = merged.oid
        d.status = "merged"
        if body.get("comment"):
            d.events.append(comment_event(author, body["comment"]))
        d.events.append(_event("status-change", author, {"status": "merged"}))
        return web.json_response({"mergeCommitId": merged.oid})

    # -- datasets-server -------------------------------------------------------------

    def _ds_repo(self, request: web.Request) -> tuple[FakeRepo, str]:
        dataset = request.rel_url.query.get("dataset")
        if not dataset:
            raise HubError(
                422, "Parameter 'dataset' is required", error_code="MissingRequiredParameter"
            )
        auth = request_auth(request)
        repo = self.store.get(dataset, "dataset")
        ok = repo is not None and (not repo.private or self._can_write(auth, repo.namespace))
        if ok and repo is not None and repo.gated:
            ok = auth is not None and (
                auth.user.name in repo.granted or self._can_write(auth, repo.namespace)
            )
        if not ok or repo is None:
            if auth is None:
                raise HubError(
                    401,
                    "The dataset does not exist, or is not accessible without authentication "
                    "(private or gated). Please check the spelling of the dataset name or retry "
                    "with authentication.",
                    error_code="ExternalUnauthenticatedError",
                )
            raise HubError(
                404,
                "The dataset does not exist, or is not accessible with the current credentials "
                "(private or gated). Please check the spelling of the dataset name or retry with "
                "other authentication credentials.",
                error_code="ExternalAuthenticatedError",
            )
        return repo, dataset

    @staticmethod
    def _ds_config(repo: FakeRepo, config: str | None) -> tuple[str, ViewerConfig]:
        if not repo.viewer:
            raise HubError(404, "Not found.", error_code="ResponseNotFound")
        if config is None:
            raise HubError(
                422, "Parameter 'config' is required", error_code="MissingRequiredParameter"
            )
        cfg = repo.viewer.get(config)
        if cfg is None:
            raise HubError(404, "Not found.", error_code="ResponseNotFound")
        return config, cfg

    async def ds_is_valid(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo, _ = self._ds_repo(request)
        ok = bool(repo.viewer)
        return web.json_response(
            {"preview": ok, "viewer": ok, "search": ok, "filter": ok, "statistics": ok}
        )

    async def ds_splits(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo, dataset = self._ds_repo(request)
        if not repo.viewer:
            raise HubError(404, "Not found.", error_code="ResponseNotFound")
        want = request.rel_url.query.get("config")
        splits = [
            {"dataset": dataset, "config": c, "split": s}
            for c, cfg in repo.viewer.items()
            if want is None or c == want
            for s in cfg.splits
        ]
        return web.json_response({"splits": splits, "pending": [], "failed": []})

    def _dataset_info(self, dataset: str, config: str, cfg: ViewerConfig) -> dict[str, Any]:
        splits = {}
        total = 0
        for name, s in cfg.splits.items():
            nbytes = len(json.dumps(s.rows)) * max(1, s.total // max(1, len(s.rows)))
            total += nbytes
            splits[name] = {
                "name": name,
                "num_bytes": nbytes,
                "num_examples": s.total,
                "dataset_name": dataset.split("/")[-1],
            }
        return {
            "description": "",
            "citation": "",
            "homepage": "",
            "license": "",
            "features": cfg.features,
            "builder_name": "parquet",
            "dataset_name": dataset.split("/")[-1],
            "config_name": config,
            "version": {"version_str": "0.0.0", "major": 0, "minor": 0, "patch": 0},
            "splits": splits,
            "download_size": total // 3,
            "dataset_size": total,
        }

    async def ds_info(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo, dataset = self._ds_repo(request)
        config = request.rel_url.query.get("config")
        if config is None and repo.viewer:
            info = {c: self._dataset_info(dataset, c, cfg) for c, cfg in repo.viewer.items()}
        else:
            config, cfg = self._ds_config(repo, config)
            info = self._dataset_info(dataset, config, cfg)
        return web.json_response(
            {"dataset_info": info, "partial": False, "pending": [], "failed": []}
        )

    def _ds_split(self, request: web.Request) -> tuple[str, str, str, ViewerConfig, SplitData]:
        repo, dataset = self._ds_repo(request)
        q = request.rel_url.query
        if not q.get("config") or not q.get("split"):
            raise HubError(
                422,
                "Parameters 'split', 'config' and 'dataset' are required",
                error_code="MissingRequiredParameter",
            )
        config, cfg = self._ds_config(repo, q["config"])
        split = cfg.splits.get(q["split"])
        if split is None:
            raise HubError(404, "Not found.", error_code="ResponseNotFound")
        return dataset, config, q["split"], cfg, split

    @staticmethod
    def _features_list(cfg: ViewerConfig) -> list[dict[str, Any]]:
        return [
            {"feature_idx": i, "name": name, "type": ft}
            for i, (name, ft) in enumerate(cfg.features.items())
        ]

    async def ds_first_rows(self, request: web.Request, p: dict[str, str]) -> web.Response:
        dataset, config, split, cfg, data = self._ds_split(request)
        rows = data.rows[:100]
        return web.json_response(
            {
                "dataset": dataset,
                "config": config,
                "split": split,
                "features": self._features_list(cfg),
                "rows": [
                    {"row_idx": i, "row": r, "truncated_cells": []} for i, r in enumerate(rows)
                ],
                "truncated": data.total > len(rows),
            }
        )

    async def ds_rows(self, request: web.Request, p: dict[str, str]) -> web.Response:
        _, _, _, cfg, data = self._ds_split(request)
        q = request.rel_url.query
        offset = int(q.get("offset", "0"))
        length = min(int(q.get("length", "100")), 100)
        chunk = data.rows[offset : offset + length]
        return web.json_response(
            {
                "features": self._features_list(cfg),
                "rows": [
                    {"row_idx": offset + i, "row": r, "truncated_cells": []}
                    for i, r in enumerate(chunk)
                ],
                "num_rows_total": data.total,
                "num_rows_per_page": 100,
                "partial": False,
            }
        )

    async def ds_parquet(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo, dataset = self._ds_repo(request)
        want = request.rel_url.query.get("config")
        files = []
        for config, cfg in repo.viewer.items():
            if want is not None and config != want:
                continue
            for split, data in cfg.splits.items():
                files.append(
                    {
                        "dataset": dataset,
                        "config": config,
                        "split": split,
                        "url": (
                            f"{self.hub.url}/datasets/{dataset}/resolve/refs%2Fconvert%2Fparquet/"
                            f"{config}/{split}/0000.parquet"
                        ),
                        "filename": "0000.parquet",
                        "size": 2048 + 64 * data.total,
                    }
                )
        return web.json_response(
            {"parquet_files": files, "pending": [], "failed": [], "partial": False}
        )


def _looks_text(data: bytes) -> bool:
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in data[:4096]


__all__ = [
    "Commit",
    "Discussion",
    "FakeRepo",
    "FakeUser",
    "RepoService",
    "RepoStore",
    "SplitData",
    "ViewerConfig",
    "infer_features",
]
