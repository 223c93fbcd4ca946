"""Trackio dashboards and artifact provenance against the fake Hub, through the real
huggingface_hub client: a training job that reports to Trackio gets a seeded dashboard Space,
the env that points Trackio at it and a link on its job record (which the job card shows);
models and datasets the agent creates or re-carded are tagged ``ml-intern`` with a section
naming the Slack thread."""

from __future__ import annotations

import yaml

from agent_core.tools import trackio_dashboard
from agent_core.tools.hf_jobs import hf_jobs_handler
from agent_core.tools.hf_repo_files import hf_repo_files_handler
from agent_core.tools.hf_repo_git import hf_repo_git_handler
from agent_core.tools.hub_artifacts import BEGIN, TAG
from bot.jobs.buttons import with_job_actions
from bot.jobs.card import job_payload, merge_job
from tests.hub_harness import jobs_env

SFT = """\
from trl import SFTConfig, SFTTrainer

args = SFTConfig(output_dir="out", report_to="trackio", logging_first_step=True)
"""
ORIGIN = {
    "platform": "slack",
    "team": "T0001",
    "channel": "C0ML",
    "thread_ts": "1717000000.000100",
    "requester": "U_REQ",
}


def job_id_of(text: str) -> str:
    return text.split("Job ID: ")[1].split()[0]


def slack_ctx(env):
    ctx = env.ctx()
    ctx.origin = dict(ORIGIN)
    return ctx


def front_matter(text: str) -> dict:
    return yaml.safe_load(text.split("---\n", 2)[1])


async def test_trackio_script_gets_a_seeded_dashboard_and_a_card_link(tmp_path):
    async with jobs_env(tmp_path) as env:
        text, ok = await hf_jobs_handler({"operation": "run", "script": SFT}, env.ctx())
        assert ok, text
        job = env.fake.jobs.get(job_id_of(text))
        space_id = job.environment["TRACKIO_SPACE_ID"]
        assert space_id.startswith("alice/ml-intern-") and len(space_id.split("-")[-1]) == 8
        space = env.fake.repos.get(space_id, "space")
        assert space is not None and space.private
        files = space.files_at("main")
        assert b"trackio.show()" in files["app.py"] and files["requirements.txt"] == b"trackio\n"
        url = f"{env.hub.endpoint}/spaces/{space_id}"
        assert f"Trackio dashboard: {url}" in text
        record = await env.watcher.job(job.id)
        assert record is not None and record["links"] == {"trackio": url}
        # The job card shows the dashboard from its first render (job_started).
        started = env.recorder.of("job_started")[0].data
        assert started["links"] == {"trackio": url}
        card = with_job_actions(
            job_payload(merge_job({}, "job_started", started, 0.0), now=0.0), started
        )
        buttons = [e for b in card.blocks if b.get("type") == "actions" for e in b["elements"]]
        assert any(e.get("url") == url for e in buttons)


async def test_requested_space_and_project_are_used_and_not_clobbered(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.repos.add(
            "alice/demo", repo_type="space", files={"app.py": "import gradio\n"}, sdk="gradio"
        )
        text, ok = await hf_jobs_handler(
            {
                "operation": "run",
                "script": "print('no trackio import here')\n",
                "trackio_space_id": "alice/demo",
                "trackio_project": "sft-qwen",
            },
            env.ctx(),
        )
        assert ok, text
        job = env.fake.jobs.get(job_id_of(text))
        assert job.environment["TRACKIO_SPACE_ID"] == "alice/demo"
        assert job.environment["TRACKIO_PROJECT"] == "sft-qwen"
        # Someone's own app is left alone, and not linked as a dashboard.
        assert env.fake.repos.get("alice/demo", "space").files_at("main")["app.py"] == (
            b"import gradio\n"
        )
        assert "Trackio dashboard" not in text
        assert (await env.watcher.job(job.id))["links"] == {}


async def test_no_trackio_means_no_space_and_a_failed_seed_never_blocks_the_job(tmp_path):
    async with jobs_env(tmp_path) as env:
        text, ok = await hf_jobs_handler(
            {"operation": "run", "script": "print('plain')\n"}, env.ctx()
        )
        assert ok and "TRACKIO_SPACE_ID" not in env.fake.jobs.get(job_id_of(text)).environment
        # A namespace the token cannot write to: seeding fails (403), the job still runs.
        text, ok = await hf_jobs_handler(
            {"operation": "run", "script": SFT, "trackio_space_id": "not-my-org/dash"},
            env.ctx(),
        )
        assert ok, text
        assert env.fake.jobs.get(job_id_of(text)).environment["TRACKIO_SPACE_ID"] == (
            "not-my-org/dash"
        )
        assert "Trackio dashboard" not in text


def test_trackio_detection():
    yes = [
        "import trackio\ntrackio.init(project='x')",
        "from trackio import init",
        'TrainingArguments(report_to=["trackio", "tensorboard"])',
        "SFTConfig(report_to='trackio')",
    ]
    no = ["print('trackio is great')", "report_to='wandb'", "", None]
    assert all(trackio_dashboard.reports_to_trackio(s) for s in yes)
    assert not any(trackio_dashboard.reports_to_trackio(s) for s in no)


async def test_created_model_and_dataset_carry_provenance(tmp_path):
    async with jobs_env(tmp_path, start=False) as env:
        for repo_type in ("model", "dataset"):
            text, ok = await hf_repo_git_handler(
                {
                    "operation": "create_repo",
                    "repo_id": f"alice/out-{repo_type}",
                    "repo_type": repo_type,
                },
                slack_ctx(env),
            )
            assert ok and "tagged `ml-intern`" in text, text
            repo = env.fake.repos.get(f"alice/out-{repo_type}", repo_type)
            readme = repo.files_at("main")["README.md"].decode()
            assert TAG in front_matter(readme)["tags"]
            assert "the Slack thread `1717000000.000100` in channel `C0ML`" in readme
        # Both are in one private collection of this session (found again after a "restart":
        # each call above had a fresh session state, so the second one met the 409 path).
        colls = [c for c in env.fake.papers.collections if c["owner"]["name"] == "alice"]
        assert len(colls) == 1 and colls[0]["private"]
        assert colls[0]["title"].startswith("ml-intern-artifacts-") and len(colls[0]["title"]) <= 59
        assert [(i["type"], i["id"]) for i in colls[0]["items"]] == [
            ("model", "alice/out-model"),
            ("dataset", "alice/out-dataset"),
        ]
        anonymous = await env.hub.http.get(f"{env.fake.url}/api/collections?owner=alice")
        assert anonymous.json() == []  # private: not listed for others
        # Spaces are not artifacts.
        text, ok = await hf_repo_git_handler(
            {
                "operation": "create_repo",
                "repo_id": "alice/app",
                "repo_type": "space",
                "space_sdk": "gradio",
            },
            slack_ctx(env),
        )
        assert ok and "ml-intern" not in text


async def test_card_rewrite_keeps_metadata_and_one_provenance_section(tmp_path):
    async with jobs_env(tmp_path, start=False) as env:
        env.fake.repos.add("alice/card")
        card = "---\nlicense: apache-2.0\ntags:\n- sft\n---\n# My SFT model\n\nScores: 71.2\n"
        for _ in range(2):
            text, ok = await hf_repo_files_handler(
                {
                    "operation": "upload",
                    "repo_id": "alice/card",
                    "path": "README.md",
                    "content": card,
                },
                slack_ctx(env),
            )
            assert ok, text
            card = env.fake.repos.get("alice/card").files_at("main")["README.md"].decode()
        meta = front_matter(card)
        assert meta["license"] == "apache-2.0" and meta["tags"] == ["sft", TAG]
        assert "Scores: 71.2" in card and card.count(BEGIN) == 1
        # Other files are uploaded byte for byte.
        text, ok = await hf_repo_files_handler(
            {"operation": "upload", "repo_id": "alice/card", "path": "notes.md", "content": "x"},
            slack_ctx(env),
        )
        assert ok and env.fake.repos.get("alice/card").files_at("main")["notes.md"] == b"x"


async def test_approval_card_shows_the_dashboard_the_job_will_get(tmp_path):
    """The Space is chosen before the card (prepare), so the approved arguments, the card's env
    and the submitted job agree on one TRACKIO_SPACE_ID."""
    from agent_core.tools.job_preview import prepare_job_call

    async with jobs_env(tmp_path) as env:
        ctx = env.ctx()
        (ctx.workspace() / "train.py").write_text(SFT)
        prepared = await prepare_job_call(
            {"operation": "run", "script": "train.py", "hardware_flavor": "a10g-small"}, ctx
        )
        space_id = prepared.arguments["trackio_space_id"]
        assert space_id.startswith("alice/ml-intern-")
        assert prepared.preview["env"]["TRACKIO_SPACE_ID"] == space_id
        text, ok = await hf_jobs_handler(prepared.arguments, ctx)
        assert ok, text
        assert env.fake.jobs.get(job_id_of(text)).environment["TRACKIO_SPACE_ID"] == space_id
        assert env.fake.repos.get(space_id, "space") is not None
        # A run without Trackio is prepared unchanged.
        plain = await prepare_job_call({"operation": "run", "script": "print(1)\n"}, ctx)
        assert "trackio_space_id" not in plain.arguments
        assert "TRACKIO_SPACE_ID" not in plain.preview["env"]


def test_card_with_broken_metadata_keeps_it_and_gets_the_section():
    from agent_core.tools.hub_artifacts import with_provenance

    broken = "---\nlicense: [mit\nbase_model: x\n---\n# Mine\n"
    out = with_provenance(
        broken, repo_id="alice/m", repo_type="model", origin=ORIGIN, session_id="s"
    )
    assert out.startswith(broken.rstrip()) and out.count(BEGIN) == 1
    again = with_provenance(
        out, repo_id="alice/m", repo_type="model", origin=ORIGIN, session_id="s"
    )
    assert again.count(BEGIN) == 1
