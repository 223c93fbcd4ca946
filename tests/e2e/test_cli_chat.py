"""The terminal entry point drives a real session through the installed console script."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes.fake_llm import FakeLLM, call, text, tool_calls

SCRIPT = Path(sys.executable).parent / "ml-intern-slack"


async def _run(args: list[str], llm: FakeLLM, tmp: Path) -> tuple[int, str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "ML_INTERN_MODEL": "openai/fake",
        "ML_INTERN_DB": str(tmp / "state.db"),
        "OPENAI_API_BASE": llm.base_url,
        "OPENAI_API_KEY": "sk-fake",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        env=env,
        cwd=tmp,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode(), err.decode()


async def test_chat_prints_events_and_refuses_gated_calls_with_no(tmp_path: Path) -> None:
    job = {"operation": "run", "hardware_flavor": "a100-large", "script": "print(1)"}
    async with FakeLLM() as llm:
        llm.push(
            tool_calls(
                call(
                    "plan_tool", {"todos": [{"id": "1", "content": "train", "status": "completed"}]}
                )
            ),
            tool_calls(call("hf_jobs", job)),
            text("Understood, not running it."),
        )
        code, out, err = await _run(["chat", "train something", "--no"], llm, tmp_path)
    assert code == 0, err
    assert "[completed] 1. train" in out
    assert "Understood, not running it." in out and "turn complete" in out
    tool_msg = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"][-1]
    assert "rejected" in tool_msg["content"]


async def test_chat_exits_nonzero_on_llm_failure(tmp_path: Path) -> None:
    async with FakeLLM() as llm:
        from tests.fakes.fake_llm import error

        llm.push(error(status=401, message="bad key"))
        code, out, _ = await _run(["chat", "hi"], llm, tmp_path)
    assert code == 1 and "ERROR:" in out and "credentials" in out
