"""The agent's system prompt: a Markdown file rendered with the session's tools and the date.

The template is plain Markdown with a few ``{placeholders}``. Substitution is by exact token,
not ``str.format``, so the prompt can show code, JSON and ``{role, content}`` literally:

* ``{date}`` — today's date (UTC), e.g. ``2025-06-01 (Sunday)``;
* ``{tool_list}`` — one bullet per tool with a one-line hint (unknown tools, e.g. MCP tools,
  are listed by name), plus notes on what is *not* available (no ``bash`` → run code in jobs);
* ``{tool_names}`` — the bare comma-separated names;
* ``{extra}`` — deployment-specific text appended by the caller (empty by default).

A deployment can replace the whole text with ``system_prompt_file`` in the config: pass it as
``template_path``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

TOOL_HINTS: dict[str, str] = {
    "research": "delegate a literature/code survey to a read-only sub-agent; returns a recipe report",
    "explore_hf_docs": "search or list Hugging Face docs pages of one library",
    "fetch_hf_docs": "read one Hugging Face docs page (paged with offset)",
    "hf_papers": "search papers, read sections, follow citations, find linked datasets/models",
    "web_search": "search the web; cite sources",
    "github_find_examples": "find example scripts/notebooks in a GitHub repo by keyword",
    "github_list_repos": "list an org's or user's repositories",
    "github_read_file": "read a file from a GitHub repo (line ranges)",
    "hf_inspect_dataset": "check a dataset's splits, schema and sample rows before training",
    "hf_jobs": "run scripts or containers on Hugging Face Jobs (CPU/GPU); inspect, logs, cancel",
    "hf_repo_files": "list/read/upload/delete files in Hub repos",
    "hf_repo_git": "branches, tags, PRs and repo creation/settings on the Hub",
    "plan_tool": "keep a todo list for multi-step work",
    "notify": "send a notification to a configured destination",
    "read": "read a file in your workspace (or list a directory)",
    "write": "create/overwrite a file in your workspace",
    "edit": "edit a workspace file you have read",
    "bash": "run a shell command in your workspace (needs approval each time)",
}

log = logging.getLogger(__name__)

_TOKENS = re.compile(r"\{(?:date|tool_list|tool_names|extra)\}")


@lru_cache(maxsize=8)
def _load(path: str | None) -> str:
    if path:
        return Path(path).expanduser().read_text(encoding="utf-8")
    return resources.files(__name__).joinpath("system_prompt.md").read_text(encoding="utf-8")


def render_tool_list(tool_names: list[str]) -> str:
    lines = []
    for name in tool_names:
        hint = TOOL_HINTS.get(name)
        if hint is None and "__" in name:
            server = name.split("__", 1)[0]
            hint = f"tool from the '{server}' MCP server"
        lines.append(f"- `{name}`" + (f": {hint}" if hint else ""))
    names = set(tool_names)
    if "bash" not in names:
        lines.append(
            "- (No shell here: run code as an `hf_jobs` job; use the workspace tools to write it.)"
        )
    if "web_search" not in names:
        lines.append(
            "- (No general web search is configured; use the docs, papers and GitHub tools.)"
        )
    return "\n".join(lines) if lines else "- (no tools)"


def render_system_prompt(
    tool_names: list[str],
    now: datetime | None = None,
    extra: str = "",
    template_path: str | Path | None = None,
) -> str:
    """The system prompt for a session with these tools, as of ``now`` (UTC)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    text = _load(str(template_path) if template_path else None)
    values = {
        "{date}": now.strftime("%Y-%m-%d (%A)"),
        "{tool_list}": render_tool_list(list(tool_names)),
        "{tool_names}": ", ".join(tool_names),
        "{extra}": extra.strip(),
    }
    # One pass, so a value that happens to contain "{date}" is not substituted again.
    text = _TOKENS.sub(lambda m: values[m.group(0)], text)
    return text.rstrip() + "\n"


def fallback_system_prompt(tool_names: list[str], now: datetime | None = None) -> str:
    """A short built-in prompt for when the template cannot be rendered (a deployment's
    ``system_prompt_file`` was removed): the agent keeps working, with less guidance."""
    day = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d")
    return (
        "You are ML Intern, an ML-engineering agent working with a team in Slack. Be concise. "
        f"Tools: {', '.join(tool_names)}. Today is {day}."
    )


def system_prompt_renderer(template_path: str | Path | None = None) -> Callable[[list[str]], str]:
    """What a session calls for its system prompt: the shipped template, or the deployment's
    ``system_prompt_file`` (``template_path``).

    Rendered for every LLM call (tools and the date change). A template that fails to render
    (the deployment's file was removed or is unreadable) must not stop every turn: the
    built-in short prompt is used and the failure logged.
    """

    def render(tool_names: list[str]) -> str:
        now = datetime.now(UTC)
        try:
            return render_system_prompt(tool_names, now, template_path=template_path)
        except Exception:
            log.warning("system prompt rendering failed; using the fallback", exc_info=True)
            return fallback_system_prompt(tool_names, now)

    return render
