"""GPU spend the agent can trigger: the YOLO cap must hold, the submitted timeout must be the
priced one, and the agent may not cancel another conversation's job.

Runs the real ``hf_jobs`` tool through huggingface_hub against the fake Hub's Jobs API (which,
like the Hub, rejects a ``timeoutSeconds`` that is not a positive integer).
"""

from __future__ import annotations

import pytest

from agent_core import policy, pricing
from agent_core.tools.hf_jobs import hf_jobs_handler
from tests.hub_harness import jobs_env, make_config, restore_prices

pytestmark = pytest.mark.usefixtures("restore_prices")
_ = restore_prices

H200X8 = {"operation": "run", "command": ["python", "train.py"], "hardware_flavor": "h200x8"}


def job_id_of(text: str) -> str:
    return text.split("Job ID: ")[1].split()[0]


@pytest.mark.parametrize("timeout", ["0.4", 0.4, "3", 59, "4m", "0.01h", "-1", "0", "soon", True])
async def test_yolo_cap_bypass_with_fractional_timeout(tmp_path, timeout):
    args = {**H200X8, "timeout": timeout}
    cfg = make_config(yolo_mode=True, yolo_cost_cap_usd=5.0)
    state: dict = {}
    req = policy.decide("hf_jobs", args, cfg, state, "call-1")
    assert not (req is not None and req.auto_approved), "an 8×H200 job was auto-approved"
    assert not policy.yolo_state(state, cfg)["reserved"]
    async with jobs_env(tmp_path, config=cfg) as env:
        text, ok = await hf_jobs_handler(args, env.ctx())
        assert not ok and "minimum" in text
        assert env.fake.jobs.all() == [], "a job was submitted with a timeout nobody priced"


@pytest.mark.parametrize(
    ("timeout", "seconds"), [("1000.4", 1001), (300, 300), ("90.5m", 5430), ("2h", 7200)]
)
async def test_submitted_timeout_differs_from_priced_timeout(tmp_path, timeout, seconds):
    args = {**H200X8, "hardware_flavor": "a10g-large", "timeout": timeout}
    cfg = make_config()
    req = policy.decide("hf_jobs", args, cfg, {}, "call-1")
    priced = pricing.price_per_hour("a10g-large") * seconds / 3600
    assert req is not None and req.estimated_cost_usd == pytest.approx(priced, abs=1e-4)
    async with jobs_env(tmp_path, config=cfg) as env:
        text, ok = await hf_jobs_handler(args, env.ctx())
        assert ok, text
        job = env.fake.jobs.get(job_id_of(text))
        assert job.spec["timeoutSeconds"] == seconds


async def test_agent_cancels_another_sessions_job(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True)
        alice_ctx = env.ctx(session_id="thread-alice")
        text, ok = await hf_jobs_handler({**H200X8, "timeout": "2h"}, alice_ctx)
        assert ok, text
        job_id = job_id_of(text)
        bob_ctx = env.ctx(session_id="thread-bob", tool_call_id="call-9")
        text, ok = await hf_jobs_handler({"operation": "cancel", "job_id": job_id}, bob_ctx)
        assert not ok and "not started in this conversation" in text
        assert env.fake.jobs.get(job_id).stage not in ("CANCELED", "CANCELLED")
        # a session id passed as the job id must not cancel that session's jobs either
        text, ok = await hf_jobs_handler({"operation": "cancel", "job_id": "thread-alice"}, bob_ctx)
        assert not ok
        assert env.fake.jobs.get(job_id).stage not in ("CANCELED", "CANCELLED")
        text, ok = await hf_jobs_handler({"operation": "cancel", "job_id": job_id}, alice_ctx)
        assert ok, text


async def test_agent_cancels_job_started_outside_the_bot(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True)
        # a colleague's job, submitted with their own tooling under the same namespace
        job = await env.hub.call(
            "run_job", image="python:3.12", command=["sleep", "1d"], namespace="alice", what="x"
        )
        text, ok = await hf_jobs_handler({"operation": "cancel", "job_id": job.id}, env.ctx())
        assert not ok and "not started in this conversation" in text
        assert env.fake.jobs.get(job.id).stage not in ("CANCELED", "CANCELLED")


@pytest.mark.parametrize(
    "op", ["create_branch", "create_tag", "create_pr", "close_pr", "comment_pr", "change_pr_status"]
)
def test_hf_repo_git_pr_and_ref_writes_run_without_approval(op):
    req = policy.decide(
        "hf_repo_git", {"operation": op, "repo_id": "acme/prod-model"}, make_config(), {}, "c1"
    )
    assert req is not None and req.required and req.approval_class == policy.REPO_WRITE
    shouting = policy.decide(
        "hf_repo_git", {"operation": f" {op.upper()} ", "repo_id": "a/b"}, make_config(), {}, "c2"
    )
    assert shouting is not None and shouting.required
