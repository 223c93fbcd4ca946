"""The GitHub REST client of the research tools, and the rules for what may be asked of it.

One chokepoint for every request: the token goes only to the configured API origin (through
:func:`~.http_util.get_bounded`, which re-checks redirects), owner/repository names must be
GitHub names, a file path is confined to the repository's contents, and a path with ``.`` or
``..`` segments is refused outright (URL normalisation would otherwise let
``contents/../../user`` reach any GET endpoint with the token). Rate limits become one sentence.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import httpx

from .base import ToolContext
from .http_util import BoundedResponse, get_bounded

DEFAULT_API_URL = "https://api.github.com"
FILE_MAX_BYTES = 5_000_000


class GitHubError(Exception):
    """A GitHub API failure with a message the model (and the user) can act on."""


@dataclass
class GitHubClient:
    client: httpx.AsyncClient
    api_url: str
    token: str | None

    async def get(self, path: str, params: dict[str, Any] | None = None, *, raw: bool = False,
                  max_bytes: int = FILE_MAX_BYTES) -> BoundedResponse:  # fmt: skip
        # The one chokepoint: a dot segment would let the URL normaliser climb out of the
        # endpoint the tool meant (``contents/../../user`` → ``/user``, with the token).
        if any(seg in (".", "..") for seg in unquote(path.split("?", 1)[0]).split("/")):
            raise GitHubError(f"refusing a GitHub API path with '.' or '..' segments: {path}")
        url = f"{self.api_url}{path}"
        headers = {
            "Accept": "application/vnd.github.raw" if raw else "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        creds = {"Authorization": f"Bearer {self.token}"} if self.token else None
        return await get_bounded(
            self.client,
            url,
            headers=headers,
            credential_headers=creds,
            credential_origin=self.api_url,
            params=params,
            max_bytes=max_bytes,
        )

    async def get_json(self, path: str, params: dict[str, Any] | None = None,
                       max_bytes: int = FILE_MAX_BYTES) -> tuple[Any, BoundedResponse]:  # fmt: skip
        resp = await self.get(path, params, max_bytes=max_bytes)
        check(resp, path)
        try:
            return resp.json(), resp
        except ValueError as exc:
            raise GitHubError(f"GitHub returned a non-JSON body for {path}") from exc


def api_url(ctx: ToolContext) -> str:
    configured = ctx.services.config.tools.github_api_url if ctx.services.config else None
    return (os.environ.get("GITHUB_API_URL") or configured or DEFAULT_API_URL).rstrip("/")


def github_token() -> str | None:
    return os.environ.get("GITHUB_TOKEN", "").strip() or None


def rate_limit_message(resp: BoundedResponse) -> str | None:
    """A clear sentence if this 403/429 is a rate limit (primary or secondary), else None."""
    if resp.status_code not in (403, 429):
        return None
    headers = resp.headers
    remaining = headers.get("x-ratelimit-remaining")
    retry_after = headers.get("retry-after")
    body = resp.text.lower()
    if remaining != "0" and not retry_after and "rate limit" not in body:
        return None
    hint = "" if github_token() else " Set GITHUB_TOKEN for a higher limit (5,000 requests/hour)."
    if retry_after and retry_after.isdigit():
        return f"GitHub rate limit hit; retry in {int(retry_after)} s.{hint}"
    reset = headers.get("x-ratelimit-reset")
    if reset and reset.isdigit():
        wait = max(0, int(reset) - int(time.time()))
        at = time.strftime("%H:%M UTC", time.gmtime(int(reset)))
        return f"GitHub rate limit exceeded; it resets at {at} (in {wait // 60} min {wait % 60} s).{hint}"
    return f"GitHub rate limit exceeded.{hint}"


def check(resp: BoundedResponse, what: str) -> None:
    if resp.status_code < 400:
        return
    limited = rate_limit_message(resp)
    if limited:
        raise GitHubError(limited)
    try:
        message = resp.json().get("message") or ""
    except Exception:
        message = resp.text[:200]
    if resp.status_code == 404:
        raise GitHubError(f"not found: {what}")
    if resp.status_code == 401:
        raise GitHubError("GitHub rejected the token (401): check GITHUB_TOKEN")
    raise GitHubError(f"GitHub API error {resp.status_code} for {what}: {message}".strip())


_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def check_name(value: str, what: str = "owner") -> str:
    """A GitHub owner or repository name: letters, digits, ``_.-``, never ``.``/``..``."""
    if not _NAME.fullmatch(value) or value in (".", ".."):
        raise GitHubError(f"{what} '{value}' is not a GitHub name (letters, digits, '-', '_', '.')")
    return value


def split_repo(repo: str, org: str | None = None) -> tuple[str, str]:
    repo = repo.strip().removeprefix("https://github.com/").strip("/")
    if "/" in repo:
        owner, name = repo.split("/", 1)
        return check_name(owner), check_name(name.removesuffix(".git"), "repository")
    if not org:
        raise GitHubError("repo must look like 'owner/name'")
    return check_name(org.strip()), check_name(repo, "repository")


def repo_file_path(path: str) -> str:
    """A path inside a repository, URL-encoded per segment; '.'/'..' segments are refused so
    the request stays under ``/repos/{owner}/{repo}/contents/``."""
    segments = [seg for seg in path.replace("\\", "/").split("/") if seg]
    if not segments or any(seg in (".", "..") for seg in segments):
        raise GitHubError(
            f"path '{path}' must be a file or directory inside the repository "
            "(no '.' or '..' segments)"
        )
    return "/".join(path_segment(seg) for seg in segments)


def path_segment(part: str) -> str:
    """One URL path segment, every reserved character encoded (a ``/`` cannot add a level)."""
    return quote(part, safe="")
