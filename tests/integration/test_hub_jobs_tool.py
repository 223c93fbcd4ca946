"""hf_jobs against the fake Hub through the real huggingface_hub client: every operation,
script forms (inline, URL, workspace file), namespaces, billing, bounded logs, the approval
classes the policy assigns to its arguments, and the HubClient it relies on (cached whoami,
error translation, bounded log tails, hardware prices)."""

from __future__ import annotations

import base64
import time

import pytest

from agent_core import policy, pricing
from agent_core.hub import HubClient, HubError
from agent_core.tools.hf_jobs import hf_jobs_handler
from tests.fakes.fake_hub import ALICE_READ_TOKEN, ALICE_TOKEN, INVALID_TOKEN
from tests.fakes.fake_hub_jobs import training_log_lines
from tests.hub_harness import jobs_env, make_config, make_hub_client, restore_prices

pytestmark = pytest.mark.usefixtures("restore_prices")
_ = restore_prices


async def run(env, args, **kw):
    return await hf_jobs_handler(args, env.ctx(**kw))


def job_id_of(text: str) -> str:
    return text.split("Job ID: ")[1].split()[0]


# --------------------------------------------------------------------------- run


async def test_run_workspace_script_is_sent_inline(tmp_path):
    async with jobs_env(tmp_path) as env:
        ctx = env.ctx()
        script = "import sys\nprint('hello', sys.argv[1:])\n"
        (ctx.workspace() / "train.py").write_text(script)
        text, ok = await hf_jobs_handler(
            {
                "operation": "run",
                "script": "train.py",
                "script_args": ["--epochs", "1"],
                "dependencies": ["trl"],
            },
            ctx,
        )
        assert ok, text
        job = env.fake.jobs.get(job_id_of(text))
        assert job.spec["dockerImage"] == "ghcr.io/astral-sh/uv:python3.12-bookworm"
        shell = job.command[2]
        assert base64.b64decode(shell.split()[1]).decode() == script
        assert "--with trl" in shell and shell.endswith("- --epochs 1")
        assert job.flavor == "cpu-basic" and job.spec["timeoutSeconds"] == 1800
        assert job.labels["ml-intern-call"] == "call-1"
        assert job.environment["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


async def test_run_docker_command_and_url_script(tmp_path):
    async with jobs_env(tmp_path) as env:
        text, ok = await run(
            env,
            {
                "operation": "run",
                "command": ["python", "-c", "print(1)"],
                "hardware_flavor": "t4-small",
                "timeout": 900,
            },
        )
        assert ok, text
        job = env.fake.jobs.get(job_id_of(text))
        assert (
            job.command == ["python", "-c", "print(1)"] and job.spec["dockerImage"] == "python:3.12"
        )
        assert job.flavor == "t4-small" and job.spec["timeoutSeconds"] == 900
        text, ok = await run(env, {"operation": "run", "script": "https://example.org/train.py"})
        assert ok, text
        assert env.fake.jobs.get(job_id_of(text)).command[-1] == "https://example.org/train.py"


async def test_run_succeeds_even_if_the_watcher_fails(tmp_path):
    async with jobs_env(tmp_path) as env:

        async def broken(record):
            raise RuntimeError("disk full")

        env.watcher.watch = broken  # type: ignore[method-assign]
        text, ok = await run(env, {"operation": "run", "command": ["echo"]})
        assert ok and "Job ID: " in text and "not being followed" in text
        assert len(env.fake.jobs.all()) == 1  # submitted once; the model is not told to retry


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"operation": "run"}, "exactly one of `script`"),
        ({"operation": "run", "script": "x", "command": ["y"]}, "exactly one of `script`"),
        ({"operation": "run", "script": "missing.py"}, "not inline code, a URL, or a file"),
        ({"operation": "run", "script": "../../etc/passwd"}, "outside this session's workspace"),
        (
            {"operation": "run", "command": ["x"], "timeout": "soon"},
            "timeout 'soon' is not understood",
        ),
        ({"operation": "run", "command": ["x"], "hardware_flavor": "tpu-v9"}, "Invalid flavor"),
        ({"operation": "frobnicate"}, "Unknown operation"),
        ({"operation": "logs"}, "needs job_id"),
    ],
)
async def test_bad_arguments_are_short_errors(tmp_path, args, needle):
    async with jobs_env(tmp_path) as env:
        text, ok = await run(env, args)
        assert not ok and needle in text, text


async def test_namespace_refusal_lists_allowed_and_sends_nothing(tmp_path):
    async with jobs_env(tmp_path) as env:
        text, ok = await run(
            env, {"operation": "run", "command": ["echo"], "namespace": "evil-corp"}
        )
        assert not ok
        assert "Allowed namespaces: alice, acme-ml" in text
        assert env.fake.count("/api/jobs/", method="POST") == 0
        text, ok = await run(env, {"operation": "run", "command": ["echo"], "namespace": "acme-ml"})
        assert ok, text
        assert env.fake.jobs.get(job_id_of(text)).namespace == "acme-ml"
        assert "Namespace: acme-ml" in text


async def test_billing_error_is_actionable(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.require_billing("alice")
        text, ok = await run(
            env, {"operation": "run", "command": ["echo"], "hardware_flavor": "a10g-small"}
        )
        assert not ok
        assert "https://huggingface.co/settings/billing" in text and "'alice'" in text
        assert "Nothing was started" in text
        assert env.fake.jobs.all() == [] and env.watcher.status() == []
        states = [e.data for e in env.recorder.of("tool_state_change")]
        assert (
            states
            and states[0]["state"] == "billing_required"
            and states[0]["namespace"] == "alice"
        )


async def test_read_only_token_is_refused_clearly(tmp_path):
    async with jobs_env(tmp_path, token=ALICE_READ_TOKEN) as env:
        text, ok = await run(env, {"operation": "run", "command": ["echo"]})
        assert not ok and "403" in text and "read-only" in text


# --------------------------------------------------------------------------- other operations


async def test_logs_is_a_bounded_tail_even_while_running(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True, logs=[f"line {i}" for i in range(200)])
        job_id = job_id_of((await run(env, {"operation": "run", "command": ["train"]}))[0])
        env.fake.jobs.set_stage(job_id, "RUNNING")
        t0 = time.monotonic()
        text, ok = await run(env, {"operation": "logs", "job_id": job_id, "tail": 5})
        assert ok and time.monotonic() - t0 < 4.0  # never waits for the job
        assert "still running" in text and "line 199" in text and "line 194" not in text
        env.fake.jobs.set_stage(job_id, "COMPLETED")
        text, ok = await run(env, {"operation": "logs", "job_id": job_id, "tail": 10_000})
        assert ok and "still running" not in text and text.count("\nline ") == 200


async def test_logs_collapse_installs(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(logs=training_log_lines(steps=2))
        job_id = job_id_of((await run(env, {"operation": "run", "command": ["train"]}))[0])
        await env.recorder.wait_for("job_finished", job_id=job_id)
        text, ok = await run(env, {"operation": "logs", "job_id": job_id})
        assert ok and "[installs truncated]" in text and "Downloading torch" not in text


async def test_inspect_ps_cancel(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True)
        running = job_id_of(
            (await run(env, {"operation": "run", "command": ["sleep"], "env": {"A": "1"}}))[0]
        )
        done = job_id_of((await run(env, {"operation": "run", "command": ["echo"]}))[0])
        await env.recorder.wait_for("job_finished", job_id=done)
        text, ok = await run(env, {"operation": "inspect", "job_id": [running, done, "nope"]})
        assert not ok  # one of them failed, the others are still described
        assert (
            f"Job {running}" in text and "stage: SCHEDULING" in text and "stage: COMPLETED" in text
        )
        assert (
            "Job nope:" in text
            and "env: " in text
            and "HF_TOKEN" not in text.split("env: ")[1].split("\n")[0]
        )
        text, ok = await run(env, {"operation": "ps"})
        assert ok and running in text and done not in text
        text, ok = await run(env, {"operation": "ps", "all": True})
        assert ok and running in text and done in text
        text, ok = await run(env, {"operation": "ps", "status": "completed"})
        assert ok and done in text and running not in text
        text, ok = await run(env, {"operation": "cancel", "job_id": running})
        assert ok, text
        ev = await env.recorder.wait_for("job_finished", job_id=running)
        assert ev.data["stage"] == "CANCELED" and ev.data["canceled_by"] == "agent"
        text, ok = await run(env, {"operation": "cancel", "job_id": running})
        assert not ok and "already finished" in text


async def test_hardware_from_hub_updates_prices_with_static_fallback(tmp_path):
    async with jobs_env(tmp_path) as env:
        text, ok = await run(env, {"operation": "hardware"})
        assert ok and "| a10g-large | 1 A10G 24 GB |" in text and "$1.50" in text
        assert pricing.price_per_hour("a10g-large") == pytest.approx(1.5)  # per-minute → per-hour
        n = env.fake.count("/api/jobs/hardware")
        await run(env, {"operation": "hardware"})
        assert env.fake.count("/api/jobs/hardware") == n  # cached
    async with jobs_env(tmp_path / "b") as env:
        env.fake.inject_error("/api/jobs/hardware", 500)
        text, ok = await run(env, {"operation": "hardware"})
        assert ok and "static price table" in text and "a100-large" in text


async def test_scheduled_operations(tmp_path):
    async with jobs_env(tmp_path) as env:
        text, ok = await run(env, {"operation": "scheduled run", "command": ["echo"]})
        assert not ok and "needs `schedule`" in text
        text, ok = await run(
            env,
            {
                "operation": "scheduled run",
                "script": "print(1)\n",
                "schedule": "@hourly",
                "hardware_flavor": "t4-small",
            },
        )
        assert ok, text
        sid = text.split("Scheduled job ")[2].split()[0]
        sj = env.fake.jobs.scheduled[sid]
        assert sj.spec["secrets"] == {"HF_TOKEN": ALICE_TOKEN} and sj.spec["flavor"] == "t4-small"
        assert (await run(env, {"operation": "scheduled suspend", "scheduled_job_id": sid}))[
            0
        ].endswith("suspended.")
        text, _ = await run(env, {"operation": "scheduled ps"})
        assert sid not in text  # suspended ones hidden unless all
        text, _ = await run(env, {"operation": "scheduled ps", "all": True})
        assert sid in text and "suspended: True" in text
        assert (await run(env, {"operation": "scheduled resume", "scheduled_job_id": sid}))[1]
        text, ok = await run(env, {"operation": "scheduled inspect", "scheduled_job_id": sid})
        assert ok and "@hourly" in text and "suspended: False" in text
        text, ok = await run(env, {"operation": "scheduled delete", "scheduled_job_id": sid})
        assert ok and sid not in env.fake.jobs.scheduled
        text, ok = await run(env, {"operation": "scheduled inspect"})
        assert not ok and "scheduled_job_id" in text


# --------------------------------------------------------------------------- approval classes


@pytest.mark.parametrize(
    ("args", "confirm_cpu", "klass"),
    [
        ({"operation": "run", "hardware_flavor": "a10g-small"}, True, policy.GPU_JOB),
        ({"operation": "run", "hardware_flavor": "cpu-basic"}, True, policy.CPU_JOB),
        ({"operation": "run", "hardware_flavor": "cpu-basic"}, False, None),
        ({"operation": "scheduled run", "schedule": "@daily"}, False, policy.SCHEDULED_JOB),
        ({"operation": "logs", "job_id": "x"}, True, None),
        ({"operation": "cancel", "job_id": "x"}, True, None),
        ({"operation": "hardware"}, True, None),
        ({"operation": "scheduled ps"}, True, None),
    ],
)
def test_policy_classes_for_hf_jobs_arguments(args, confirm_cpu, klass):
    cfg = make_config(confirm_cpu_jobs=confirm_cpu)
    req = policy.base_requirement("hf_jobs", args, cfg)
    assert (req.approval_class if req else None) == klass


# --------------------------------------------------------------------------- HubClient


async def test_whoami_is_cached_and_namespaces_resolved(tmp_path):
    async with jobs_env(tmp_path) as env:
        hub = env.hub
        assert await hub.resolve_namespace(None) == "alice"
        assert await hub.resolve_namespace("acme-ml") == "acme-ml"
        for _ in range(5):
            await hub.resolve_namespace("alice")
        assert env.fake.count("/api/whoami-v2") == 1
        with pytest.raises(HubError) as err:
            await hub.resolve_namespace("other")
        assert err.value.kind == "namespace"
        assert env.fake.count("/api/whoami-v2") == 2  # one refresh before refusing


async def test_invalid_token_and_missing_token(tmp_path, monkeypatch):
    async with jobs_env(tmp_path) as env:
        bad = make_hub_client(env.fake, INVALID_TOKEN)
        with pytest.raises(HubError) as err:
            await bad.whoami()
        assert err.value.kind == "auth" and "HF_TOKEN" in err.value.message
        assert INVALID_TOKEN not in err.value.message
        monkeypatch.delenv("HF_TOKEN", raising=False)
        none = HubClient(endpoint=env.fake.url, token="")
        with pytest.raises(HubError) as err:
            await none.whoami()
        assert err.value.kind == "no_token"
        await bad.aclose()


async def test_endpoint_and_token_from_environment(tmp_path, monkeypatch):
    async with jobs_env(tmp_path) as env:
        monkeypatch.setenv("HF_ENDPOINT", env.fake.url + "/")
        monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
        monkeypatch.setenv("HF_DATASETS_SERVER_URL", env.fake.datasets_server_url)
        hub = HubClient()
        assert hub.endpoint == env.fake.url and hub.token == ALICE_TOKEN
        assert hub.datasets_server_url == env.fake.datasets_server_url
        assert (await hub.whoami()).name == "alice"
        assert (
            env.fake.requests_to("/api/whoami-v2")[-1].header("authorization")
            == f"Bearer {ALICE_TOKEN}"
        )
        await hub.aclose()


async def test_log_tail_is_bounded_by_deadline(tmp_path):
    async with jobs_env(tmp_path) as env:
        env.fake.jobs.script(manual=True, logs=["a", "b", "c"])
        job_id = job_id_of((await run(env, {"operation": "run", "command": ["x"]}))[0])
        env.fake.jobs.set_stage(job_id, "RUNNING")
        t0 = time.monotonic()
        tail = await env.hub.job_log_tail("alice", job_id, 2, deadline_s=0.5, idle_s=0.2)
        assert time.monotonic() - t0 < 1.5
        assert tail.lines == ["b", "c"] and not tail.ended and tail.last_timestamp
        env.fake.jobs.set_stage(job_id, "COMPLETED")
        tail = await env.hub.job_log_tail("alice", job_id, 50, deadline_s=2.0, idle_s=1.0)
        assert tail.ended and tail.lines == ["a", "b", "c"]
        with pytest.raises(HubError) as err:
            await env.hub.job_log_tail("alice", "nope", 5)
        assert err.value.kind == "not_found"
