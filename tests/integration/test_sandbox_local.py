"""The sandbox server run for real as a local subprocess: protocol, limits and isolation."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from agent_core.sandbox.client import SandboxClient, SandboxUnavailable
from agent_core.sandbox.handle import SandboxError
from agent_core.sandbox.local import LocalBackend


@pytest.fixture
def sandbox_root():
    """Under the system temp dir: the unprivileged sandbox user must be able to traverse it
    (pytest's tmp_path sits in a 0700 directory)."""
    root = Path(tempfile.mkdtemp(prefix="mlintern-sb-"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def sandbox(sandbox_root: Path):
    backend = LocalBackend(sandbox_root)
    handle = await backend.create("session-1", "cpu-basic")
    client = SandboxClient(handle.url, handle.token)
    try:
        yield backend, handle, client
    finally:
        await client.close()
        await backend.close()


async def test_bash_write_read_edit_round_trip(sandbox):
    _, _, client = sandbox
    wrote = await client.call(
        "write", {"path": "train.py", "content": "def f(x) -> bool:\n    return x > 1\n"}
    )
    assert wrote.ok, wrote
    res = await client.call("bash", {"command": "python -c 'import train; print(train.f(2))'"})
    assert res.as_tool_result() == ("True", True)
    read = await client.call("read", {"path": "train.py"})
    assert read.output.splitlines()[1] == "     2\t    return x > 1"
    edited = await client.call(
        "edit", {"path": "train.py", "old_str": "x > 1", "new_str": "x > 10"}
    )
    assert edited.ok and "1 place" in edited.output
    res = await client.call("bash", {"command": "python -c 'import train; print(train.f(2))'"})
    assert res.output == "False"


async def test_failures_are_reported_not_raised(sandbox):
    _, _, client = sandbox
    res = await client.call("bash", {"command": "echo oops; exit 3"})
    assert res.as_tool_result() == ("oops\n\nERROR: exit code 3", False)
    res = await client.call("bash", {"command": "sleep 30", "timeout": 1})
    assert not res.ok and "timed out after 1s" in res.error
    res = await client.call("read", {"path": "missing.txt"})
    assert not res.ok and "does not exist" in res.error
    await client.call("bash", {"command": "echo data > existing.txt"})
    res = await client.call("write", {"path": "existing.txt", "content": "x"})
    assert not res.ok and "read it first" in res.error


async def test_long_output_is_cut_with_the_full_text_spilled(sandbox):
    _, _, client = sandbox
    res = await client.call("bash", {"command": "seq 1 100000"})
    assert res.ok and len(res.output) < 26_000
    assert res.output.startswith("1\n2\n") and "100000" in res.output
    assert "[full output: /tmp/bash_output_" in res.output


async def test_attack_sandbox_without_its_secret_is_refused(sandbox):
    _, handle, _ = sandbox
    async with httpx.AsyncClient() as http:
        anon = await http.post(f"{handle.url}/api/bash", json={"command": "id"})
        assert anon.status_code == 401
        forged = await http.post(
            f"{handle.url}/api/bash",
            json={"command": "id"},
            headers={"X-Sandbox-Authorization": "Bearer guess"},
        )
        assert forged.status_code == 401
        assert (await http.get(f"{handle.url}/api/health")).status_code == 200
    wrong = SandboxClient(handle.url, "not-the-token")
    with pytest.raises(SandboxUnavailable, match="refused our credentials"):
        await wrong.call("bash", {"command": "id"})
    await wrong.close()


async def test_attack_sandbox_reads_the_bots_secrets(sandbox, monkeypatch):
    _, _, client = sandbox
    res = await client.call("bash", {"command": "env"})
    assert "SANDBOX_API_TOKEN" not in res.output
    assert "HF_TOKEN" not in res.output and "SLACK" not in res.output
    if os.geteuid() != 0:
        pytest.skip("user isolation needs root; the environment check above still ran")
    res = await client.call(
        "bash", {"command": f"cat /proc/{os.getpid()}/environ; cat /proc/1/environ; id -un"}
    )
    assert "Permission denied" in res.output
    assert res.output.strip().endswith("nobody")


async def test_gpu_hardware_is_refused_locally(sandbox_root):
    with pytest.raises(SandboxError, match="hf_space backend"):
        await LocalBackend(sandbox_root).create("s", "a10g-small")


async def test_unreachable_root_is_a_clear_error(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only an isolated (root-started) sandbox checks traversal")
    with pytest.raises(SandboxError, match="cannot reach"):
        await LocalBackend(tmp_path / "sb").create("s", "cpu-basic")


async def test_delete_stops_the_server_and_sweep_removes_leftovers(sandbox_root):
    backend = LocalBackend(sandbox_root / "sb")
    handle = await backend.create("s", "cpu-basic")
    (sandbox_root / "sb" / "sandbox-deadbeef").mkdir()
    assert await backend.sweep_orphans(keep={handle.id}) == ["sandbox-deadbeef"]
    await backend.delete(handle)
    assert not (sandbox_root / "sb" / handle.id).exists()
    client = SandboxClient(handle.url, handle.token)
    assert not await client.health()
    await client.close()
