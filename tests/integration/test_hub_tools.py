"""The other Hub tools against the fake Hub: hf_inspect_dataset (datasets-server),
hf_repo_files, hf_repo_git, hf_papers (papers API + arXiv HTML), hf_model_search /
hf_dataset_search / hf_repo_details — outputs compact and capped, errors short and actionable,
the provider registration and the approval classes of the repo tools."""

from __future__ import annotations

import pytest

from agent_core import policy
from agent_core.tools import catalog, hf_datasets, hf_papers, hf_repo_files, hf_repo_git, hf_search
from agent_core.tools.base import Services
from tests.fakes.fake_hub import BOB_TOKEN, FakeHub
from tests.fakes.fake_hub_content import FakePaper
from tests.hub_harness import jobs_env, make_config, make_hub_client


@pytest.fixture
async def env(tmp_path):
    async with jobs_env(tmp_path, start=False) as e:
        yield e


async def call(env, handler, args, **kw):
    return await handler(args, env.ctx(**kw))


# --------------------------------------------------------------------------- datasets


async def test_inspect_chat_dataset(env):
    text, ok = await call(
        env,
        hf_datasets.hf_inspect_dataset_handler,
        {"dataset": "trl-lib/Capybara", "sample_rows": 1},
    )
    assert ok, text
    assert "| default | train | 15.8k |" in text
    assert "- messages: list[{content: string, role: string}]" in text
    assert "## `messages` column structure" in text and "roles: user" in text
    assert text.count("\n0. ") == 1 and "\n1. " not in text
    assert "## Parquet files" in text
    paths = {r.path for r in env.fake.requests_to("/datasets-server/")}
    assert paths >= {"/datasets-server/is-valid", "/datasets-server/splits", "/datasets-server/parquet",
                     "/datasets-server/info", "/datasets-server/first-rows"}  # fmt: skip


async def test_inspect_classlabel_schema_and_config_choice(env):
    text, ok = await call(
        env,
        hf_datasets.hf_inspect_dataset_handler,
        {"dataset": "stanfordnlp/imdb", "split": "test"},
    )
    assert ok and "label: ClassLabel[neg, pos]" in text and "(plain_text/test)" in text
    text, ok = await call(
        env,
        hf_datasets.hf_inspect_dataset_handler,
        {"dataset": "stanfordnlp/imdb", "config": "nope"},
    )
    assert not ok and "Configs: plain_text" in text


async def test_inspect_errors_are_actionable(env):
    text, ok = await call(
        env, hf_datasets.hf_inspect_dataset_handler, {"dataset": "nobody/nothing"}
    )
    assert not ok and "Not found" in text and len(text) < 500
    bob = make_hub_client(env.fake, BOB_TOKEN)
    ctx = env.ctx()
    ctx.services.hub = bob
    text, ok = await hf_datasets.hf_inspect_dataset_handler({"dataset": "alice/private-data"}, ctx)
    assert not ok and "private or gated" in text
    await bob.aclose()


def test_format_feature_shapes():
    f = hf_datasets.format_feature
    assert f({"dtype": "int64", "_type": "Value"}) == "int64"
    assert (
        f({"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"}) == "list[string]"
    )
    assert f([{"role": {"dtype": "string", "_type": "Value"}}]) == "list[{role: string}]"
    assert f({"names": list("abcdefgh"), "_type": "ClassLabel"}).endswith(", …]")


# --------------------------------------------------------------------------- repo files


async def test_list_and_read_files(env):
    text, ok = await call(
        env,
        hf_repo_files.hf_repo_files_handler,
        {"operation": "list", "repo_id": "openai-community/gpt2"},
    )
    assert ok and "5 files" in text and "- config.json — 75 B" in text
    text, ok = await call(
        env,
        hf_repo_files.hf_repo_files_handler,
        {"operation": "read", "repo_id": "openai-community/gpt2", "path": "config.json"},
    )
    assert ok and '"model_type": "gpt2"' in text
    text, ok = await call(
        env, hf_repo_files.hf_repo_files_handler,
        {"operation": "read", "repo_id": "openai-community/gpt2", "path": "config.json", "max_chars": 10, "offset": 5},
    )  # fmt: skip
    assert ok and "characters 5–15" in text and "pass offset=15" in text


async def test_list_is_capped(env):
    env.fake.repos.add("alice/many", files={f"f{i:04d}.txt": "x" for i in range(450)})
    text, ok = await call(
        env, hf_repo_files.hf_repo_files_handler, {"operation": "list", "repo_id": "alice/many"}
    )
    assert ok and "451 files" in text and "more entries" in text
    assert text.count("\n- ") == hf_repo_files.MAX_LIST


async def test_read_binary_gated_missing(env):
    env.fake.repos.add("alice/bin", files={"model.safetensors": b"\x00\x01" * 5000})
    text, ok = await call(
        env,
        hf_repo_files.hf_repo_files_handler,
        {"operation": "read", "repo_id": "alice/bin", "path": "model.safetensors"},
    )
    assert ok and "binary file" in text and "\x00" not in text
    text, ok = await call(
        env,
        hf_repo_files.hf_repo_files_handler,
        {"operation": "read", "repo_id": "meta-llama/Llama-3.2-1B", "path": "config.json"},
    )
    assert not ok and "gated" in text and "accept" in text
    text, ok = await call(
        env,
        hf_repo_files.hf_repo_files_handler,
        {"operation": "read", "repo_id": "openai-community/gpt2", "path": "nope.md"},
    )
    assert not ok and "File not found: nope.md" in text
    text, ok = await call(
        env, hf_repo_files.hf_repo_files_handler, {"operation": "list", "repo_id": "nobody/none"}
    )
    assert not ok and "Not found" in text and "repo_type" in text


async def test_upload_content_and_workspace_file_then_delete(env):
    env.fake.repos.add("alice/card")
    text, ok = await call(
        env,
        hf_repo_files.hf_repo_files_handler,
        {
            "operation": "upload",
            "repo_id": "alice/card",
            "path": "README.md",
            "content": "# Card\n",
        },
    )
    assert ok and "Committed:" in text
    ctx = env.ctx()
    (ctx.workspace() / "train.py").write_text("print('x')\n")
    text, ok = await hf_repo_files.hf_repo_files_handler(
        {
            "operation": "upload",
            "repo_id": "alice/card",
            "path": "scripts/train.py",
            "source_path": "train.py",
            "create_pr": True,
        },
        ctx,
    )
    assert ok and "Pull request opened" in text
    files = env.fake.repos.get("alice/card").files_at("main")
    assert files["README.md"] == b"# Card\n" and "scripts/train.py" not in files
    text, ok = await call(
        env,
        hf_repo_files.hf_repo_files_handler,
        {
            "operation": "upload",
            "repo_id": "alice/card",
            "path": "x",
            "source_path": "../../etc/passwd",
        },
    )
    assert not ok and "outside" in text
    text, ok = await call(
        env,
        hf_repo_files.hf_repo_files_handler,
        {"operation": "delete", "repo_id": "alice/card", "patterns": ["*.md"]},
    )
    assert ok and "README.md" not in env.fake.repos.get("alice/card").files_at("main")


# --------------------------------------------------------------------------- repo git


async def test_git_lifecycle(env):
    git = hf_repo_git.hf_repo_git_handler
    text, ok = await call(env, git, {"operation": "create_repo", "repo_id": "alice/exp"})
    assert ok and "private model" in text and env.fake.repos.get("alice/exp").private
    text, ok = await call(
        env, git, {"operation": "create_repo", "repo_id": "alice/demo", "repo_type": "space"}
    )
    assert not ok and "space_sdk" in text
    assert (
        await call(
            env, git, {"operation": "create_branch", "repo_id": "alice/exp", "branch": "dev"}
        )
    )[1]
    assert (
        await call(env, git, {"operation": "create_tag", "repo_id": "alice/exp", "tag": "v0.1"})
    )[1]
    text, ok = await call(env, git, {"operation": "list_refs", "repo_id": "alice/exp"})
    assert ok and "dev (" in text and "v0.1 (" in text
    text, ok = await call(
        env, git, {"operation": "create_pr", "repo_id": "alice/exp", "title": "Add weights"}
    )
    assert ok and "#1" in text and "refs/pr/1" in text
    assert (
        await call(
            env,
            git,
            {
                "operation": "comment_pr",
                "repo_id": "alice/exp",
                "pr_num": 1,
                "comment": "looks good",
            },
        )
    )[1]
    text, ok = await call(env, git, {"operation": "get_pr", "repo_id": "alice/exp", "pr_num": 1})
    assert ok and "looks good" in text and "refs/pr/1" in text
    text, ok = await call(
        env, git, {"operation": "list_prs", "repo_id": "alice/exp", "status": "all"}
    )
    assert ok and "#1 [draft] Add weights" in text
    text, ok = await call(
        env,
        git,
        {
            "operation": "change_pr_status",
            "repo_id": "alice/exp",
            "pr_num": 1,
            "new_status": "closed",
        },
    )
    assert ok and "now closed" in text
    text, ok = await call(
        env, git, {"operation": "update_repo", "repo_id": "alice/exp", "gated": "sometimes"}
    )
    assert not ok and "gated must be" in text
    assert (
        await call(env, git, {"operation": "update_repo", "repo_id": "alice/exp", "private": False})
    )[1]
    assert not env.fake.repos.get("alice/exp").private
    assert (
        await call(
            env, git, {"operation": "delete_branch", "repo_id": "alice/exp", "branch": "dev"}
        )
    )[1]
    text, ok = await call(env, git, {"operation": "get_pr", "repo_id": "alice/exp"})
    assert not ok and "pr_num" in text


@pytest.mark.parametrize(
    ("tool", "op", "klass"),
    [
        ("hf_repo_files", "upload", policy.REPO_WRITE),
        ("hf_repo_files", "delete", policy.REPO_DESTRUCTIVE),
        ("hf_repo_files", "read", None),
        ("hf_repo_git", "merge_pr", policy.REPO_DESTRUCTIVE),
        ("hf_repo_git", "create_repo", policy.REPO_WRITE),
        ("hf_repo_git", "create_pr", None),
    ],
)
def test_repo_tool_approval_classes(tool, op, klass):
    req = policy.base_requirement(tool, {"operation": op, "repo_id": "a/b"}, make_config())
    assert (req.approval_class if req else None) == klass


# --------------------------------------------------------------------------- papers


async def test_papers_operations(env):
    p = hf_papers.hf_papers_handler
    text, ok = await call(env, p, {"operation": "trending", "limit": 2})
    assert ok and text.count("\n- **") == 2
    text, ok = await call(env, p, {"operation": "search", "query": "preference optimization"})
    assert ok and "2305.18290" in text
    text, ok = await call(
        env, p, {"operation": "paper_details", "arxiv_id": "https://arxiv.org/abs/2305.18290v2"}
    )
    assert ok and "Rafael Rafailov" in text and "github.com" in text
    text, ok = await call(env, p, {"operation": "read_paper", "arxiv_id": "2305.18290"})
    assert ok and "3 Direct Preference Optimization" in text and "  - 3.1 Deriving" in text
    text, ok = await call(
        env, p, {"operation": "read_paper", "arxiv_id": "2305.18290", "section": "experiments"}
    )
    assert ok and text.count("## ") == 1 and "beta = 0.1" in text
    text, ok = await call(
        env, p, {"operation": "read_paper", "arxiv_id": "2305.18290", "section": "9"}
    )
    assert ok and "No section '9'" in text and "1 Introduction" in text
    text, ok = await call(env, p, {"operation": "read_paper", "arxiv_id": "2305.14233"})
    assert ok and "No HTML full text" in text and "UltraChat" in text
    text, ok = await call(env, p, {"operation": "find_all_resources", "arxiv_id": "2305.18290"})
    assert ok and "zephyr-7b-beta" in text and "Alignment Handbook" in text
    text, ok = await call(env, p, {"operation": "paper_details"})
    assert not ok and "arxiv_id" in text
    text, ok = await call(env, p, {"operation": "citation_graph", "arxiv_id": "2305.18290"})
    assert not ok and "Unknown operation" in text


async def test_long_sections_are_cut(env):
    env.fake.papers.add(
        FakePaper(
            id="2501.00001", title="Long", summary="s", authors=["A"] * 30,
            published_at="2025-01-01T00:00:00.000Z", submitted_on_daily_at="2025-01-02T00:00:00.000Z",
            sections=[("Method", ["word " * 5000], [])],
        )
    )  # fmt: skip
    text, ok = await call(
        env,
        hf_papers.hf_papers_handler,
        {"operation": "read_paper", "arxiv_id": "2501.00001", "section": "1"},
    )
    assert ok and "section cut at 8000" in text and len(text) < 8_300
    text, ok = await call(
        env, hf_papers.hf_papers_handler, {"operation": "paper_details", "arxiv_id": "2501.00001"}
    )
    assert ok and "+20" in text


# --------------------------------------------------------------------------- search


async def test_model_and_dataset_search_and_details(env):
    text, ok = await call(env, hf_search.hf_model_search_handler, {"query": "qwen", "limit": 1})
    assert ok and "Qwen/Qwen2.5-0.5B-Instruct" in text and text.count("\n- ") == 1
    text, ok = await call(
        env,
        hf_search.hf_model_search_handler,
        {"task": "text-generation", "author": "openai-community"},
    )
    assert ok and "openai-community/gpt2" in text
    text, ok = await call(env, hf_search.hf_dataset_search_handler, {"task": "text-classification"})
    assert ok and "stanfordnlp/imdb" in text
    text, ok = await call(env, hf_search.hf_model_search_handler, {"query": "zzzz-nothing"})
    assert ok and "No models found" in text
    text, ok = await call(
        env, hf_search.hf_repo_details_handler, {"repo_id": "meta-llama/Llama-3.2-1B"}
    )
    assert ok and "gated (manual)" in text
    text, ok = await call(
        env,
        hf_search.hf_repo_details_handler,
        {"repo_id": "trl-lib/Capybara", "repo_type": "datasets"},
    )
    assert ok and "(dataset)" in text
    text, ok = await call(
        env, hf_search.hf_repo_details_handler, {"repo_id": "x/y", "repo_type": "notebook"}
    )
    assert not ok and "repo_type must be one of" in text


# --------------------------------------------------------------------------- registration


def test_providers_registered_with_caps():
    names = {
        "agent_core.tools.hf_jobs", "agent_core.tools.hf_datasets", "agent_core.tools.hf_repo_files",
        "agent_core.tools.hf_repo_git", "agent_core.tools.hf_papers", "agent_core.tools.hf_search",
    }  # fmt: skip
    assert names <= set(catalog.PROVIDERS)
    specs = {s.name: s for s in catalog.build_tools(Services(config=make_config()), sorted(names))}
    assert set(specs) == {
        "hf_jobs", "hf_inspect_dataset", "hf_repo_files", "hf_repo_git", "hf_papers",
        "hf_model_search", "hf_dataset_search", "hf_repo_details",
    }  # fmt: skip
    for spec in specs.values():
        assert spec.output_cap and spec.output_cap <= 52_000 and spec.timeout_s
    read_only = {n for n, s in specs.items() if s.read_only}
    assert read_only == {
        "hf_inspect_dataset",
        "hf_papers",
        "hf_model_search",
        "hf_dataset_search",
        "hf_repo_details",
    }


async def test_hub_client_is_built_from_env_when_missing(tmp_path, monkeypatch):
    async with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("HF_TOKEN", BOB_TOKEN)
        async with jobs_env(tmp_path, start=False) as e:
            ctx = e.ctx()
            ctx.services.hub = None
            text, ok = await hf_search.hf_model_search_handler({"query": "gpt2"}, ctx)
            assert ok and "gpt2" in text
            assert ctx.services.hub is not None and ctx.services.hub.endpoint == fake.url
            await ctx.services.hub.aclose()
