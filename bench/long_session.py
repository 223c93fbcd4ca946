"""Scenario ``long``: is a turn as cheap at the 100th turn of a thread as at the first?

One warm bot process, one Slack thread, ``turns`` plain turns one after another (instant LLM):
the first mention starts the session, every later one is a mention in its thread, so the
history the bot keeps, persists, renders and sends grows by two messages a turn. The bot's
CPU (psutil) is read around the first ten and the last ten turns; a per-turn cost that grows
with the history shows up as ``last10 / first10`` well above 1. Mention → answer latency of
the same turns is reported next to it.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench.bench_bot import mention, new_channel, run_turn, wait_answer
from bench.stack import Stack, open_stack
from bench.stats import summary

WINDOW = 10


async def _thread_turn(stack: Stack, channel: str, root_ts: str | None) -> dict[str, Any]:
    turn = await mention(stack, "plain", channel, thread_ts=root_ts)
    if root_ts:
        turn["ts"] = root_ts  # the answer is looked for in the thread, not under the mention
    return await wait_answer(stack, turn, 60.0)


async def scenario_long(
    exits: AsyncExitStack, dirs: dict[str, Path], quick: bool
) -> dict[str, Any]:
    turns = 60 if quick else 100
    stack = await open_stack(exits, dirs["logs"] / "long", dirs["work"] / "long")
    proc, _ = await stack.start_bot("bot-long")
    for _ in range(3):  # warm-up in other threads: imports, first-call costs
        await run_turn(stack, "plain")
    channel = new_channel()
    root = await _thread_turn(stack, channel, None)
    done: list[dict[str, Any]] = [root]
    cpu: dict[str, float] = {}
    mark = stack.cpu_seconds()
    while len(done) < turns:
        done.append(await _thread_turn(stack, channel, root["ts"]))
        if len(done) == WINDOW:
            after = stack.cpu_seconds()
            cpu["first"] = (after["bot"] - mark["bot"]) * 1000 / (WINDOW - 1)
        if len(done) == turns - WINDOW:
            mark = stack.cpu_seconds()
    after = stack.cpu_seconds()
    cpu["last"] = (after["bot"] - mark["bot"]) * 1000 / WINDOW
    rss = proc.rss_bytes()
    await stack.stop_bot(proc)
    return {
        "turns": turns,
        "history_messages_at_end": 2 * turns,
        "cpu_ms_per_turn_first10": cpu["first"],
        "cpu_ms_per_turn_last10": cpu["last"],
        "growth": cpu["last"] / cpu["first"] if cpu["first"] else None,
        "answer_ms_first10": summary(t["total_s"] for t in done[1:WINDOW]),
        "answer_ms_last10": summary(t["total_s"] for t in done[-WINDOW:]),
        "rss_mb_end": rss / (1024 * 1024) if rss else None,
    }
