"""Engine overhead and idle-session memory, against the scripted LLM on loopback.

    python -m bench.bench_engine [--turns 100] [--sessions 1000]

Per-turn overhead = (submit → turn_complete) − the LLM call's own latency, for a plain answer
and for a turn with two tool calls (three LLM calls). Idle memory = growth of the process's
Python heap (tracemalloc) and RSS after N sessions each ran one turn and went idle.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agent_core.events import UserInput  # noqa: E402
from tests.engine_harness import ORIGIN, run_engine, tool  # noqa: E402
from tests.fakes.fake_llm import FakeLLM, call, text, tool_calls  # noqa: E402


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def _turns(eng, llm: FakeLLM, n: int, with_tools: bool) -> dict[str, float]:
    totals, llm_ms = [], []
    for i in range(n):
        sid = f"{'tools' if with_tools else 'plain'}-{i}"
        if with_tools:
            llm.push(tool_calls(call("echo", {"x": 1}), call("echo", {"x": 2})), text("done"))
        else:
            llm.push(text("Sure — here is the answer.", chunk_size=8))
        before = len(eng.events.of(sid, "llm_call"))
        t0 = time.perf_counter()
        await eng.manager.submit(sid, UserInput(text="hello"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", sid)
        total = (time.perf_counter() - t0) * 1000
        calls = eng.events.of(sid, "llm_call")[before:]
        spent = sum(c.data["latency_ms"] for c in calls)
        totals.append(total)
        llm_ms.append(spent)
    overhead = [t - m for t, m in zip(totals, llm_ms, strict=True)]
    return {
        "turns": n,
        "total_ms_p50": statistics.median(totals),
        "llm_ms_p50": statistics.median(llm_ms),
        "overhead_ms_p50": statistics.median(overhead),
        "overhead_ms_p95": _pct(overhead, 95),
    }


async def _idle_memory(eng, llm: FakeLLM, n: int) -> dict[str, float]:
    llm.default = text("ok")
    for i in range(20):  # warm caches before measuring
        await eng.manager.submit(f"warm-{i}", UserInput(text="hi"), origin=ORIGIN)
    await eng.events.wait_for("turn_complete", f"warm-{19}", timeout=60)
    eng.events.events.clear()
    gc.collect()
    tracemalloc.start()
    heap0, rss0 = tracemalloc.get_traced_memory()[0], _rss_kb()
    batch = 50
    for start in range(0, n, batch):
        ids = [f"idle-{j}" for j in range(start, min(n, start + batch))]
        for sid in ids:
            await eng.manager.submit(sid, UserInput(text="hi"), origin=ORIGIN)
        for sid in ids:
            await eng.events.wait_for("turn_complete", sid, timeout=60)
        eng.events.events.clear()  # the recorder and the fake are the benchmark's, not the engine's
        llm.requests.clear()
    gc.collect()
    heap1, rss1 = tracemalloc.get_traced_memory()[0], _rss_kb()
    tracemalloc.stop()
    return {
        "sessions": n,
        "idle_tasks": len(eng.manager._workers),
        "loaded_sessions_cached": len(eng.manager._loaded),
        "heap_kb_per_session": (heap1 - heap0) / 1024 / n,
        "rss_kb_per_session": (rss1 - rss0) / n,
    }


async def main_async(turns: int, sessions: int) -> dict:
    tmp = Path(tempfile.mkdtemp())
    echo = tool("echo", lambda a, c: (f"echo {a.get('x')}", True))
    async with FakeLLM() as llm:
        async with run_engine(tmp / "bench.db", llm.base_url, tools=[echo]) as eng:
            await _turns(eng, llm, 5, False)  # warm-up: litellm import, first-call costs
            plain = await _turns(eng, llm, turns, False)
            tools = await _turns(eng, llm, turns, True)
            memory = await _idle_memory(eng, llm, sessions)
    return {"plain_turn": plain, "two_tool_turn": tools, "idle_memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--out", default="bench/results/engine.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args.turns, args.sessions))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    p, t, m = result["plain_turn"], result["two_tool_turn"], result["idle_memory"]
    print(f"{'measure':42} {'value':>10}")
    print(f"{'plain turn: total p50 (ms)':42} {p['total_ms_p50']:10.2f}")
    print(f"{'plain turn: LLM p50 (ms)':42} {p['llm_ms_p50']:10.2f}")
    print(
        f"{'plain turn: engine overhead p50 / p95 (ms)':42} {p['overhead_ms_p50']:6.2f} / {p['overhead_ms_p95']:.2f}"
    )
    print(f"{'2-tool turn: total p50 (ms)':42} {t['total_ms_p50']:10.2f}")
    print(f"{'2-tool turn: LLM p50 (ms, 2 calls)':42} {t['llm_ms_p50']:10.2f}")
    print(
        f"{'2-tool turn: engine overhead p50 / p95':42} {t['overhead_ms_p50']:6.2f} / {t['overhead_ms_p95']:.2f}"
    )
    print(f"{'idle sessions':42} {m['sessions']:10d}")
    print(f"{'  worker tasks left':42} {m['idle_tasks']:10d}")
    print(f"{'  heap KB per idle session':42} {m['heap_kb_per_session']:10.2f}")
    print(f"{'  RSS KB per idle session':42} {m['rss_kb_per_session']:10.2f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
