"""``bash`` must not reach the bot's secrets: not its environment through ``/proc/$PPID``, not
the files the bot's user can read (a token file in ``$HOME``, the config, the store).

The bot is a real separate process here, started with ``HF_TOKEN`` in its initial environment
(what ``/proc/<pid>/environ`` shows), running the real ``bash`` handler on an approved command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.adversarial.conftest import PLANTED, needs_sandbox

REPO = Path(__file__).resolve().parents[2]

BOT = """
import asyncio, json, sys
from pathlib import Path
try:
    from agent_core.tools.bash_tool import bash_handler
except ImportError:  # the layout before issue 14
    from agent_core.tools.workspace import bash_handler
from tests.tool_harness import make_config, make_harness

async def main():
    h = make_harness(Path(sys.argv[1]), config=make_config(bash_enabled=True))
    return {
        name: await bash_handler({"command": cmd}, h.ctx)
        for name, cmd in json.loads(sys.argv[2]).items()
    }

print(json.dumps(asyncio.run(main())))
"""


def run_bot(tmp_path: Path, commands: dict[str, str], env: dict[str, str]) -> dict[str, list]:
    proc = subprocess.run(
        [sys.executable, "-c", BOT, str(tmp_path / "state"), json.dumps(commands)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def bot_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "HF_TOKEN": PLANTED["hf"],
        "SLACK_BOT_TOKEN": PLANTED["slack_bot"],
        "PYTHONPATH": str(REPO),
    }


@needs_sandbox
def test_bash_reads_bot_token_from_proc_ppid_environ(tmp_path: Path) -> None:
    out = run_bot(
        tmp_path,
        {
            "ppid": "cat /proc/$PPID/environ | tr '\\0' '\\n'",
            "all": "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; echo scanned",
        },
        bot_env(tmp_path),
    )
    for name, (text, _ok) in out.items():
        for secret in (PLANTED["hf"], PLANTED["slack_bot"]):
            assert secret[-20:] not in text, f"{name}: the bot's token is readable from bash"
    assert "scanned" in out["all"][0]


@needs_sandbox
def test_bash_reads_bot_files_outside_workspace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".cache" / "huggingface" / "token").write_text(PLANTED["hf"])
    config = tmp_path / "ml-intern.json"
    config.write_text(json.dumps({"github_token": PLANTED["github_classic"]}))
    out = run_bot(
        tmp_path,
        {
            "token_file": f"cat {home}/.cache/huggingface/token",
            "config": f"cat {config}",
            "listing": f"ls -la {tmp_path} / 2>&1",
            "ws_escape": "cat ../../ml-intern.json; cat $HOME/../../ml-intern.json",
        },
        bot_env(home),
    )
    for name, (text, _ok) in out.items():
        assert PLANTED["hf"][-20:] not in text, name
        assert PLANTED["github_classic"][-20:] not in text, name
    assert "ml-intern.json" not in out["listing"][0]  # the bot's files are not even visible
