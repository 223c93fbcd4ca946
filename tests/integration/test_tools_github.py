"""GitHub tools against a loopback REST fake: examples search, repo listing with pagination,
file reading (base64, raw fallback, notebooks, ranges), 404 suggestions, rate limits, token scope."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pytest  # noqa: E402

from agent_core.tools import github_tools as gt  # noqa: E402
from agent_core.tools.base import Services  # noqa: E402
from tests.fakes.fake_github import FakeGitHub  # noqa: E402
from tests.tool_harness import make_config, make_harness  # noqa: E402

NOTEBOOK = json.dumps(
    {
        "metadata": {"kernelspec": {"language": "python"}},
        "cells": [
            {"cell_type": "markdown", "source": ["# Fine-tune\n", "Intro"]},
            {"cell_type": "code", "source": "print('hi')", "outputs": [{"text": "SECRET OUTPUT"}]},
        ],
    }
)


@pytest.fixture
async def gh(monkeypatch):
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    async with FakeGitHub() as fake:
        fake.add_repo(
            "huggingface",
            "trl",
            {
                "README.md": "# TRL",
                "trl/trainer/sft_trainer.py": "class SFTTrainer: ...",
                "examples/scripts/sft.py": "\n".join(f"line {i}" for i in range(1, 501)),
                "examples/scripts/dpo.py": "dpo",
                "examples/notebooks/sft_lora.ipynb": NOTEBOOK,
                "docs/source/index.md": "docs",
                "examples/big.py": "big file body",
            },
            stars=9000,
            large={"examples/big.py"},
        )
        fake.add_repo("huggingface", "peft", {"examples/lora/train.py": "x"}, stars=15000, forks=5)
        for i in range(130):
            fake.add_repo(
                "huggingface", f"repo{i:03d}", stars=i, updated_at=f"2025-01-{1 + i % 28:02d}"
            )
        fake.add_repo("alice", "scratch", owner_type="user", stars=1)
        yield fake


@pytest.fixture
def h(tmp_path, gh):
    return make_harness(tmp_path, config=make_config(github_api_url=gh.base_url))


async def test_find_examples_ranked_by_keyword(h):
    text, ok = await gt.find_examples_handler({"repo": "trl", "keyword": "sft"}, h.ctx)
    assert ok, text
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- examples/scripts/sft.py")
    assert any("sft_lora.ipynb" in line for line in lines)
    assert not any("trl/trainer" in line or "docs/source" in line for line in lines)
    assert "huggingface/trl@main" in text


async def test_find_examples_without_keyword_and_owner_form(h):
    text, ok = await gt.find_examples_handler({"repo": "huggingface/peft"}, h.ctx)
    assert ok and "examples/lora/train.py" in text


async def test_find_examples_404_suggests(h):
    text, ok = await gt.find_examples_handler({"repo": "trll"}, h.ctx)
    assert not ok and "not found" in text and "huggingface/trl" in text


async def test_find_examples_no_match(h):
    text, ok = await gt.find_examples_handler({"repo": "trl", "keyword": "zzzqqq"}, h.ctx)
    assert ok and "No example files" in text


async def test_list_repos_sorted_by_stars_across_pages(h, gh):
    text, ok = await gt.list_repos_handler({"owner": "huggingface", "limit": 3}, h.ctx)
    assert ok, text
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert [line.split()[1] for line in lines] == [
        "huggingface/peft",
        "huggingface/trl",
        "huggingface/repo129",
    ]
    pages = [p for p, _ in gh.requests if p.startswith("/orgs/huggingface/repos")]
    assert len(pages) == 2  # 132 repos, 100 per page, followed the Link header


async def test_list_repos_server_sort_stops_early(h, gh):
    text, ok = await gt.list_repos_handler(
        {"owner": "huggingface", "sort": "updated", "limit": 5}, h.ctx
    )
    assert ok and text.count("\n- ") == 5
    assert len([p for p, _ in gh.requests if "/repos" in p and "orgs" in p]) == 1


async def test_list_repos_user_fallback_and_errors(h):
    text, ok = await gt.list_repos_handler({"owner": "alice"}, h.ctx)
    assert ok and "alice/scratch" in text
    text, ok = await gt.list_repos_handler({"owner": "nobody-here"}, h.ctx)
    assert not ok and "not found" in text
    text, ok = await gt.list_repos_handler({"owner": "a/b"}, h.ctx)
    assert not ok


async def test_read_file_default_300_lines_and_range(h):
    text, ok = await gt.read_file_handler(
        {"repo": "huggingface/trl", "path": "examples/scripts/sft.py"}, h.ctx
    )
    assert ok and "lines 1-300 of 500" in text and "line 300" in text and "line 301" not in text
    assert "line_start=301" in text
    text, ok = await gt.read_file_handler(
        {
            "repo": "huggingface/trl",
            "path": "examples/scripts/sft.py",
            "line_start": 10,
            "line_end": 12,
        },
        h.ctx,
    )
    assert ok and "lines 10-12 of 500" in text and "line 13" not in text


async def test_read_file_notebook_large_dir_and_missing(h):
    text, ok = await gt.read_file_handler(
        {"repo": "huggingface/trl", "path": "examples/notebooks/sft_lora.ipynb"}, h.ctx
    )
    assert ok and "# Fine-tune" in text and "```python" in text and "SECRET OUTPUT" not in text
    text, ok = await gt.read_file_handler(
        {"repo": "huggingface/trl", "path": "examples/big.py"}, h.ctx
    )
    assert ok and "big file body" in text
    text, ok = await gt.read_file_handler({"repo": "huggingface/trl", "path": "examples"}, h.ctx)
    assert ok and "scripts/" in text and "big.py" in text
    text, ok = await gt.read_file_handler({"repo": "huggingface/trl", "path": "nope.py"}, h.ctx)
    assert not ok and "not found" in text
    text, ok = await gt.read_file_handler({"repo": "trl", "path": "x"}, h.ctx)
    assert not ok and "owner/name" in text


async def test_rate_limits_reported_clearly(h, gh):
    gh.rate_limited = "primary"
    text, ok = await gt.read_file_handler({"repo": "huggingface/trl", "path": "README.md"}, h.ctx)
    assert (
        not ok and "rate limit exceeded" in text and "resets at" in text and "GITHUB_TOKEN" in text
    )
    gh.rate_limited = "secondary"
    text, ok = await gt.list_repos_handler({"owner": "huggingface"}, h.ctx)
    assert not ok and "retry in 42 s" in text


async def test_token_optional_and_only_sent_to_api(h, gh, monkeypatch):
    await gt.read_file_handler({"repo": "huggingface/trl", "path": "README.md"}, h.ctx)
    assert "Authorization" not in gh.requests[-1][1]
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    text, ok = await gt.read_file_handler({"repo": "huggingface/trl", "path": "README.md"}, h.ctx)
    assert ok and gh.requests[-1][1]["Authorization"] == "Bearer ghp_" + "x" * 36


async def test_env_api_url_wins(tmp_path, gh, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", gh.base_url)
    h = make_harness(tmp_path, config=make_config(github_api_url="http://127.0.0.1:9"))
    text, ok = await gt.read_file_handler({"repo": "huggingface/trl", "path": "README.md"}, h.ctx)
    assert ok and "# TRL" in text


def test_specs_read_only():
    specs = gt.tools(Services())
    assert [s.name for s in specs] == [
        "github_find_examples",
        "github_list_repos",
        "github_read_file",
    ]
    assert all(s.read_only and s.output_cap for s in specs)
