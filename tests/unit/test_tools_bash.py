"""``bash`` inside its bubblewrap sandbox: runs in the workspace with a minimal environment,
output capped, and everything it started killed on timeout, interrupt and cleanup.

Processes inside the sandbox live in their own PID namespace, so the tests find them from the
outside by a unique argument on their command line and wait on pidfds for them to exit.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid

import pytest

from agent_core.tools import bash_tool
from tests.tool_harness import make_config, make_harness


def sandbox_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    try:
        asyncio.run(bash_tool.require_sandbox("bwrap"))
    except bash_tool.SandboxUnavailable:
        return False
    return True


needs_sandbox = pytest.mark.skipif(
    not sandbox_works(), reason="bubblewrap missing or cannot build namespaces on this host"
)


@pytest.fixture
def h(tmp_path):
    return make_harness(tmp_path / "state", config=make_config(bash_enabled=True))


def pids_with_arg(marker: str) -> list[int]:
    """Host pids of processes whose command line has ``marker`` as an argument."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        if marker.encode() in args:
            found.append(int(entry))
    return found


async def all_exit(pids: list[int], timeout: float = 10.0) -> bool:
    """Wait (on pidfds, no polling) until every pid has exited; False on timeout."""
    loop = asyncio.get_running_loop()
    waits = []
    fds = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        fds.append(fd)
        done = loop.create_future()
        loop.add_reader(fd, lambda f=done: f.done() or f.set_result(None))
        waits.append(done)
    try:
        await asyncio.wait_for(asyncio.gather(*waits), timeout)
        return True
    except TimeoutError:
        return False
    finally:
        for fd in fds:
            loop.remove_reader(fd)
            os.close(fd)


def sleeper() -> str:
    """A ``sleep`` duration unique to this test, so its processes can be found from outside."""
    return f"3600.{uuid.uuid4().int % 10**9:09d}"


@needs_sandbox
async def test_bash_runs_in_workspace_with_minimal_env(h, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_supersecretvalue1234567890")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value-123")
    text, ok = await bash_tool.bash_handler(
        {"command": "pwd; echo HOME=$HOME; echo TOK=${HF_TOKEN:-none} ${SLACK_BOT_TOKEN:-none}"},
        h.ctx,
    )
    assert ok, text
    root = os.path.realpath(h.ctx.workspace())
    assert text.splitlines()[0] == root
    assert f"HOME={root}" in text
    assert "TOK=none none" in text
    assert "bash:call-1" in h.cleanups


@needs_sandbox
async def test_bash_writes_land_in_the_workspace(h):
    text, ok = await bash_tool.bash_handler({"command": "echo made > out.txt"}, h.ctx)
    assert ok, text
    assert (h.ctx.workspace() / "out.txt").read_text() == "made\n"


@needs_sandbox
async def test_bash_nonzero_exit_and_output_cap(h):
    text, ok = await bash_tool.bash_handler({"command": "echo oops >&2; exit 3"}, h.ctx)
    assert not ok and "oops" in text and "exit code 3" in text
    text, ok = await bash_tool.bash_handler(
        {"command": "python3 -c \"print('x' * 200000)\""}, h.ctx
    )
    assert ok and len(text) < bash_tool.BASH_OUTPUT_CAP + 200 and "characters cut" in text


@needs_sandbox
async def test_bash_killed_on_timeout(h):
    nap = sleeper()
    text, ok = await bash_tool.bash_handler(
        {"command": f"sleep {nap} & sleep {nap}; wait", "timeout": 2}, h.ctx
    )
    assert not ok and "timed out" in text
    assert await all_exit(pids_with_arg(nap))


async def started(h, nap: str, children: int) -> asyncio.Task:
    """Start bash_handler with ``children`` background sleepers and block (no polling) until
    each has told us, from inside its own process, that it runs (each writes to a FIFO)."""
    fifos = [f"ready{i}" for i in range(children)]
    for name in fifos:
        os.mkfifo(h.ctx.workspace() / name)
    code = "import sys, signal; open(sys.argv[1], 'w').write('up'); signal.pause()"
    command = " ".join(f'python3 -c "{code}" {name} {nap} &' for name in fifos) + " wait"
    task = asyncio.create_task(bash_tool.bash_handler({"command": command, "timeout": 600}, h.ctx))
    for name in fifos:
        await asyncio.wait_for(asyncio.to_thread((h.ctx.workspace() / name).read_text), 10)
    return task


@needs_sandbox
async def test_bash_killed_on_interrupt(h):
    nap = sleeper()
    task = await started(h, nap, 2)
    pids = pids_with_arg(nap)
    assert len(pids) == 2
    h.ctx.cancel_event.set()
    text, ok = await asyncio.wait_for(task, 10)
    assert not ok and "interrupted" in text
    assert await all_exit(pids)


@needs_sandbox
async def test_bash_killed_when_task_cancelled_and_cleanup_hook(h):
    nap = sleeper()
    task = await started(h, nap, 1)
    pids = pids_with_arg(nap)
    assert pids
    await h.cleanups["bash:call-1"]()  # what the loop runs on interrupt cleanup
    assert await all_exit(pids)
    text, ok = await asyncio.wait_for(task, 10)
    assert not ok


async def test_bash_refuses_to_run_without_a_sandbox(tmp_path):
    config = make_config(bash_enabled=True, bash_sandbox_command="/nonexistent/bwrap")
    h = make_harness(tmp_path / "state", config=config)
    text, ok = await bash_tool.bash_handler({"command": "echo ran > ran.txt"}, h.ctx)
    assert not ok and "bubblewrap" in text
    assert not (h.ctx.workspace() / "ran.txt").exists()
