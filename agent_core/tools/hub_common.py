"""Small helpers shared by the Hub tools (hf_repo_files, hf_repo_git, hf_search, hf_papers,
hf_inspect_dataset): getting the HubClient from the context, validating ``repo_type``, and
formatting sizes, dates and cut text the same way everywhere."""

from __future__ import annotations

from typing import Any

from ..hub import HubClient, HubError
from .base import ToolContext

REPO_TYPES = ("model", "dataset", "space")
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def require_hub(ctx: ToolContext) -> HubClient:
    """The process HubClient; built from the environment (HF_ENDPOINT, HF_TOKEN) on first use
    when the host did not provide one, so the Hub tools work in any host (CLI, tests, bot)."""
    hub = ctx.services.hub
    if hub is None:
        hub = HubClient()
        ctx.services.hub = hub
    return hub


def repo_type_arg(args: dict[str, Any]) -> str:
    value = str(args.get("repo_type") or "model").strip().lower()
    if value.endswith("s") and value[:-1] in REPO_TYPES:
        value = value[:-1]
    if value not in REPO_TYPES:
        raise HubError(
            f"repo_type must be one of {', '.join(REPO_TYPES)} (got {value!r}).", kind="bad_request"
        )
    return value


def repo_id_arg(args: dict[str, Any], name: str = "repo_id") -> str:
    value = str(args.get(name) or "").strip().strip("/")
    if not value:
        raise HubError(f"`{name}` is required (owner/name).", kind="bad_request")
    return value


def repo_url(endpoint: str, repo_id: str, repo_type: str) -> str:
    return f"{endpoint}/{URL_PREFIX.get(repo_type, '')}{repo_id}"


def human_size(n: Any) -> str:
    if not isinstance(n, int | float):
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def human_count(n: Any) -> str:
    if not isinstance(n, int | float):
        return "-"
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return str(int(n))


def fmt_date(value: Any) -> str:
    if value is None:
        return "-"
    try:
        return value.strftime("%Y-%m-%d")
    except AttributeError:
        return str(value)[:10]


def cut(text: Any, limit: int) -> str:
    s = "" if text is None else str(text)
    s = " ".join(s.split()) if "\n" not in s else s
    return s if len(s) <= limit else s[: max(0, limit - 1)] + "…"


def int_arg(args: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(args.get(name) if args.get(name) not in (None, "") else default)
    except (TypeError, ValueError):
        value = default
    return max(lo, min(hi, value))


async def get_repo_file(
    hub: HubClient,
    repo_id: str,
    path: str,
    *,
    repo_type: str,
    max_bytes: int,
    revision: str | None = None,
) -> Any:
    """GET one file of a repo from the resolve endpoint, reading at most ``max_bytes``; the
    token goes to the Hub only (a redirect to a CDN continues without it)."""
    from huggingface_hub import hf_hub_url

    from .http_util import get_bounded

    url = hf_hub_url(repo_id, path, repo_type=repo_type, revision=revision, endpoint=hub.endpoint)
    return await get_bounded(
        hub.http,
        url,
        credential_headers=hub.auth_headers(),
        credential_origin=hub.endpoint,
        max_bytes=max_bytes,
    )
