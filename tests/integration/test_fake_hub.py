"""The fake Hugging Face Hub (``tests/fakes/fake_hub.py``) driven through the *real*
``huggingface_hub`` client.

Why these tests exist: every Hub-facing tool of the agent is tested against this fake, so the
fake itself must be proven to speak the wire protocol ``HfApi`` 1.33 expects — JSON shapes it
parses, error headers it maps to typed exceptions, the SSE log stream it follows, and the
commit/preupload/resolve handshake of uploads and downloads. Synchronous ``HfApi`` calls run in
worker threads (``asyncio.to_thread``) while the fake serves from the test's event loop; state
changes are awaited with the fake's own condition API (``hub.wait_for``), never with sleeps.
"""

from __future__ import annotations

import os

# Must be set before huggingface_hub is imported (constants are read at import time).
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_EXPERIMENTAL_WARNING", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.pop("HF_HUB_OFFLINE", None)  # offline mode also blocks loopback

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from huggingface_hub import DiscussionCommit, HfApi, RepoFile, RepoFolder
from huggingface_hub.errors import (
    BadRequestError,
    GatedRepoError,
    HfHubHTTPError,
    JobNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils.sha import git_hash

from tests.fakes.fake_hub import (
    ALICE_READ_TOKEN,
    ALICE_TOKEN,
    BOB_TOKEN,
    INVALID_TOKEN,
    FakeHub,
    ManualClock,
    training_log_lines,
)

T = TypeVar("T")
REPO = "acme-ml/qwen-sft-demo"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def hub() -> AsyncIterator[FakeHub]:
    async with FakeHub(schedule_secs=0.02, run_secs=0.1) as h:
        yield h


@pytest.fixture
def api(hub: FakeHub) -> HfApi:
    return HfApi(endpoint=hub.url, token=ALICE_TOKEN)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking HfApi call off the loop so the in-loop fake can answer it."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def collect(fn: Callable[..., Iterable[T]], *args: Any, **kwargs: Any) -> list[T]:
    """Drain an HfApi generator (list_models, list_repo_tree, fetch_job_logs, ...) in a thread."""
    return await asyncio.to_thread(lambda: list(fn(*args, **kwargs)))


# ---------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------


async def test_whoami_and_invalid_token(hub: FakeHub, api: HfApi) -> None:
    me = await call(api.whoami)
    assert me["type"] == "user" and me["name"] == "alice" and me["fullname"] == "Alice Liddell"
    assert [(o["name"], o["type"]) for o in me["orgs"]] == [("acme-ml", "org")]
    assert me["auth"]["accessToken"]["role"] == "write"

    bad = HfApi(endpoint=hub.url, token=INVALID_TOKEN)
    with pytest.raises(HfHubHTTPError) as err:
        await call(bad.whoami)
    assert err.value.response.status_code == 401
    # An invalid token is rejected even on public reads, like the real Hub.
    with pytest.raises(HfHubHTTPError) as err:
        await call(bad.model_info, "openai-community/gpt2")
    assert err.value.response.status_code == 401
    assert hub.count("/api/whoami-v2") == 2
    assert hub.requests_to("/api/whoami-v2")[0].header("authorization") == f"Bearer {ALICE_TOKEN}"


# ---------------------------------------------------------------------------
# Repos: info, listing, errors
# ---------------------------------------------------------------------------


async def test_repo_info_revision_missing_private_and_gated(
    hub: FakeHub, api: HfApi, tmp_path: Path
) -> None:
    info = await call(api.model_info, "openai-community/gpt2", files_metadata=True)
    assert info.pipeline_tag == "text-generation" and info.library_name == "transformers"
    assert info.card_data is not None and info.card_data.license == "mit"
    assert {"README.md", "config.json"} <= {s.rfilename for s in info.siblings or []}
    assert all(s.size is not None and s.blob_id for s in info.siblings or [])
    assert (await call(api.model_info, "openai-community/gpt2", revision=info.sha)).sha == info.sha
    with pytest.raises(RevisionNotFoundError):
        await call(api.model_info, "openai-community/gpt2", revision="no-such-branch")

    ds = await call(api.dataset_info, "HuggingFaceH4/ultrachat_200k")
    assert "arxiv:2310.16944" in (ds.tags or []) and ds.downloads == 45_000

    with pytest.raises(RepositoryNotFoundError) as err:
        await call(api.model_info, "nobody/nothing")
    assert err.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        await call(api.dataset_info, "openai-community/gpt2")  # wrong repo type

    # Private: visible to the owner only; anonymous callers get 401 + RepoNotFound.
    assert (await call(api.model_info, "alice/private-sft-model")).private is True
    with pytest.raises(RepositoryNotFoundError):
        await call(HfApi(endpoint=hub.url, token=BOB_TOKEN).model_info, "alice/private-sft-model")
    with pytest.raises(RepositoryNotFoundError) as err:
        await call(HfApi(endpoint=hub.url, token=False).model_info, "alice/private-sft-model")
    assert err.value.response.status_code == 401

    # Gated: metadata is public, file contents need granted access (403 GatedRepo).
    assert (await call(api.model_info, "meta-llama/Llama-3.2-1B")).gated == "manual"
    with pytest.raises(GatedRepoError) as gated_err:
        await call(
            api.hf_hub_download, "meta-llama/Llama-3.2-1B", "config.json", cache_dir=tmp_path
        )
    assert gated_err.value.response.status_code == 403
    hub.repos.grant_access("meta-llama/Llama-3.2-1B", "alice")
    path = await call(
        api.hf_hub_download, "meta-llama/Llama-3.2-1B", "config.json", cache_dir=tmp_path
    )
    assert json.loads(Path(path).read_text())["model_type"] == "llama"


async def test_list_models_and_datasets(hub: FakeHub, api: HfApi) -> None:
    qwen = [m.id for m in await collect(api.list_models, search="qwen")]
    assert qwen == ["Qwen/Qwen2.5-0.5B-Instruct", "acme-ml/qwen-sft-demo"]  # trending order

    top = await collect(api.list_models, filter="text-generation", sort="downloads", limit=2)
    assert [m.id for m in top] == ["openai-community/gpt2", "meta-llama/Llama-3.2-1B"]
    req = hub.requests_to("/api/models")[-1]
    assert req.param_list("filter") == ["text-generation"] and req.params["limit"] == "2"

    assert [m.id for m in await collect(api.list_models, author="openai-community")] == [
        "openai-community/gpt2"
    ]
    linked = {m.id for m in await collect(api.list_models, filter="arxiv:2305.18290")}
    assert linked == {"HuggingFaceH4/zephyr-7b-beta", REPO}
    datasets = [d.id for d in await collect(api.list_datasets, filter="arxiv:2310.16944")]
    assert datasets == ["HuggingFaceH4/ultrachat_200k"]

    # Private repos are listed for their owner only.
    assert "alice/private-sft-model" in {m.id for m in await collect(api.list_models)}
    bob = HfApi(endpoint=hub.url, token=BOB_TOKEN)
    assert "alice/private-sft-model" not in {m.id for m in await collect(bob.list_models)}

    # Link-header pagination is followed by the client.
    hub.list_page_size = 2
    before = hub.count("/api/models")
    everything = await collect(api.list_models)
    assert len(everything) == len(hub.repos.all("model"))
    assert hub.count("/api/models") - before == (len(everything) + 1) // 2


# ---------------------------------------------------------------------------
# Repos: commits, tree, download, delete, create, settings
# ---------------------------------------------------------------------------


async def test_upload_tree_download_roundtrip(hub: FakeHub, api: HfApi, tmp_path: Path) -> None:
    content = b"print('training')\n"
    ci = await call(
        api.upload_file, path_or_fileobj=content, path_in_repo="scripts/train.py", repo_id=REPO
    )
    assert ci.oid == hub.repos[REPO].branches["main"]
    assert ci.commit_url == f"{hub.url}/{REPO}/commit/{ci.oid}" and ci.repo_url.repo_id == REPO
    assert hub.repos.files(REPO)["scripts/train.py"] == content
    commit_req = hub.requests_to(f"/api/models/{REPO}/commit/main")[-1]
    assert [line["key"] for line in commit_req.ndjson] == ["header", "file"]
    assert commit_req.header("content-type") == "application/x-ndjson"

    tree = await collect(api.list_repo_tree, REPO, recursive=True)
    files = {e.path: e for e in tree if isinstance(e, RepoFile)}
    assert files["scripts/train.py"].size == len(content)
    assert files["scripts/train.py"].blob_id == git_hash(content)
    assert any(isinstance(e, RepoFolder) and e.path == "scripts" for e in tree)
    top = {e.path for e in await collect(api.list_repo_tree, REPO)}
    assert "scripts" in top and "scripts/train.py" not in top
    sub = [e.path for e in await collect(api.list_repo_tree, REPO, path_in_repo="scripts")]
    assert sub == ["scripts/train.py"]

    local = await call(api.hf_hub_download, REPO, "scripts/train.py", cache_dir=tmp_path)
    assert Path(local).read_bytes() == content and ci.oid in local
    head = hub.requests_to(f"/{REPO}/resolve/main/scripts/train.py", method="HEAD")[-1]
    assert head.status == 200
    with pytest.raises(RemoteEntryNotFoundError):
        await call(api.hf_hub_download, REPO, "missing.txt", cache_dir=tmp_path)

    # Re-uploading identical bytes is a no-op: the client compares the preupload oid.
    commits_before = hub.count(f"/api/models/{REPO}/commit/")
    await call(
        api.upload_file, path_or_fileobj=content, path_in_repo="scripts/train.py", repo_id=REPO
    )
    assert hub.count(f"/api/models/{REPO}/commit/") == commits_before

    # Dataset repos resolve under /datasets/...
    await call(
        api.upload_file,
        path_or_fileobj=b'{"a": 1}\n',
        path_in_repo="data/train.jsonl",
        repo_id="alice/private-data",
        repo_type="dataset",
    )
    got = await call(
        api.hf_hub_download,
        "alice/private-data",
        "data/train.jsonl",
        repo_type="dataset",
        cache_dir=tmp_path,
    )
    assert Path(got).read_text() == '{"a": 1}\n'
    assert hub.count("/datasets/alice/private-data/resolve/") == 2  # HEAD + GET

    # No write access: another user's org, or a read-only token.
    for token in (BOB_TOKEN, ALICE_READ_TOKEN):
        with pytest.raises(HfHubHTTPError) as err:
            await call(
                HfApi(endpoint=hub.url, token=token).upload_file,
                path_or_fileobj=b"x",
                path_in_repo="x.txt",
                repo_id=REPO,
            )
        assert err.value.response.status_code == 403


async def test_delete_files(hub: FakeHub, api: HfApi) -> None:
    for name in ("a", "b"):
        await call(
            api.upload_file,
            path_or_fileobj=name.encode(),
            path_in_repo=f"logs/{name}.txt",
            repo_id=REPO,
        )
    ci = await call(api.delete_files, REPO, delete_patterns=["logs/*"])
    files = hub.repos.files(REPO)
    assert not any(p.startswith("logs/") for p in files) and ".gitattributes" in files
    assert ci.oid == hub.repos[REPO].branches["main"]
    ops = [line["key"] for line in hub.requests_to(f"/api/models/{REPO}/commit/")[-1].ndjson]
    assert ops == ["header", "deletedFile", "deletedFile"]


async def test_create_repo_and_update_settings(hub: FakeHub, api: HfApi) -> None:
    url = await call(api.create_repo, "acme-ml/new-dataset", repo_type="dataset", private=True)
    assert url.repo_id == "acme-ml/new-dataset" and url.repo_type == "dataset"
    assert str(url) == f"{hub.url}/datasets/acme-ml/new-dataset"
    repo = hub.repos[("dataset", "acme-ml/new-dataset")]
    assert repo.private and list(hub.repos.files("acme-ml/new-dataset", "dataset")) == [
        ".gitattributes"
    ]
    assert hub.requests_to("/api/repos/create")[-1].json["visibility"] == "private"

    with pytest.raises(HfHubHTTPError) as err:
        await call(api.create_repo, "acme-ml/new-dataset", repo_type="dataset")
    assert err.value.response.status_code == 409
    await call(api.create_repo, "acme-ml/new-dataset", repo_type="dataset", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as err:
        await call(HfApi(endpoint=hub.url, token=BOB_TOKEN).create_repo, "acme-ml/bobs-repo")
    assert err.value.response.status_code == 403

    space = await call(api.create_repo, "alice/demo", repo_type="space", space_sdk="gradio")
    assert space.repo_type == "space" and hub.repos[("space", "alice/demo")].meta["sdk"] == "gradio"

    await call(
        api.update_repo_settings,
        "acme-ml/new-dataset",
        repo_type="dataset",
        private=False,
        gated="auto",
    )
    info = await call(api.dataset_info, "acme-ml/new-dataset")
    assert info.private is False and info.gated == "auto"
    assert hub.requests_to("/api/datasets/acme-ml/new-dataset/settings")[-1].json == {
        "gated": "auto",
        "visibility": "public",
    }


async def test_branches_tags_and_refs(hub: FakeHub, api: HfApi, tmp_path: Path) -> None:
    await call(api.create_branch, REPO, branch="dev")
    with pytest.raises(HfHubHTTPError) as err:
        await call(api.create_branch, REPO, branch="dev")
    assert err.value.response.status_code == 409
    await call(api.create_branch, REPO, branch="dev", exist_ok=True)

    await call(
        api.upload_file,
        path_or_fileobj=b"dev",
        path_in_repo="dev.txt",
        repo_id=REPO,
        revision="dev",
    )
    await call(api.create_tag, REPO, tag="v1.0", tag_message="first release", revision="dev")
    refs = await call(api.list_repo_refs, REPO)
    branches = {b.name: b.target_commit for b in refs.branches}
    assert set(branches) == {"main", "dev"} and branches["main"] != branches["dev"]
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [
        ("v1.0", "refs/tags/v1.0", branches["dev"])
    ]
    assert refs.pull_requests is None
    assert "dev.txt" not in hub.repos.files(REPO)
    assert (await call(api.model_info, REPO, revision="v1.0")).sha == branches["dev"]
    local = await call(
        api.hf_hub_download, REPO, "dev.txt", revision="refs/heads/dev", cache_dir=tmp_path
    )
    assert Path(local).read_bytes() == b"dev"

    await call(api.delete_tag, REPO, tag="v1.0")
    await call(api.delete_branch, REPO, branch="dev")
    refs = await call(api.list_repo_refs, REPO)
    assert [b.name for b in refs.branches] == ["main"] and refs.tags == []
    with pytest.raises(RevisionNotFoundError):
        await call(api.delete_branch, REPO, branch="dev")


async def test_pull_request_lifecycle(hub: FakeHub, api: HfApi) -> None:
    pr = await call(
        api.create_pull_request, REPO, title="Add eval script", description="Adds eval.py"
    )
    assert pr.is_pull_request and pr.status == "draft" and pr.git_reference == f"refs/pr/{pr.num}"
    assert pr.author == "alice" and pr.events[0].content == "Adds eval.py"

    await call(
        api.upload_file, path_or_fileobj=b"print('eval')\n", path_in_repo="eval.py", repo_id=REPO,
        revision=pr.git_reference,
    )  # fmt: skip
    details = await call(api.get_discussion_details, REPO, pr.num)
    assert details.status == "open" and details.target_branch == "refs/heads/main"
    assert "+print('eval')" in (details.diff or "") and details.conflicting_files == []
    assert any(isinstance(e, DiscussionCommit) for e in details.events)
    assert "eval.py" not in hub.repos.files(REPO)

    comment = await call(api.comment_discussion, REPO, pr.num, "LGTM")
    assert comment.content == "LGTM" and comment.author == "alice"
    listed = await collect(api.get_repo_discussions, REPO, discussion_type="pull_request")
    assert [(d.num, d.status, d.is_pull_request) for d in listed] == [(pr.num, "open", True)]

    await call(api.merge_pull_request, REPO, pr.num, comment="merging")
    merged = await call(api.get_discussion_details, REPO, pr.num)
    assert merged.status == "merged" and merged.merge_commit_oid == hub.repos[REPO].branches["main"]
    assert hub.repos.files(REPO)["eval.py"] == b"print('eval')\n"

    disc = await call(api.create_discussion, REPO, title="Question about the licence")
    assert not disc.is_pull_request and disc.status == "open"
    change = await call(api.change_discussion_status, REPO, disc.num, "closed", comment="answered")
    assert change.new_status == "closed"
    closed = await collect(api.get_repo_discussions, REPO, discussion_status="closed")
    assert {d.num for d in closed} == {pr.num, disc.num}

    # upload_file(create_pr=True) opens a PR in one commit, leaving main untouched.
    main_before = hub.repos[REPO].branches["main"]
    ci = await call(
        api.upload_file, path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=REPO, create_pr=True
    )
    assert ci.pr_num == disc.num + 1 and ci.pr_revision == f"refs/pr/{ci.pr_num}"
    assert hub.repos[REPO].branches["main"] == main_before
    refs = await call(api.list_repo_refs, REPO, include_pull_requests=True)
    assert {r.ref for r in refs.pull_requests or []} == {
        f"refs/pr/{pr.num}",
        f"refs/pr/{ci.pr_num}",
    }


# ---------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------


async def test_run_job_secrets_stage_clock_and_logs(hub: FakeHub, api: HfApi) -> None:
    lines = training_log_lines(steps=3)
    hub.jobs.script(logs=lines)
    job = await call(
        api.run_job,
        image="pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel",
        command=["python", "train.py"],
        env={"EPOCHS": "1"},
        secrets={"HF_TOKEN": ALICE_TOKEN},
        flavor="a10g-large",
        timeout="2h",
        labels={"team": "ml"},
        namespace="alice",
    )
    assert (
        job.status.stage == "SCHEDULING"
        and job.owner.name == "alice"
        and job.flavor == "a10g-large"
    )
    assert job.url == f"{hub.url}/jobs/alice/{job.id}"
    assert job.secrets == {"HF_TOKEN": None}  # secret keys only, values never echoed
    sent = hub.requests_to("/api/jobs/alice", method="POST")[-1].json
    assert sent["secrets"] == {"HF_TOKEN": ALICE_TOKEN} and sent["timeoutSeconds"] == 7200
    assert sent["labels"]["team"] == "ml" and sent["labels"]["name"].startswith("pytorch-2-6-0")
    # The token travelled only as the bearer credential and inside the jobs `secrets` field.
    assert hub.token_locations(ALICE_TOKEN) == {"header:authorization", "json:secrets.HF_TOKEN"}

    await hub.wait_for(lambda: hub.jobs.stage(job.id) == "COMPLETED", timeout=5)
    assert [s for s, _ in hub.jobs.get(job.id).history] == ["SCHEDULING", "RUNNING", "COMPLETED"]
    info = await call(api.inspect_job, job_id=job.id, namespace="alice")
    assert info.status.stage == "COMPLETED" and info.started_at and info.finished_at
    assert info.durations is not None and info.durations.total_secs is not None

    assert await collect(api.fetch_job_logs, job_id=job.id, namespace="alice") == lines
    assert "{'loss': 2.0," in lines[6]
    tail = await collect(api.fetch_job_logs, job_id=job.id, namespace="alice", tail=2)
    assert tail == lines[-2:]
    assert hub.requests_to(f"/api/jobs/alice/{job.id}/logs")[-1].params["tail"] == "2"
    done = await call(api.wait_for_job, job.id, namespace="alice")  # terminal: returns at once
    assert done.status.stage == "COMPLETED"


async def test_follow_logs_stream_live_until_job_ends(hub: FakeHub, api: HfApi) -> None:
    hub.jobs.script(manual=True, logs=[])
    job = await call(
        api.run_job, image="python:3.12", command=["python", "train.py"], namespace="alice"
    )
    hub.jobs.set_stage(job.id, "RUNNING")
    received: list[str] = []

    def follow() -> None:
        for line in api.fetch_job_logs(job_id=job.id, namespace="alice", follow=True):
            received.append(line)

    task = asyncio.ensure_future(asyncio.to_thread(follow))
    await hub.wait_for_request(f"/api/jobs/alice/{job.id}/logs")
    hub.jobs.emit_log(job.id, "{'loss': 0.53, 'epoch': 1.0, 'step': 100}")
    await hub.wait_for(lambda: len(received) == 1)  # delivered while the job is still RUNNING
    assert hub.jobs.stage(job.id) == "RUNNING" and not task.done()
    hub.jobs.emit_log(job.id, "{'loss': nan, 'epoch': 2.0, 'step': 200}")
    await hub.wait_for(lambda: len(received) == 2)
    hub.jobs.set_stage(job.id, "ERROR", message="Training diverged: loss is NaN")
    await asyncio.wait_for(task, 5)  # the stream closes once the job is terminal
    assert received == [
        "{'loss': 0.53, 'epoch': 1.0, 'step': 100}",
        "{'loss': nan, 'epoch': 2.0, 'step': 200}",
    ]
    info = await call(api.inspect_job, job_id=job.id, namespace="alice")
    assert info.status.stage == "ERROR" and info.status.message == "Training diverged: loss is NaN"


async def test_error_job_and_cancel(hub: FakeHub, api: HfApi) -> None:
    hub.jobs.script(manual=True)  # hold it in SCHEDULING, then re-script it by id
    failing = await call(
        api.run_job, image="python:3.12", command=["python", "x.py"], namespace="alice"
    )
    hub.jobs.script(
        failing.id, logs=["Traceback (most recent call last):", "ValueError: boom"], final="ERROR"
    )
    await hub.wait_for(lambda: hub.jobs.stage(failing.id) == "ERROR")
    info = await call(api.inspect_job, job_id=failing.id, namespace="alice")
    assert info.status.message == "Job failed with exit code: 1"
    logs = await collect(api.fetch_job_logs, job_id=failing.id, namespace="alice")
    assert logs[-1] == "ValueError: boom"

    hub.jobs.script(manual=True)
    job = await call(api.run_job, image="python:3.12", command=["sleep", "3600"], namespace="alice")
    hub.jobs.set_stage(job.id, "RUNNING")
    await call(api.cancel_job, job_id=job.id, namespace="alice")
    assert (
        await call(api.inspect_job, job_id=job.id, namespace="alice")
    ).status.stage == "CANCELED"

    with pytest.raises(JobNotFoundError):
        await call(api.inspect_job, job_id="0" * 24, namespace="alice")


async def test_list_jobs_filters_and_pagination(hub: FakeHub, api: HfApi) -> None:
    # Registered first, but only the job whose spec matches ("b") consumes it.
    hub.jobs.script(manual=True, match=lambda spec: spec["command"] == ["echo", "b"])
    done = await call(
        api.run_job,
        image="python:3.12",
        command=["echo", "a"],
        labels={"exp": "a"},
        namespace="alice",
    )
    running = await call(
        api.run_job,
        image="python:3.12",
        command=["echo", "b"],
        labels={"exp": "b"},
        namespace="alice",
    )
    hub.jobs.set_stage(running.id, "RUNNING")
    org_job = await call(
        api.run_job, image="python:3.12", command=["echo", "c"], namespace="acme-ml"
    )
    await hub.wait_for(lambda: hub.jobs.stage(done.id) == "COMPLETED")

    mine = [j.id for j in await collect(api.list_jobs, namespace="alice")]
    assert mine == [running.id, done.id]  # newest first; org jobs are listed separately
    assert [j.id for j in await collect(api.list_jobs, namespace="acme-ml")] == [org_job.id]
    assert [j.id for j in await collect(api.list_jobs, status="RUNNING", namespace="alice")] == [
        running.id
    ]
    assert [j.id for j in await collect(api.list_jobs, labels={"exp": "a"}, namespace="alice")] == [
        done.id
    ]
    req = hub.requests_to("/api/jobs/alice", method="GET")[-1]
    assert req.param_list("label") == ["exp=a"]

    hub.jobs.page_size = 1
    before = hub.count("/api/jobs/alice", method="GET")
    assert len(await collect(api.list_jobs, namespace="alice")) == 2
    assert hub.count("/api/jobs/alice", method="GET") - before == 2  # followed the Link header


async def test_hardware_billing_namespace_and_validation(hub: FakeHub, api: HfApi) -> None:
    hardware = {h.name: h for h in await call(api.list_jobs_hardware)}
    assert {"cpu-basic", "cpu-upgrade", "t4-small", "a10g-large", "a100-large", "h200"} <= set(
        hardware
    )
    a100 = hardware["a100-large"]
    assert a100.accelerator is not None and a100.accelerator.model == "A100"
    assert a100.unit_label == "minute" and a100.unit_cost_usd > hardware["cpu-basic"].unit_cost_usd
    assert hardware["cpu-basic"].accelerator is None

    hub.jobs.require_billing("acme-ml")
    with pytest.raises(HfHubHTTPError) as err:
        await call(api.run_job, image="python:3.12", command=["echo"], namespace="acme-ml")
    assert err.value.response.status_code == 402 and "credits" in str(err.value)
    hub.jobs.require_billing("acme-ml", required=False)
    await call(api.run_job, image="python:3.12", command=["echo"], namespace="acme-ml")

    with pytest.raises(HfHubHTTPError) as err:
        await call(api.run_job, image="python:3.12", command=["echo"], namespace="bob")
    assert err.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as err:
        await call(
            HfApi(endpoint=hub.url, token=ALICE_READ_TOKEN).run_job,
            image="python:3.12",
            command=["echo"],
            namespace="alice",
        )
    assert err.value.response.status_code == 403
    with pytest.raises(BadRequestError):
        await call(
            api.run_job, image="python:3.12", command=["echo"], flavor="tpu-v9", namespace="alice"
        )


async def test_run_uv_job_with_url_script(hub: FakeHub, api: HfApi) -> None:
    script = "https://raw.githubusercontent.com/huggingface/trl/main/trl/scripts/sft.py"
    job = await call(
        api.run_uv_job,
        script,
        script_args=["--model_name_or_path", "Qwen/Qwen2.5-0.5B"],
        dependencies=["trl", "hf-transfer"],
        flavor="t4-small",
        namespace="alice",
    )
    spec = hub.jobs.get(job.id).spec
    assert spec["dockerImage"] == "ghcr.io/astral-sh/uv:python3.12-bookworm"
    assert spec["command"] == [
        "uv", "run", "--with", "trl", "--with", "hf-transfer", script,
        "--model_name_or_path", "Qwen/Qwen2.5-0.5B",
    ]  # fmt: skip
    assert spec["labels"]["name"].startswith("sft-")
    assert hub.count("/api/buckets") == 0


async def test_job_metrics_stream(hub: FakeHub, api: HfApi) -> None:
    hub.jobs.script(manual=True)
    job = await call(
        api.run_job, image="python:3.12", command=["train"], flavor="a10g-small", namespace="alice"
    )
    hub.jobs.set_stage(job.id, "RUNNING")

    def first_two() -> list[dict[str, Any]]:
        gen = iter(api.fetch_job_metrics(job_id=job.id, namespace="alice"))
        try:
            return [next(gen), next(gen)]
        finally:
            gen.close()  # type: ignore[attr-defined]

    metrics = await asyncio.to_thread(first_two)
    assert len(metrics) == 2 and len(metrics[0]["gpus"]) == 1
    assert {"cpu_usage_pct", "memory_used_bytes", "memory_total_bytes", "rx_bps", "tx_bps"} <= set(
        metrics[0]
    )
    hub.jobs.set_stage(job.id, "COMPLETED")
    # Finished job: the endpoint answers 500, which the client tolerates -> no metrics.
    assert await collect(api.fetch_job_metrics, job_id=job.id, namespace="alice") == []


async def test_scheduled_jobs(hub: FakeHub, api: HfApi) -> None:
    sj = await call(
        api.create_scheduled_job,
        image="python:3.12",
        command=["python", "-c", "print('nightly')"],
        schedule="@hourly",
        secrets={"HF_TOKEN": ALICE_TOKEN},
        namespace="alice",
    )
    assert sj.schedule == "@hourly" and sj.suspend is False and sj.owner.name == "alice"
    assert sj.status.next_job_run_at is not None and sj.job_spec.secrets == {"HF_TOKEN": None}
    assert [s.id for s in await call(api.list_scheduled_jobs, namespace="alice")] == [sj.id]

    await call(api.suspend_scheduled_job, scheduled_job_id=sj.id, namespace="alice")
    assert (
        await call(api.inspect_scheduled_job, scheduled_job_id=sj.id, namespace="alice")
    ).suspend
    await call(api.resume_scheduled_job, scheduled_job_id=sj.id, namespace="alice")
    assert not (
        await call(api.inspect_scheduled_job, scheduled_job_id=sj.id, namespace="alice")
    ).suspend

    run = await call(api.trigger_scheduled_job, scheduled_job_id=sj.id, namespace="alice")
    assert run.initiator is not None and run.initiator.type == "scheduled-job"
    last = (await call(api.inspect_scheduled_job, scheduled_job_id=sj.id, namespace="alice")).status
    assert last.last_job is not None and last.last_job.id == run.id
    fired = hub.jobs.fire_scheduled(sj.id)  # simulate the scheduler ticking
    assert fired.initiator == {"type": "scheduled-job", "id": sj.id}
    with pytest.raises(HfHubHTTPError) as err:  # concurrency disabled, a run is in progress
        await call(api.trigger_scheduled_job, scheduled_job_id=sj.id, namespace="alice")
    assert err.value.response.status_code == 409

    await call(api.delete_scheduled_job, scheduled_job_id=sj.id, namespace="alice")
    assert await call(api.list_scheduled_jobs, namespace="alice") == []
    with pytest.raises(JobNotFoundError):
        await call(api.inspect_scheduled_job, scheduled_job_id=sj.id, namespace="alice")
    with pytest.raises(BadRequestError):
        await call(
            api.create_scheduled_job,
            image="python:3.12",
            command=["x"],
            schedule="sometimes",
            namespace="alice",
        )


async def test_manual_clock_gives_exact_stage_timing() -> None:
    clock = ManualClock()
    async with FakeHub(clock=clock, schedule_secs=10, run_secs=60) as hub:
        api = HfApi(endpoint=hub.url, token=ALICE_TOKEN)
        hub.jobs.script(logs=["a", "b", "c"])  # released 15 s, 30 s and 45 s into RUNNING
        job = await call(api.run_job, image="python:3.12", command=["train"], namespace="alice")
        hub.advance(9.9)
        assert (
            await call(api.inspect_job, job_id=job.id, namespace="alice")
        ).status.stage == "SCHEDULING"
        hub.advance(0.2)
        assert (
            await call(api.inspect_job, job_id=job.id, namespace="alice")
        ).status.stage == "RUNNING"
        hub.advance(30)
        assert hub.jobs.get(job.id).logs == ["a", "b"]
        hub.advance(30)
        info = await call(api.inspect_job, job_id=job.id, namespace="alice")
        assert info.status.stage == "COMPLETED" and info.durations is not None
        assert (info.durations.scheduling_secs, info.durations.running_secs) == (10, 60)
        assert await collect(api.fetch_job_logs, job_id=job.id, namespace="alice") == [
            "a",
            "b",
            "c",
        ]


def test_run_in_thread_for_sync_callers() -> None:
    with FakeHub(schedule_secs=0.01, run_secs=0.05).run_in_thread() as hub:
        api = HfApi(endpoint=hub.url, token=ALICE_TOKEN)
        assert api.whoami()["name"] == "alice"
        hub.jobs.script(logs=["hello from a thread"])
        job = api.run_job(image="python:3.12", command=["echo"], namespace="alice")
        hub.wait_for_sync(lambda: hub.jobs.stage(job.id) == "COMPLETED")
        assert list(api.fetch_job_logs(job_id=job.id, namespace="alice")) == ["hello from a thread"]


# ---------------------------------------------------------------------------
# datasets-server, papers, docs
# ---------------------------------------------------------------------------


async def test_datasets_server(hub: FakeHub) -> None:
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    async with httpx.AsyncClient(base_url=hub.datasets_server_url, headers=headers) as c:
        ds = {"dataset": "HuggingFaceH4/ultrachat_200k"}
        assert (await c.get("/is-valid", params=ds)).json()["viewer"] is True
        splits = (await c.get("/splits", params=ds)).json()["splits"]
        assert [(s["config"], s["split"]) for s in splits][:2] == [
            ("default", "train_sft"),
            ("default", "test_sft"),
        ]
        info = (await c.get("/info", params={**ds, "config": "default"})).json()["dataset_info"]
        assert info["features"]["messages"]["_type"] == "List"
        assert info["splits"]["train_sft"]["num_examples"] == 207865
        first = (
            await c.get("/first-rows", params={**ds, "config": "default", "split": "train_sft"})
        ).json()
        assert [f["name"] for f in first["features"]] == ["prompt", "prompt_id", "messages"]
        row = first["rows"][0]
        assert row["row_idx"] == 0 and row["truncated_cells"] == [] and first["truncated"] is True
        assert {m["role"] for m in row["row"]["messages"]} == {"user", "assistant"}
        parquet = (await c.get("/parquet", params=ds)).json()["parquet_files"]
        assert {p["split"] for p in parquet} == {"train_sft", "test_sft", "train_gen"}
        assert parquet[0]["url"].startswith(
            f"{hub.url}/datasets/HuggingFaceH4/ultrachat_200k/resolve/"
        )
        page = (
            await c.get(
                "/rows", params={**ds, "config": "default", "split": "train_sft", "offset": 1}
            )
        ).json()
        assert page["rows"][0]["row_idx"] == 1 and page["num_rows_total"] == 207865

        imdb = (
            await c.get("/info", params={"dataset": "stanfordnlp/imdb", "config": "plain_text"})
        ).json()
        assert imdb["dataset_info"]["features"]["label"] == {
            "names": ["neg", "pos"],
            "_type": "ClassLabel",
        }

        missing = await c.get("/splits", params={"dataset": "nobody/nothing"})
        assert missing.status_code == 404 and "error" in missing.json()
        assert (await c.get("/first-rows", params=ds)).status_code == 422
        assert (await c.get("/splits", params={"dataset": "alice/private-data"})).status_code == 200

    async with httpx.AsyncClient(base_url=hub.datasets_server_url) as anon:
        gated = await anon.get("/splits", params={"dataset": "acme-ml/gated-eval"})
        assert gated.status_code == 401
        assert gated.headers["X-Error-Code"] == "ExternalUnauthenticatedError"
        assert (
            await anon.get("/is-valid", params={"dataset": "stanfordnlp/imdb"})
        ).status_code == 200


class _Headings(HTMLParser):
    """Collects h2/h3 texts and nav hrefs (stdlib only: bs4 is not a test dependency)."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.hrefs: list[str] = []
        self._tag: str | None = None
        self._nav = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "nav" and "flex-auto" in (a.get("class") or ""):
            self._nav += 1
        if tag == "a" and self._nav and a.get("href"):
            self.hrefs.append(str(a["href"]))
        if tag in ("h2", "h3") and "ltx_title" in (a.get("class") or ""):
            self._tag = tag
            self.headings.append((tag, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._nav:
            self._nav -= 1
        if tag == self._tag:
            self._tag = None

    def handle_data(self, data: str) -> None:
        if self._tag:
            tag, text = self.headings[-1]
            self.headings[-1] = (tag, text + data)


async def test_papers_collections_and_arxiv_html(hub: FakeHub, api: HfApi) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as c:
        daily = (await c.get("/api/daily_papers", params={"limit": 3})).json()
        assert len(daily) == 3 and [d["paper"]["upvotes"] for d in daily] == sorted(
            (d["paper"]["upvotes"] for d in daily), reverse=True
        )
        assert {"paper", "title", "publishedAt", "numComments", "submittedBy"} <= set(daily[0])
        found = (
            await c.get("/api/papers/search", params={"q": "direct preference optimization"})
        ).json()
        assert found[0]["paper"]["id"] == "2305.18290"
        paper = (await c.get("/api/papers/2305.18290")).json()
        assert paper["authors"][0]["name"] == "Rafael Rafailov" and paper["githubRepo"].startswith(
            "https://"
        )
        assert "DPO" in paper["ai_keywords"]
        assert (await c.get("/api/papers/9999.99999")).status_code == 404

        models = (
            await c.get(
                "/api/models",
                params={"filter": "arxiv:2305.18290", "sort": "downloads", "direction": -1},
            )
        ).json()
        assert [m["id"] for m in models] == ["HuggingFaceH4/zephyr-7b-beta", REPO]
        datasets = (await c.get("/api/datasets", params={"filter": "arxiv:2310.16944"})).json()
        assert [d["id"] for d in datasets] == ["HuggingFaceH4/ultrachat_200k"]
        colls = (await c.get("/api/collections", params={"paper": "2305.18290"})).json()
        assert [x["title"] for x in colls] == [
            "Alignment Handbook",
            "Preference optimisation papers",
        ]
        assert {"slug", "owner", "items", "upvotes"} <= set(colls[0])

        page = await c.get("/arxiv-html/2305.18290")
        parser = _Headings()
        parser.feed(page.text)
        h2 = [t for tag, t in parser.headings if tag == "h2"]
        assert h2[:2] == ["1 Introduction", "2 Related Work"]
        assert ("h3", "3.1 Deriving the DPO objective") in parser.headings
        assert (await c.get("/arxiv-html/2305.14233")).status_code == 404  # abstract-only paper

    # The same endpoints parse with huggingface_hub's own paper/collection helpers.
    info = await call(api.paper_info, "2305.18290")
    assert info.title is not None and info.title.startswith("Direct Preference") and info.authors
    assert [p.id for p in await collect(api.list_papers, query="LoRA")][0] == "2106.09685"
    assert len(await collect(api.list_daily_papers, limit=2)) == 2
    assert "## 1 Introduction" in await call(api.read_paper, "2305.18290")
    colls = await collect(api.list_collections, item="papers/2305.18290")
    assert colls[0].title == "Alignment Handbook" and colls[0].items[0].item_id == "2305.18290"


async def test_docs_pages(hub: FakeHub) -> None:
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {ALICE_TOKEN}"}
    ) as c:
        index = await c.get("/docs/trl")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        parser = _Headings()
        parser.feed(index.text)
        assert "/docs/trl/sft_trainer" in parser.hrefs and len(parser.hrefs) >= 5
        pages = [await c.get(f"{href}.md") for href in parser.hrefs]
        assert all(p.status_code == 200 for p in pages)
        sft = pages[parser.hrefs.index("/docs/trl/sft_trainer")]
        assert sft.text.startswith("# SFT Trainer") and "messages" in sft.text
        nested = await c.get("/docs/transformers/main_classes/trainer.md")
        assert nested.status_code == 200 and "TrainingArguments" in nested.text
        for endpoint in ("transformers", "datasets", "hub"):
            assert (await c.get(f"/docs/{endpoint}")).status_code == 200
        assert (await c.get("/docs/not-a-library")).status_code == 404
        assert (await c.get("/docs/trl/nope.md")).status_code == 404


# ---------------------------------------------------------------------------
# Test controls: fault injection, request log, CLI
# ---------------------------------------------------------------------------


async def test_fault_injection_and_request_log(hub: FakeHub, api: HfApi) -> None:
    rule = hub.inject_error(
        "/api/models/openai-community/gpt2", 503, message="Service Unavailable", times=1
    )
    with pytest.raises(HfHubHTTPError) as err:
        await call(api.model_info, "openai-community/gpt2")
    assert err.value.response.status_code == 503 and "Service Unavailable" in str(err.value)
    assert rule.hits == 1
    assert (await call(api.model_info, "openai-community/gpt2")).id == "openai-community/gpt2"

    hub.inject_error("/api/whoami-v2", 429, message="rate limited", times=1)
    with pytest.raises(HfHubHTTPError, match="rate limit"):
        await call(api.whoami)
    assert hub.count_by_route()["fault"] == 2
    assert [r.status for r in hub.requests_to("/api/models/openai-community/gpt2")] == [503, 200]


def test_cli_prints_ready_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fake_hub", "--port", "0", "--token", "hf_cli=carol"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert re.fullmatch(r"READY http://127\.0\.0\.1:\d+", line), line
        url = line.split()[1]
        who = httpx.get(f"{url}/api/whoami-v2", headers={"Authorization": "Bearer hf_cli"})
        assert who.json()["name"] == "carol"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
