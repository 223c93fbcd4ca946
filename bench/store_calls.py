"""``python -m bench.store_calls``: store statements, writes, commits and round trips per turn.

The real Slack gateway in-process (``tests/slack_harness.py``: Bolt + Socket Mode against the
Slack emulator, the engine against the scripted LLM), the store's own counters
(:mod:`agent_core.store.stats`) read around each turn after everything settled (renderer
drained, sender flushed). Turns: a plain answer in a new thread (a mention), a follow-up in the
same thread, and a turn with two tool calls (three LLM calls). Counts do not depend on machine
load, so before/after figures can be compared across runs. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.fakes.fake_llm import call, text, tool_calls  # noqa: E402
from tests.slack_harness import BotEnv, bot_env, echo_tool  # noqa: E402

WARMUP = 2


async def _turn(
    env: BotEnv, channel: str, words: str, answer: str, thread_ts: str | None = None
) -> str:
    ts, _ = await env.slack.mention(words, channel, thread_ts=thread_ts)
    await env.wait_answer(channel, thread_ts or ts, answer)
    await env.settle()
    return ts


async def _measure(env: BotEnv, n: int, kind: str) -> dict[str, Any]:
    store = env.runtime.store  # type: ignore[union-attr]
    per_turn: list[dict[str, int]] = []
    for i in range(n):
        channel = f"C{kind[:3].upper()}{i:04d}"
        if kind == "tools":
            env.llm.push(
                tool_calls(call("lookup", {"query": "a"}), call("lookup", {"query": "b"})),
                text("Here is the answer.", chunk_size=4),
            )
        else:
            env.llm.push(text("Here is the answer.", chunk_size=4))
        thread = None
        if kind == "follow_up":  # the thread exists; measure its second turn
            thread = await _turn(env, channel, "first", "the answer")
            env.llm.push(text("Here is another answer.", chunk_size=4))
        before = store.stats.snapshot()
        await _turn(env, channel, "go", "another answer" if thread else "the answer", thread)
        per_turn.append(store.stats.since(before))
    return {name: statistics.median(t[name] for t in per_turn) for name in per_turn[0]}


async def main_async(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-store-calls-") as tmp:
        async with bot_env(
            Path(tmp),
            tools=[echo_tool("lookup")],
            slack_settings={"progress_delay_s": 30},
        ) as env:
            for i in range(WARMUP):
                env.llm.push(text("warm answer"))
                await _turn(env, f"CWARM{i}", "warm up", "warm answer")
            return {
                "plain (new thread)": await _measure(env, n, "plain"),
                "follow-up (same thread)": await _measure(env, n, "follow_up"),
                "two tool calls": await _measure(env, n, "tools"),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="turns per kind (the median is shown)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args.n)), indent=2))


if __name__ == "__main__":
    main()
