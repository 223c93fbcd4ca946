"""Workspace tools (read/write/edit, and hf_jobs reading a workspace script) must stay inside
the session's workspace and its quota, whatever an approved command or the model planted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from agent_core.tools import workspace
from tests.tool_harness import make_config, make_harness


@pytest.fixture
def h(tmp_path):
    return make_harness(tmp_path / "state", config=make_config())


async def test_hard_link_planted_by_approved_command_reads_file_outside_workspace(h, tmp_path):
    outside = tmp_path / "bot-secrets.env"
    outside.write_text("HF_TOKEN=hf_outside_the_workspace_0123456789abcdef\n")
    os.link(outside, h.ctx.workspace() / "notes.txt")  # what `ln ../../bot-secrets.env` did
    text, ok = await workspace.read_handler({"path": "notes.txt"}, h.ctx)
    assert not ok and "hard link" in text
    assert "hf_outside" not in text
    text, ok = await workspace.edit_handler(
        {"path": "notes.txt", "old_str": "HF_TOKEN", "new_str": "X"}, h.ctx
    )
    assert not ok
    assert "HF_TOKEN=hf_outside" in outside.read_text()


async def test_hard_linked_script_is_not_submitted_by_hf_jobs(h, tmp_path):
    from agent_core.hub import HubError
    from agent_core.tools.job_command import _resolve_script

    outside = tmp_path / "private.py"
    outside.write_text("print('private code of another user')\n")
    os.link(outside, h.ctx.workspace() / "train.py")
    with pytest.raises(HubError, match="hard link"):
        _resolve_script(h.ctx, {"script": "train.py"})


@pytest.mark.parametrize("target", ["/proc/self/environ", "/proc/self/root", "/proc/1/cwd"])
async def test_symlink_to_proc_reads_process_environment(h, target):
    os.symlink(target, h.ctx.workspace() / "env")
    text, ok = await workspace.read_handler({"path": "env"}, h.ctx)
    assert not ok
    text, ok = await workspace.read_handler({"path": "env/etc/passwd"}, h.ctx)
    assert not ok and "root:" not in text


async def test_fifo_in_workspace_hangs_read(h):
    fifo = h.ctx.workspace() / "pipe"
    os.mkfifo(fifo)
    try:
        text, ok = await asyncio.wait_for(workspace.read_handler({"path": "pipe"}, h.ctx), 10)
    except TimeoutError:
        text, ok = "read blocked on the FIFO", True
    finally:  # release a reader stuck in open() so the worker thread ends
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert not ok and "not a regular file" in text


async def test_edit_replace_all_grows_file_past_write_cap(h):
    await workspace.write_handler({"path": "big.txt", "content": "ab\n" * 100_000}, h.ctx)
    text, ok = await workspace.edit_handler(
        {"path": "big.txt", "old_str": "ab", "new_str": "x" * 40, "replace_all": True}, h.ctx
    )
    assert not ok and "limit" in text
    size = (h.ctx.workspace() / "big.txt").stat().st_size
    assert size == 300_000


async def test_many_writes_fill_disk_past_workspace_quota(tmp_path):
    h = make_harness(tmp_path / "state", config=make_config(workspace_quota_bytes=5_000_000))
    chunk = "y" * 1_900_000
    results = [
        await workspace.write_handler({"path": f"f{i}.txt", "content": chunk}, h.ctx)
        for i in range(4)
    ]
    assert [ok for _, ok in results] == [True, True, False, False]
    assert "quota" in results[2][0]
    used = sum(p.stat().st_size for p in Path(h.ctx.workspace()).iterdir())
    assert used <= 5_000_000
    # overwriting a file in place is measured without its old size
    text, ok = await workspace.read_handler({"path": "f0.txt"}, h.ctx)
    text, ok = await workspace.write_handler({"path": "f0.txt", "content": chunk}, h.ctx)
    assert ok, text
