"""The system prompt file renders with the tool list and date, and teaches the workflow."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from agent_core.prompts import render_system_prompt  # noqa: E402

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_renders_tools_date_and_extra():
    text = render_system_prompt(
        ["research", "hf_jobs", "read", "write", "hub__model_search"], NOW, extra="Team: NLP."
    )
    assert "2025-06-01 (Sunday)" in text
    assert "- `research`: delegate" in text and "- `hf_jobs`:" in text
    assert "`hub__model_search`: tool from the 'hub' MCP server" in text
    assert "No shell here" in text and "No general web search" in text
    assert text.rstrip().endswith("Team: NLP.")
    assert "{tool_list}" not in text and "{date}" not in text and "{extra}" not in text
    assert "{role, content}" in text  # literal braces survive (no str.format)


def test_teaches_the_slack_workflow():
    text = render_system_prompt(["bash", "web_search"], NOW).lower()
    for phrase in (
        "concise",
        "thread",
        "approve",
        "research before writing code",
        "check the format before training",
        "smoke test on cpu",
        "push_to_hub",
        "at least 2h",
        "ask before spending",
    ):
        assert phrase in text, phrase
    assert "no shell here" not in text


def test_custom_template(tmp_path):
    tpl = tmp_path / "p.md"
    tpl.write_text("Hi {date}. Tools: {tool_names}. {unknown}")
    text = render_system_prompt(["a", "b"], NOW, template_path=tpl)
    assert text == "Hi 2025-06-01 (Sunday). Tools: a, b. {unknown}\n"
