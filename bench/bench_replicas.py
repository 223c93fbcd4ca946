"""Replicas benchmark: several bot processes on one Postgres database (issue 19).

    python -m bench.bench_replicas [--quick] [--out bench/results/replicas.json]

Two figures, each on a fresh stack of fakes (``bench/stack.py``) and a fresh schema of one
private Postgres cluster (``tests/postgres_harness.py``, Debian's ``postgresql`` binaries):

``burst``   the same burst of plain mentions (200; 50 with ``--quick``), each in its own
            channel from its own person, against 1, 2 and 3 replicas. The emulator spreads the
            Socket Mode envelopes over the replicas' connections as Slack does. Reported:
            answers per second over the burst (first mention sent → last answer posted),
            mention → answer p50/p95, how the envelopes were spread, CPU seconds per replica,
            and the exactly-once audit of every thread (missing / duplicated / foreign).
``resume``  three replicas; ten sessions held mid-turn on one of them (their mentions sent to
            its connection, the LLM slow to answer); ``kill -9`` it; time from the kill to
            each session's first post by a survivor (the "restarted while working on this"
            notice once the lease expired and another replica took the session over), with
            ``replicas.lease_ttl_s`` at its default and at 2 s.

The LLM is the bench's instant one (``bench/llm_server.py``), so the figures are the bots'
own cost. On a 2-core machine three replicas share the cores with the emulator, the LLM
server, Postgres and this driver: more replicas add availability, not throughput, here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_core.config import default_config_dict  # noqa: E402
from agent_core.store import Store  # noqa: E402
from bench.bench_bot import (  # noqa: E402
    _burst,
    _cross_talk,
    new_channel,
    new_token,
    wait_text,
)
from bench.procs import Proc, install_signal_exit  # noqa: E402
from bench.stack import Stack, now, open_stack  # noqa: E402
from bench.stats import summary  # noqa: E402
from tests.postgres_harness import PostgresCluster, start_cluster  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# A burst is many people at once: the per-person cap on working sessions must not refuse it.
BASE_CONFIG: dict[str, Any] = {"max_active_sessions_per_user": 1000}
RESTARTED = "restarted while working on this"
SMALL_TTL_S = 2.0
HELD_ON_VICTIM = 10
BUDGET_S = {"burst": 150.0, "resume": 120.0}

Row = tuple[str, str, str]


def _cpu_s(proc: Proc) -> float | None:
    import psutil

    try:
        t = psutil.Process(proc.pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system


async def start_replicas(
    stack: Stack, k: int, db_url: str, config: dict[str, Any], label: str
) -> list[tuple[Proc, int]]:
    """``k`` bots on one database, one after another; each with its connection's number.
    Their replica ids are the default ``<hostname>-<pid>``, distinct per process."""
    out = []
    for i in range(1, k + 1):
        proc, _ = await stack.start_bot(f"{label}-r{i}", config, db_path=db_url)  # type: ignore[arg-type]
        out.append((proc, (await stack.ctl.stats())["connections_opened"]))
    return out


async def scenario_burst(
    exits: AsyncExitStack, dirs: dict[str, Path], cluster: PostgresCluster, k: int, n: int
) -> dict[str, Any]:
    stack = await open_stack(exits, dirs["logs"] / f"burst-{k}", dirs["work"] / f"burst-{k}")
    db_url = await cluster.create_database()
    bots = await start_replicas(stack, k, db_url, BASE_CONFIG, f"burst{k}")
    await _burst(stack, 3 * k)  # warm-up: round robin gives every replica three turns
    before = len(await stack.ctl.deliveries())
    cpu0 = [_cpu_s(p) for p, _ in bots]
    turns = await _burst(stack, n)
    cpu1 = [_cpu_s(p) for p, _ in bots]
    deliveries = [d for d in (await stack.ctl.deliveries())[before:] if d["type"] == "events_api"]
    answered = [t for t in turns if "total_s" in t]
    span = (
        (max(t["answered_at"] for t in answered) - min(t["sent_at"] for t in turns))
        if answered
        else None
    )
    spread = Counter(d["connection"] for d in deliveries if d["retry_attempt"] == 0)
    return {
        "replicas": k,
        "mentions": n,
        "answered": len(answered),
        "burst_s": span,
        "answers_per_s": len(answered) / span if span else None,
        "mention_to_answer_ms": summary(t["total_s"] for t in answered),
        "ack_ms": summary(t["ack_s"] for t in turns),
        "envelopes_per_replica": [spread.get(conn, 0) for _, conn in bots],
        "redeliveries": sum(1 for d in deliveries if d["retry_attempt"] > 0),
        "cpu_s_per_replica": [
            round(b - a, 2) if a is not None and b is not None else None
            for a, b in zip(cpu0, cpu1, strict=True)
        ],
        "audit": await _cross_talk(stack, turns),
    }


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = now() + timeout
    while not await check():
        if now() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f}s")
        await asyncio.sleep(0.05)


async def scenario_resume(
    exits: AsyncExitStack, dirs: dict[str, Path], cluster: PostgresCluster, ttl: float | None
) -> dict[str, Any]:
    default_ttl = float(default_config_dict()["replicas"]["lease_ttl_s"])
    lease_ttl = ttl or default_ttl
    label = f"resume-ttl{lease_ttl:g}"
    config = dict(BASE_CONFIG)
    if ttl is not None:
        config["replicas"] = {"lease_ttl_s": ttl, "renew_every_s": ttl / 4}
    stack = await open_stack(exits, dirs["logs"] / label, dirs["work"] / label)
    db_url = await cluster.create_database()
    bots = await start_replicas(stack, 3, db_url, config, label)
    await _burst(stack, 9)  # warm-up
    victim, victim_conn = bots[0]

    async def held_mention() -> dict[str, Any]:
        tok, channel = new_token(), new_channel()
        text = f"bench kind=plain tok={tok} delay_ms=60000"  # the LLM answers in a minute
        resp = await stack.ctl.mention(
            text, channel, user=f"U{tok[2:].upper()}", connection=victim_conn
        )
        return {"kind": "plain", "tok": tok, "channel": channel, "ts": resp["ts"]}

    held = list(await asyncio.gather(*(held_mention() for _ in range(HELD_ON_VICTIM))))
    store = await Store.open(db_url)
    exits.push_async_callback(store.close)

    async def all_running() -> bool:
        row = await store.fetchone("SELECT COUNT(*) FROM ops WHERE status='running'")
        return bool(row) and int(row[0]) >= HELD_ON_VICTIM

    await _eventually(all_running, 30.0, "held turns running on the victim")
    killed_at = now()
    await victim.kill9()
    waits = await asyncio.gather(
        *(wait_text(stack, t, RESTARTED, "resumed", lease_ttl + 60.0) for t in held),
        return_exceptions=True,
    )
    resumed = [t["resumed_at"] - killed_at for t in held if "resumed_at" in t]
    copies = [t.get("resumed_copies", 0) for t in held]
    return {
        "lease_ttl_s": lease_ttl,
        "renew_every_s": config.get("replicas", {}).get(
            "renew_every_s", default_config_dict()["replicas"]["renew_every_s"]
        ),
        "sessions_on_killed_replica": HELD_ON_VICTIM,
        "resumed": len(resumed),
        "not_resumed": sum(1 for w in waits if isinstance(w, BaseException)),
        "notices_not_exactly_once": sum(1 for c in copies if c != 1),
        "kill_to_resumed_s": summary(resumed, scale=1.0),
    }


async def run(quick: bool) -> dict[str, Any]:
    n = 50 if quick else 200
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dirs = {
        "logs": RESULTS / "logs" / stamp / "replicas",
        "work": Path(tempfile.mkdtemp(prefix="ml-intern-bench-replicas-")),
    }
    results: dict[str, Any] = {
        "quick": quick,
        "cpus": os.cpu_count(),
        "loadavg_start": tuple(round(x, 2) for x in os.getloadavg()),
        "burst": [],
        "resume": [],
    }
    cluster = await asyncio.to_thread(start_cluster)
    try:
        plans: list[tuple[str, Any]] = [("burst", k) for k in (1, 2, 3)]
        plans += [("resume", SMALL_TTL_S)] + ([] if quick else [("resume", None)])
        for kind, arg in plans:
            t0 = now()
            print(f"  replicas {kind} {arg}", file=sys.stderr, flush=True)
            try:
                async with AsyncExitStack() as exits, asyncio.timeout(BUDGET_S[kind]):
                    if kind == "burst":
                        figure = await scenario_burst(exits, dirs, cluster, arg, n)
                    else:
                        figure = await scenario_resume(exits, dirs, cluster, arg)
            except Exception as exc:  # recorded; the other scenarios still run
                figure = {"error": f"{type(exc).__name__}: {exc}", "arg": arg}
            figure["elapsed_s"] = now() - t0
            results[kind].append(figure)
    finally:
        await asyncio.to_thread(cluster.stop)
    results["loadavg_end"] = tuple(round(x, 2) for x in os.getloadavg())
    return results


def report_rows(r: dict[str, Any] | None) -> list[Row]:
    """The replicas rows of ``bench/report.py``'s table."""
    if not r:
        return []
    sec = "Replicas (Postgres, bench_replicas)"
    if "error" in r:
        return [(sec, "error", str(r["error"]))]
    out: list[Row] = []
    for b in r.get("burst", []):
        if "error" in b:
            out.append((sec, f"burst with {b.get('arg')} replica(s)", f"error: {b['error']}"))
            continue
        lat = b["mention_to_answer_ms"]
        audit = b["audit"]
        rate = b["answers_per_s"]
        out.append(
            (
                sec,
                f"{b['mentions']}-mention burst, {b['replicas']} replica(s): answers/s; "
                "mention → answer p50 / p95; envelopes per replica; missing / duplicated",
                f"{'–' if rate is None else f'{rate:.1f}'}/s; "
                f"{lat.get('p50', float('nan')):.0f} / {lat.get('p95', float('nan')):.0f} ms; "
                f"{b['envelopes_per_replica']}; {audit['missing']} / {audit['duplicated']}",
            )
        )
    for s in r.get("resume", []):
        if "error" in s:
            out.append((sec, f"resume after kill -9 (ttl {s.get('arg')})", f"error: {s['error']}"))
            continue
        k = s["kill_to_resumed_s"]
        out.append(
            (
                sec,
                f"kill -9 → its {s['sessions_on_killed_replica']} sessions resumed elsewhere, "
                f"lease_ttl_s {s['lease_ttl_s']:g} (p50 / max)",
                f"{k.get('p50', float('nan')):.1f} / {k.get('max', float('nan')):.1f} s "
                f"({s['resumed']} resumed, {s['notices_not_exactly_once']} not exactly once)",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 50-mention burst, short TTL only")
    parser.add_argument("--out", default=str(RESULTS / "replicas.json"))
    args = parser.parse_args(argv)

    async def go() -> dict[str, Any]:
        task = asyncio.current_task()
        assert task is not None
        install_signal_exit(asyncio.get_running_loop(), task)
        return await run(args.quick)

    try:
        results = asyncio.run(go())
    except asyncio.CancelledError:
        print("interrupted; every child process was stopped", file=sys.stderr)
        return 130
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    for _section, measure, value in report_rows(results):
        print(f"{measure}: {value}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
