"""The sandbox tools end to end: a session's tool calls run in a real sandbox server.

Backends: the local subprocess (default here) and a private Space on the fake Hub. The
harness builds a real ToolContext; the tools talk HTTP to the sandbox server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from agent_core.sandbox.local import LocalBackend
from agent_core.sandbox.manager import SandboxManager
from agent_core.sandbox.spaces import SpaceBackend
from agent_core.tools import sandbox_tools, workspace
from agent_core.tools.base import Services
from agent_core.tools.catalog import build_tools
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub
from tests.tool_harness import make_config, make_harness

PKG_SETUP = """\
from setuptools import setup
setup(name="tinytok", version="0.1", py_modules=["tinytok"])
"""


@pytest.fixture
def sandbox_root():
    root = Path(tempfile.mkdtemp(prefix="mlintern-sbt-"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def local_manager(sandbox_root):
    manager = SandboxManager(LocalBackend(sandbox_root))
    yield manager
    await manager.close()


def by_name(specs):
    return {s.name: s for s in specs}


async def test_tool_list_switches_to_sandbox_tools(tmp_path, local_manager):
    plain = Services(config=make_config(), state_dir=tmp_path)
    assert "sandbox_create" not in by_name(sandbox_tools.tools(plain))
    assert {"read", "write", "edit"} <= set(by_name(workspace.tools(plain)))
    boxed = Services(config=make_config(), state_dir=tmp_path, sandboxes=local_manager)
    tools = by_name(sandbox_tools.tools(boxed))
    assert {"sandbox_create", "bash", "read", "write", "edit"} == set(tools)
    assert workspace.tools(boxed) == []
    names = [s.name for s in build_tools(boxed)]
    for name in ("sandbox_create", "bash", "read", "write", "edit"):
        assert names.count(name) == 1, name


async def test_install_a_package_and_run_a_script_in_the_sandbox(tmp_path, local_manager):
    services = Services(config=make_config(), state_dir=tmp_path, sandboxes=local_manager)
    h = make_harness(tmp_path, services=services)
    # a file the user attached in Slack sits in the session workspace: it is synced in
    (h.ctx.workspace() / "train.csv").write_text("text,label\ngood,1\nbad,0\n")
    out, ok = await sandbox_tools.write_handler(
        {"path": "tinytok/tinytok.py", "content": "def count(s):\n    return len(s.split())\n"},
        h.ctx,
    )
    assert ok, out
    await sandbox_tools.write_handler({"path": "tinytok/setup.py", "content": PKG_SETUP}, h.ctx)
    out, ok = await sandbox_tools.bash_handler(
        {"command": "pip install -q --no-index --no-build-isolation ./tinytok && echo installed"},
        h.ctx,
    )
    assert ok and out.endswith("installed"), out
    script = "import csv, tinytok\nrows = list(csv.DictReader(open('train.csv')))\n"
    script += "print(len(rows), tinytok.count('a b c'))\n"
    await sandbox_tools.write_handler({"path": "smoke.py", "content": script}, h.ctx)
    out, ok = await sandbox_tools.bash_handler({"command": "python smoke.py"}, h.ctx)
    assert (out, ok) == ("2 3", True)
    assert [p["log"] for p in h.logs("sandbox")][0].startswith("Creating a cpu-basic sandbox")
    # the model's files never appear on the bot's host workspace
    assert not (h.ctx.workspace() / "smoke.py").exists()


async def test_gpu_sandbox_needs_approval_with_price():
    assert sandbox_tools.create_approval({}, None).required is False
    req = sandbox_tools.create_approval({"hardware": "a10g-small"}, None)
    assert req.required and req.billable and req.approval_class == "gpu_job"
    assert "a10g-small sandbox (~$1.00/h" in req.reason


async def test_hardware_cannot_change_in_place(tmp_path, local_manager):
    services = Services(config=make_config(), state_dir=tmp_path, sandboxes=local_manager)
    h = make_harness(tmp_path, services=services)
    out, ok = await sandbox_tools.create_handler({}, h.ctx)
    assert ok and out.startswith("Sandbox created: sandbox-")
    out, ok = await sandbox_tools.create_handler({"hardware": "cpu-basic"}, h.ctx)
    assert ok and out.startswith("Sandbox already active")
    out, ok = await sandbox_tools.create_handler({"hardware": "a10g-small"}, h.ctx)
    assert not ok and "hf_space backend" in out  # local cannot do GPUs: said, not crashed
    out, ok = await sandbox_tools.create_handler({"hardware": "quantum-1"}, h.ctx)
    assert not ok and "unknown hardware" in out


async def test_sandbox_tools_on_a_private_space(tmp_path):
    async with FakeHub() as hub:
        backend = SpaceBackend(
            HfApi(endpoint=hub.url, token=ALICE_TOKEN),
            ALICE_TOKEN,
            url_template=f"{hub.url}/spaces-proxy/{{owner}}/{{name}}",
            poll_s=0.02,
        )
        manager = SandboxManager(backend)
        services = Services(config=make_config(), state_dir=tmp_path, sandboxes=manager)
        h = make_harness(tmp_path, services=services)
        out, ok = await sandbox_tools.bash_handler({"command": "pwd"}, h.ctx)
        app = hub.spaces.apps[manager.active("sess-1").id]
        assert (out, ok) == (str(Path(app.workdir.name) / "app"), True)
        await manager.close()
        assert manager.active("sess-1") is None
        assert not [r for r in hub.repos.all("space") if r.repo_id.startswith("alice/sandbox-")]


async def test_idle_sandbox_is_deleted(tmp_path, sandbox_root):
    manager = SandboxManager(LocalBackend(sandbox_root), idle_timeout_s=60)
    h = make_harness(
        tmp_path, services=Services(config=make_config(), state_dir=tmp_path, sandboxes=manager)
    )
    await sandbox_tools.bash_handler({"command": "true"}, h.ctx)
    assert await manager.reap_idle() == []
    assert await manager.reap_idle(now=time.monotonic() + 61) == ["sess-1"]
    assert manager.active("sess-1") is None
    await manager.close()


async def test_a_file_shared_after_the_sandbox_exists_is_copied_in(tmp_path, local_manager):
    services = Services(config=make_config(), state_dir=tmp_path, sandboxes=local_manager)
    h = make_harness(tmp_path, services=services)
    await sandbox_tools.bash_handler({"command": "true"}, h.ctx)  # the sandbox now exists
    (h.ctx.workspace() / "later.csv").write_text("a,b\n1,2\n")  # shared in Slack afterwards
    out, ok = await sandbox_tools.bash_handler({"command": "cat later.csv"}, h.ctx)
    assert (out, ok) == ("a,b\n1,2", True)
