"""Where the bot's CPU goes per turn: cProfile of the real bot process over a batch of turns.

    python -m bench.profile_bot [--turns 100] [--kind plain|tools] [--top 25] [--thread N]

Same stack as ``bench_bot`` (Slack emulator, bench LLM, the bot's deployed environment), but
the bot runs through this module's ``--serve`` mode: ``bot.cli.main`` with SIGUSR1 starting a
cProfile of the event-loop thread and SIGUSR2 writing it out. The driver warms the bot up
(imports, first calls), profiles ``--turns`` sequential turns only, and prints the functions
with the most own and cumulative time in milliseconds **per turn**. cProfile sees the event
loop's thread — the one the bot's latency depends on; SQLite's worker thread is not in it.
``--thread N``: every turn is in one thread, and N turns run there before the profile starts,
so the profiled turns see a history of 2N messages (what grows with a long conversation).
Not part of ``python -m bench`` (profiling slows the bot ~2×); the README quotes its output.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import signal
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_bot import new_channel, run_turn  # noqa: E402
from bench.long_session import _thread_turn  # noqa: E402
from bench.stack import open_stack  # noqa: E402

WARMUP_TURNS = 3


def serve(out: str) -> None:
    """The bot, with SIGUSR1/SIGUSR2 starting/stopping a profile of the main thread."""
    profiler = cProfile.Profile()
    signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())

    def dump(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR2, dump)
    from bot.cli import main as bot_main

    raise SystemExit(bot_main([]))


async def profile(turns: int, kind: str, work: Path, thread: int = 0) -> Path:
    out = work / "bot.prof"
    async with AsyncExitStack() as exits:
        stack = await open_stack(exits, work / "logs", work / "stack")
        before = (await stack.ctl.stats())["connections_opened"]
        env = stack.bot_env(work / "bot.db", {})
        argv = [sys.executable, "-m", "bench.profile_bot", "--serve", str(out)]
        proc = await stack.pool.spawn("bot-profiled", argv, env=env, cwd=work, ready_prefix=None)
        stack.bots.append(proc)
        await stack.ctl.wait_connected(before + 1, 120.0)
        for _ in range(WARMUP_TURNS):
            await run_turn(stack, kind)
        channel, root = new_channel(), None
        for _ in range(thread):
            root = root or (await _thread_turn(stack, channel, None))["ts"]
            await _thread_turn(stack, channel, root)
        os.kill(proc.pid, signal.SIGUSR1)
        for _ in range(turns):
            if thread:
                await _thread_turn(stack, channel, root)
            else:
                await run_turn(stack, kind)
        os.kill(proc.pid, signal.SIGUSR2)
        for _ in range(200):  # the dump is written by the bot's main thread
            if out.exists():
                break
            await asyncio.sleep(0.05)
        await stack.stop_bot(proc)
    return out


def report(path: Path, turns: int, top: int) -> str:
    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    per_turn = 1000.0 / turns
    rows = []
    for (file, line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).name}:{line}({func})" if line else func
        rows.append((where, tt * per_turn, ct * per_turn))
    lines = [f"cProfile of the bot's event loop over {turns} warm turns, ms per turn (own, cum)"]
    for title, key in (("own time", 1), ("cumulative", 2)):
        lines.append(f"\n-- top {top} by {title} --")
        for where, tt, ct in sorted(rows, key=lambda r: r[key], reverse=True)[:top]:
            lines.append(f"{tt:8.2f} {ct:8.2f}  {where}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--kind", default="plain", choices=("plain", "tools"))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", type=int, default=0, help="turns in one thread first")
    parser.add_argument("--serve", metavar="OUT", help=argparse.SUPPRESS)  # the profiled bot
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        path = asyncio.run(profile(args.turns, args.kind, Path(tmp), args.thread))
        print(report(path, args.turns, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
