"""``python -m bench``: every benchmark in one bounded run, then a table, JSON and a chart.

    python -m bench                  # full run (< 10 min on 2 cores)
    python -m bench --quick          # smaller counts (~3 min), same figures
    python -m bench --only cold,calls --skip engine,jobs

Steps: the bot benchmarks (``bench/bench_bot.py``: cold, steady, calls, restart, long), then the
engine benchmark (``bench/bench_engine.py``), the JobWatcher benchmark
(``bench/bench_jobs.py``, if present) and the replicas benchmark (``bench/bench_replicas.py``:
1/2/3 bot processes on Postgres) as subprocesses with reduced counts. Each step has its
own time limit; a failed or timed-out step is recorded in the JSON and the table, and the
run goes on. Every process started is stopped before exit (see ``bench/procs.py``).

Outputs (``bench/results/``, gitignored): ``bench.json`` (all figures, raw samples, machine
load), ``latency.png``, ``table.md``, and per-process logs under ``logs/<timestamp>/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import bench_bot, report
from bench.procs import ProcessPool, install_signal_exit, python_argv

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
STEPS = ("cold", "steady", "calls", "restart", "long", "engine", "jobs", "replicas")


def _own_and_system_cpu() -> tuple[float, float]:
    """(CPU seconds of this process and its reaped children, busy CPU seconds of the host)."""
    import psutil

    me = psutil.Process().cpu_times()
    own = me.user + me.system + me.children_user + me.children_system
    sys_t = psutil.cpu_times()
    busy = sum(
        getattr(sys_t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal")
    )
    return own, busy


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


async def _subprocess_step(
    pool: ProcessPool, name: str, module: str, args: list[str], out: Path, timeout: float
) -> dict[str, Any]:
    """Run another benchmark module as a child with a deadline; return its JSON output."""
    if not (REPO / (module.replace(".", "/") + ".py")).exists():
        return {"error": f"{module} not present"}
    out.unlink(missing_ok=True)
    proc = await pool.spawn(
        name, python_argv(module, *args, "--out", str(out)), cwd=REPO, ready_prefix=None
    )
    try:
        rc = await asyncio.wait_for(proc.process.wait(), timeout)
    except TimeoutError:
        await pool.stop(proc)
        return {"error": f"timed out after {timeout:.0f}s (see {proc.log_path})"}
    await pool.stop(proc)
    if rc != 0 or not out.exists():
        return {"error": f"exit code {rc} (see {proc.log_path})"}
    return json.loads(out.read_text())


async def run(steps: list[str], quick: bool) -> dict[str, Any]:
    started = time.monotonic()
    own0, busy0 = _own_and_system_cpu()
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": quick,
        "environment": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "commit": _commit(),
            "loadavg_start": tuple(round(x, 2) for x in os.getloadavg()),
        },
    }
    bot_steps = [s for s in steps if s in bench_bot.SCENARIOS]
    if bot_steps:
        print(f"bot benchmarks: {', '.join(bot_steps)}", file=sys.stderr, flush=True)
        results["bot"] = await bench_bot.run_all(bot_steps, quick, RESULTS)
    log_dir = RESULTS / "logs" / time.strftime("%Y%m%d-%H%M%S")
    async with ProcessPool(log_dir) as pool:
        if "engine" in steps:
            print("engine benchmark", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            args = (
                ["--turns", "20", "--sessions", "100"]
                if quick
                else ["--turns", "50", "--sessions", "300"]
            )
            results["engine"] = await _subprocess_step(
                pool, "bench_engine", "bench.bench_engine", args, RESULTS / "engine.json", 150.0
            )
            results["engine"]["elapsed_s"] = time.monotonic() - t0
        if "jobs" in steps:
            print("jobs benchmark", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            args = ["--jobs", "20", "--finish-jobs", "10"] if quick else []
            results["jobs"] = await _subprocess_step(
                pool, "bench_jobs", "bench.bench_jobs", args, RESULTS / "jobs.json", 120.0
            )
            results["jobs"]["elapsed_s"] = time.monotonic() - t0
        if "replicas" in steps:
            print("replicas benchmark", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            results["replicas"] = await _subprocess_step(
                pool,
                "bench_replicas",
                "bench.bench_replicas",
                ["--quick"] if quick else [],
                RESULTS / "replicas.json",
                300.0,
            )
            results["replicas"]["elapsed_s"] = time.monotonic() - t0
    own1, busy1 = _own_and_system_cpu()
    elapsed = time.monotonic() - started
    cpus = os.cpu_count() or 1
    foreign = max(0.0, (busy1 - busy0) - (own1 - own0))
    results["environment"].update(
        loadavg_end=tuple(round(x, 2) for x in os.getloadavg()),
        bench_cpu_s=own1 - own0,
        foreign_cpu_s=foreign,
        foreign_cpu_share=foreign / (elapsed * cpus) * 100,
    )
    results["elapsed_s"] = elapsed
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, same figures")
    parser.add_argument("--only", default=",".join(STEPS), help=f"comma list of {', '.join(STEPS)}")
    parser.add_argument("--skip", default="", help="comma list of steps to leave out")
    args = parser.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    steps = [s for s in args.only.split(",") if s and s not in skip]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown step(s): {', '.join(unknown)}")

    async def go() -> dict[str, Any]:
        task = asyncio.current_task()
        assert task is not None
        install_signal_exit(asyncio.get_running_loop(), task)
        return await run(steps, args.quick)

    try:
        results = asyncio.run(go())
    except asyncio.CancelledError:
        print("interrupted; every child process was stopped", file=sys.stderr)
        return 130
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(results, indent=1))
    table = report.markdown(results)
    (RESULTS / "table.md").write_text(table + "\n")
    png = report.chart(results, RESULTS / "latency.png")
    print(table)
    print(
        f"\nresults: {RESULTS / 'bench.json'}\nchart:   {png}\ntotal:   {results['elapsed_s']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
