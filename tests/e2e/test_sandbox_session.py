"""Issue 15's recorded session, end to end on real wires: a default install with an HF token.

The engine (SessionManager on SQLite), the scripted OpenAI-compatible model, the fake Hub
(Spaces API + Space edge running our sandbox server, Jobs API) and the job watcher:

1. the model creates its sandbox, pip-installs the wheel the user attached, writes a training
   script and smoke-tests it — all inside a private Space, nothing on the bot's host;
2. it submits that sandbox file as an HF job by path; the approval card's call is pinned to
   the file's content and hash (source ``sandbox:train.py``);
3. the job fails on the Hub with a traceback; the watcher wakes the agent (the default
   ``on_job_finished: resume``) with the log tail, and the model — which sees the traceback in
   its request — proposes a fixed resubmission, which waits for a person again.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from agent_core.events import ToolApproval, UserInput
from agent_core.jobs import JobWatcher
from agent_core.sandbox.manager import SandboxManager
from agent_core.sandbox.spaces import SpaceBackend
from agent_core.tools import hf_jobs, sandbox_tools
from agent_core.tools.base import Services
from tests.engine_harness import ORIGIN, make_config, run_engine
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub
from tests.fakes.fake_llm import FakeLLM, call, last_user_text, text, tool_calls
from tests.hub_harness import FAST_JOBS, make_hub_client


def write_wheel(directory: Path) -> Path:
    """A minimal, valid pure-Python wheel (PEP 427): what a user might attach in Slack.

    pip installs a wheel without setuptools or network, so "install a package" runs offline.
    """
    files = {
        "tinytok.py": b"def count(s):\n    return len(s.split())\n",
        "tinytok-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinytok\nVersion: 0.1\n",
        "tinytok-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{name},sha256="
        + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
        + f",{len(data)}"
        for name, data in files.items()
    ]
    record.append("tinytok-0.1.dist-info/RECORD,,")
    files["tinytok-0.1.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tinytok-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


TRAIN = (
    "import sys, tinytok\n"
    "print('tokens', tinytok.count('a b c'))\n"
    "if '--smoke' in sys.argv:\n    print('smoke ok')\n"
)
TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/train.py", line 3, in <module>',
    "ModuleNotFoundError: No module named 'tinytok'",
]


@pytest.fixture
async def world(monkeypatch):
    async with FakeHub() as hub, FakeLLM() as llm:
        monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
        yield hub, llm


async def test_sandbox_smoke_test_then_job_then_diagnosis(tmp_path: Path, world) -> None:
    hub, llm = world
    hub.jobs.script(
        stages=["SCHEDULING", ("RUNNING", 0.2)],
        logs=["Installed 12 packages in 310ms", *TRACEBACK],
        final="ERROR",
        error_message="Job failed with exit code: 1",
    )
    config = make_config(jobs={**FAST_JOBS, "on_job_finished": "resume"})
    sandboxes = SandboxManager(
        SpaceBackend(
            HfApi(endpoint=hub.url, token=ALICE_TOKEN),
            ALICE_TOKEN,
            url_template=f"{hub.url}/spaces-proxy/{{owner}}/{{name}}",
            poll_s=0.02,
        )
    )
    tools = sandbox_tools.tools(Services(sandboxes=sandboxes)) + hf_jobs.tools(None)
    async with run_engine(tmp_path / "db", llm.base_url, tools=tools, config=config) as eng:
        eng.manager.services.sandboxes = sandboxes
        eng.manager.services.state_dir = tmp_path / "state"
        # the user attached a wheel in Slack: it sits in the session's workspace
        write_wheel(tmp_path / "state" / "workspaces" / "s" / "wheels")
        watcher = JobWatcher.for_manager(eng.manager, make_hub_client(hub))
        await watcher.start()
        job_args = {"operation": "run", "script": "train.py", "hardware_flavor": "a10g-small"}
        job_args |= {"timeout": "2h"}
        llm.push(
            tool_calls(call("sandbox_create", {})),
            tool_calls(
                call("bash", {"command": "pip install -q --no-index --find-links wheels tinytok"})
            ),
            tool_calls(call("write", {"path": "train.py", "content": TRAIN})),
            tool_calls(call("bash", {"command": "python train.py --smoke"})),
            tool_calls(call("hf_jobs", job_args)),
        )
        await eng.manager.submit(
            "s",
            UserInput(text="smoke-test a tokenizer script, then train", user="U_REQ"),
            origin=ORIGIN,
        )
        card = await eng.events.wait_for("approval_required", "s", timeout=90)
        entry = card.data["tools"][0]
        # the model's own smoke test ran in the sandbox and said so
        outputs = [e.data for e in eng.events.of("s", "tool_output")]
        smoke = [d for d in outputs if "smoke ok" in str(d)]
        assert smoke, f"the smoke test's output reached the model: {outputs}"
        # the call waiting for a person is pinned to the sandbox file it named
        assert entry["arguments"]["script"] == TRAIN
        assert entry["arguments"]["script_source"] == "sandbox:train.py"
        llm.push(
            text("Submitted; I'll report back when it finishes."),
            tool_calls(
                call("hf_jobs", {**job_args, "script": TRAIN, "dependencies": ["tinytok"]}),
                text="The job failed: the Hub image lacks our local tinytok package "
                "(ModuleNotFoundError). I propose resubmitting with it as a dependency.",
            ),
        )
        res = await eng.manager.resolve_approvals(
            "s",
            [
                ToolApproval(
                    tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"]
                )
            ],
            decided_by="U_REQ",
        )
        assert res.ok
        finished = await eng.events.wait_for("job_finished", "s")
        assert finished.data["stage"] == "ERROR"
        # woken with the log tail: the traceback reached the model's request
        second_card = await eng.events.wait_for("approval_required", "s", count=2)
        woken = [r for r in llm.requests if "[SYSTEM: HF job" in last_user_text(r)]
        assert woken, "the agent was woken by the job's outcome"
        note = last_user_text(woken[0])
        assert "ModuleNotFoundError: No module named 'tinytok'" in note and "ERROR" in note
        # the proposed fix is a new call that waits for a person, nothing ran unasked
        fix = second_card.data["tools"][0]
        assert fix["tool"] == "hf_jobs" and fix["arguments"]["dependencies"] == ["tinytok"]
        assert len(hub.jobs.jobs) == 1
        await watcher.close()
    await sandboxes.close()
    assert not [r for r in hub.repos.all("space") if r.repo_id.startswith("alice/sandbox-")]
