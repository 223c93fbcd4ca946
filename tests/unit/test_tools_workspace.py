"""Workspace tools: confinement (``..``, absolute paths, symlinks), read/write/edit rules, and
``bash`` (off by default, approval-gated, minimal env, killed on timeout and on interrupt)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pytest  # noqa: E402

from agent_core import policy  # noqa: E402
from agent_core.tools import catalog, workspace  # noqa: E402
from agent_core.tools.base import Services  # noqa: E402
from agent_core.tools.router import ToolRouter  # noqa: E402
from tests.tool_harness import make_config, make_harness  # noqa: E402


@pytest.fixture
def h(tmp_path):
    return make_harness(tmp_path / "state", config=make_config(bash_enabled=True))


def router(config) -> ToolRouter:
    return ToolRouter(workspace.tools(Services(config=config)))


def group_alive(pgid: int) -> bool:
    """True if any non-zombie process is still in the group (PID 1 may not reap orphans)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            return True
    return False


# --------------------------------------------------------------------------- paths


def test_resolve_relative_and_absolute_inside(h):
    root = Path(os.path.realpath(h.ctx.workspace()))
    assert workspace.resolve_workspace_path(h.ctx, "a/b.py") == root / "a" / "b.py"
    assert workspace.resolve_workspace_path(h.ctx, str(root / "x.py")) == root / "x.py"
    assert workspace.resolve_workspace_path(h.ctx, "a/../c.py") == root / "c.py"


@pytest.mark.parametrize("bad", ["../escape.txt", "a/../../x", "/etc/passwd", "/tmp", ""])
def test_resolve_refuses_escapes(h, bad):
    with pytest.raises(ValueError):
        workspace.resolve_workspace_path(h.ctx, bad)


def test_resolve_refuses_symlink_out(h, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s3cret")
    root = h.ctx.workspace()
    (root / "link").symlink_to(outside)
    (root / "filelink").symlink_to(outside / "secret.txt")
    (root / "dangling").symlink_to(outside / "new.txt")
    for p in ("link/secret.txt", "filelink", "dangling", "link"):
        with pytest.raises(ValueError, match="outside"):
            workspace.resolve_workspace_path(h.ctx, p)


async def test_tools_refuse_escapes_with_clear_error(h, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("hello")
    (h.ctx.workspace() / "out").symlink_to(outside)
    r = router(h.ctx.config)
    for name, args in [
        ("read", {"path": "../../outside/f.txt"}),
        ("read", {"path": str(outside / "f.txt")}),
        ("write", {"path": "out/new.txt", "content": "x"}),
        ("edit", {"path": "out/f.txt", "old_str": "hello", "new_str": "bye"}),
        ("bash", {"command": "true", "work_dir": "out"}),
    ]:
        text, ok = await r.call(name, args, h.ctx)
        assert not ok and "outside this session's workspace" in text, (name, text)
    assert not (outside / "new.txt").exists()
    assert (outside / "f.txt").read_text() == "hello"


def test_workspace_is_per_session(tmp_path):
    a = make_harness(tmp_path, session_id="A")
    b = make_harness(tmp_path, session_id="B")
    assert a.ctx.workspace() != b.ctx.workspace()


# --------------------------------------------------------------------------- read / write / edit


async def test_write_read_edit_roundtrip(h):
    r = router(h.ctx.config)
    text, ok = await r.call("write", {"path": "src/train.py", "content": "a = 1\nb = 2\n"}, h.ctx)
    assert ok, text
    text, ok = await r.call("read", {"path": "src/train.py"}, h.ctx)
    assert ok and "     1\ta = 1" in text and "     2\tb = 2" in text
    text, ok = await r.call(
        "edit", {"path": "src/train.py", "old_str": "b = 2", "new_str": "b = 3"}, h.ctx
    )
    assert ok, text
    assert (h.ctx.workspace() / "src/train.py").read_text() == "a = 1\nb = 3\n"
    text, ok = await r.call(
        "edit",
        {"path": "src/train.py", "old_str": "a = 1", "new_str": "\nc = 0", "mode": "append_after"},
        h.ctx,
    )
    assert ok
    assert (h.ctx.workspace() / "src/train.py").read_text() == "a = 1\nc = 0\nb = 3\n"
    text, ok = await r.call("read", {"path": "src"}, h.ctx)
    assert ok and "train.py" in text


async def test_read_pages_long_files(h):
    (h.ctx.workspace() / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    text, ok = await workspace.read_handler({"path": "big.txt", "offset": 10, "limit": 5}, h.ctx)
    assert ok and "    10\tline 10" in text and "    14\tline 14" in text
    assert "line 15" not in text and "offset=15" in text


async def test_read_missing_and_binary(h):
    text, ok = await workspace.read_handler({"path": "nope.txt"}, h.ctx)
    assert not ok and "does not exist" in text
    (h.ctx.workspace() / "w.bin").write_bytes(b"\x00\x01\x02")
    text, ok = await workspace.read_handler({"path": "w.bin"}, h.ctx)
    assert not ok and "binary" in text


async def test_overwrite_and_edit_require_prior_read(h):
    (h.ctx.workspace() / "existing.py").write_text("x = 1\n")
    text, ok = await workspace.write_handler({"path": "existing.py", "content": "y"}, h.ctx)
    assert not ok and "has not been read" in text
    text, ok = await workspace.edit_handler(
        {"path": "existing.py", "old_str": "x", "new_str": "z"}, h.ctx
    )
    assert not ok and "read existing.py first" in text
    # the read set is per session: another session's read does not count
    other = make_harness(h.ctx.services.state_dir, session_id=h.ctx.session_id)
    await workspace.read_handler({"path": "existing.py"}, other.ctx)
    text, ok = await workspace.edit_handler(
        {"path": "existing.py", "old_str": "x", "new_str": "z"}, h.ctx
    )
    assert not ok
    await workspace.read_handler({"path": "existing.py"}, h.ctx)
    text, ok = await workspace.edit_handler(
        {"path": "existing.py", "old_str": "x", "new_str": "z"}, h.ctx
    )
    assert ok and (h.ctx.workspace() / "existing.py").read_text() == "z = 1\n"


async def test_edit_uniqueness_fuzzy_and_replace_all(h):
    f = h.ctx.workspace() / "f.py"
    f.write_text("def a():\n    return 1   \n\nx = 1\nx = 1\n")
    await workspace.read_handler({"path": "f.py"}, h.ctx)
    text, ok = await workspace.edit_handler(
        {"path": "f.py", "old_str": "x = 1", "new_str": "x = 2"}, h.ctx
    )
    assert not ok and "matches 2 places" in text
    text, ok = await workspace.edit_handler(
        {"path": "f.py", "old_str": "x = 1", "new_str": "x = 2", "replace_all": True}, h.ctx
    )
    assert ok and f.read_text().count("x = 2") == 2
    # trailing-whitespace drift is forgiven
    text, ok = await workspace.edit_handler(
        {"path": "f.py", "old_str": "    return 1", "new_str": "    return 5"}, h.ctx
    )
    assert ok, text
    assert "return 5" in f.read_text()
    text, ok = await workspace.edit_handler(
        {"path": "f.py", "old_str": "absent", "new_str": "y"}, h.ctx
    )
    assert not ok and "not found" in text


async def test_write_warns_on_python_problems(h):
    text, ok = await workspace.write_handler(
        {"path": "t.py", "content": "args = TrainingArguments(output_dir='o')\nif x\n"}, h.ctx
    )
    assert ok and "SyntaxError" in text and "push_to_hub" in text


async def test_write_is_atomic_no_temp_left(h):
    await workspace.write_handler({"path": "a.txt", "content": "one"}, h.ctx)
    await workspace.write_handler({"path": "a.txt", "content": "two"}, h.ctx)
    assert sorted(p.name for p in h.ctx.workspace().iterdir()) == ["a.txt"]
    assert (h.ctx.workspace() / "a.txt").read_text() == "two"


def test_read_only_flags():
    specs = {s.name: s for s in workspace.tools(Services(config=make_config(bash_enabled=True)))}
    assert specs["read"].read_only
    assert not specs["write"].read_only and not specs["edit"].read_only
    assert not specs["bash"].read_only


# --------------------------------------------------------------------------- bash


def test_bash_disabled_by_default():
    services = Services(config=make_config())
    assert "bash" not in [s.name for s in workspace.tools(services)]
    assert "bash" not in [s.name for s in catalog.build_tools(services)]
    assert "read" in [s.name for s in catalog.build_tools(services)]


def test_bash_needs_approval_with_command_shown():
    config = make_config(bash_enabled=True)
    spec = next(s for s in workspace.tools(Services(config=config)) if s.name == "bash")
    req = policy.decide("bash", {"command": "ls -la"}, config, {}, "c1", spec=spec)
    assert req is not None and req.required and req.approval_class == policy.BASH
    assert "ls -la" in req.reason
    # YOLO never waves bash through
    yolo = make_config(bash_enabled=True)
    yolo.yolo_mode = True
    req = policy.decide("bash", {"command": "ls"}, yolo, {}, "c2", spec=spec)
    assert req is not None and req.required and req.blocked_reason


async def test_bash_runs_in_workspace_with_minimal_env(h, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_supersecretvalue1234567890")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value-123")
    text, ok = await workspace.bash_handler(
        {"command": "pwd; echo HOME=$HOME; echo TOK=${HF_TOKEN:-none} ${SLACK_BOT_TOKEN:-none}"},
        h.ctx,
    )
    assert ok, text
    root = os.path.realpath(h.ctx.workspace())
    assert text.splitlines()[0] == root
    assert f"HOME={root}" in text
    assert "TOK=none none" in text
    assert "bash:call-1" in h.cleanups


async def test_bash_nonzero_exit_and_output_cap(h):
    text, ok = await workspace.bash_handler({"command": "echo oops >&2; exit 3"}, h.ctx)
    assert not ok and "oops" in text and "exit code 3" in text
    text, ok = await workspace.bash_handler(
        {"command": "python3 -c \"print('x' * 200000)\""}, h.ctx
    )
    assert ok and len(text) < workspace.BASH_OUTPUT_CAP + 200 and "characters cut" in text


async def test_bash_killed_on_timeout(h):
    pidfile = h.ctx.workspace() / "pgid"
    text, ok = await workspace.bash_handler(
        {"command": "echo $$ > pgid; sleep 60 & sleep 60; wait", "timeout": 2}, h.ctx
    )
    assert not ok and "timed out" in text
    pgid = int(pidfile.read_text())
    assert not group_alive(pgid)


async def started_pgid(h, command: str) -> tuple[asyncio.Task, int]:
    """Start bash_handler and block (no polling) until the shell reports its pgid on a FIFO."""
    fifo = h.ctx.workspace() / "ready"
    os.mkfifo(fifo)
    task = asyncio.create_task(
        workspace.bash_handler({"command": f"echo $$ > ready; {command}", "timeout": 600}, h.ctx)
    )
    pgid = int(await asyncio.wait_for(asyncio.to_thread(fifo.read_text), 10))
    return task, pgid


async def test_bash_killed_on_interrupt(h):
    task, pgid = await started_pgid(h, "sleep 60 & sleep 60; wait")
    assert group_alive(pgid)
    h.ctx.cancel_event.set()
    text, ok = await asyncio.wait_for(task, 10)
    assert not ok and "interrupted" in text
    assert not group_alive(pgid)


async def test_bash_killed_when_task_cancelled_and_cleanup_hook(h):
    task, pgid = await started_pgid(h, "sleep 60")
    await h.cleanups["bash:call-1"]()  # what the loop runs on interrupt cleanup
    assert not group_alive(pgid)
    text, ok = await asyncio.wait_for(task, 10)
    assert not ok
