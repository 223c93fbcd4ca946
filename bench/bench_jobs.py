"""JobWatcher load and reporting delay, against the fake Hub on loopback.

    python -m bench.bench_jobs [--jobs 50] [--scale 0.01] [--finish-jobs 20]
    python -m bench.bench_jobs --real --jobs 10 --finish-jobs 10   # default timings, minutes

Two measurements:

1. **Polling load** — requests per job per minute (``inspect`` and log tails) in each phase of a
   job's life: SCHEDULING (first minute), RUNNING while the backoff ramps up (minutes 1–3) and
   RUNNING at steady state (minutes 3–10). ``--scale`` shrinks every configured interval by
   that factor (0.01: a "minute" lasts 0.6 s) so the run takes seconds; rates are reported per
   *minute-equivalent*, i.e. what the same configuration costs against the real Hub.
2. **Finish delay** — from the moment a running job reaches a terminal stage on the Hub to the
   ``job_finished`` event being persisted and delivered. Jobs are first left running long
   enough for polling to reach its slowest cadence (the worst case), then finished at random
   moments. In scaled mode the raw delays are also shown divided by ``--scale`` (the polling
   part scales; fixed overheads of a few ms get inflated, so this is an upper bound).

3. **Thread delay** (``--slack``, on by default when ``bot`` is importable) — the real gateway
   against the Slack emulator (production Slack settings: 1 edit/s per message, 50 edits a
   minute): "train …" mentions go through the approval card to real job cards; when each job
   ends we time the ``job_finished`` event, the card's final edit, and the threaded "your job
   finished" message (posted by the hook proposed in ``bot/jobs/buttons.py``, applied
   here as in its tests). Polling is scaled like phase 1, so the event delay is short; the
   Slack part (event → message) does not depend on polling.

Writes ``bench/results/jobs.json`` (gitignored) and prints a small table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.pop("HF_HUB_OFFLINE", None)

from agent_core.config import Config, deep_merge, default_config_dict  # noqa: E402
from agent_core.hub import HubClient  # noqa: E402
from agent_core.jobs import JobRecord, JobWatcher  # noqa: E402
from agent_core.jobs.schedule import steady_state_requests_per_minute  # noqa: E402
from agent_core.store import Store  # noqa: E402
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub  # noqa: E402

DEFAULTS = {
    "poll_initial_s": 2.0,
    "poll_max_s": 60.0,
    "poll_backoff": 1.5,
    "log_tail_every_s": 30.0,
}


def make_config(scale: float, max_concurrent: int) -> Config:
    jobs = {
        "poll_initial_s": DEFAULTS["poll_initial_s"] * scale,
        "poll_max_s": DEFAULTS["poll_max_s"] * scale,
        "poll_backoff": DEFAULTS["poll_backoff"],
        "log_tail_every_s": DEFAULTS["log_tail_every_s"] * scale,
        "log_tail_idle_s": max(0.02, 1.0 * scale) if scale < 1 else 1.0,
        "log_tail_deadline_s": max(0.2, 5.0 * scale) if scale < 1 else 5.0,
        "stall_warning_s": 900.0 * scale,
        "max_concurrent_polls": max_concurrent,
    }
    base = deep_merge(default_config_dict(), {"model_name": "openai/bench", "jobs": jobs})
    return Config.model_validate(base)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return (
        values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
        if values
        else float("nan")
    )


class Delivered:
    """The watcher's ``emit``: persist like the manager does, then timestamp the delivery."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.finished_at: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.changed = asyncio.Event()

    async def emit(self, session_id: str, type_: str, data: dict[str, Any]) -> None:
        await self.store.append_event(session_id, type_, data)
        self.count[type_] = self.count.get(type_, 0) + 1
        if type_ == "job_finished":
            self.finished_at[data["job_id"]] = time.monotonic()
            self.changed.set()


async def submit_jobs(
    fake: FakeHub, watcher: JobWatcher, n: int, tag: str, submitted: dict[str, float] | None = None
) -> list[str]:
    ids = []
    for i in range(n):
        fake.jobs.script(manual=True)
        job = await asyncio.to_thread(
            watcher.hub.api.run_job,
            image="python:3.12",
            command=["python", "train.py", tag, str(i)],
            flavor="a10g-small",
            namespace="alice",
        )
        await watcher.watch(
            JobRecord(
                job_id=job.id,
                session_id=f"bench-{tag}-{i % 5}",
                namespace="alice",
                flavor="a10g-small",
            )
        )
        ids.append(job.id)
        if submitted is not None:
            submitted[job.id] = time.monotonic()
    return ids


async def log_writer(fake: FakeHub, ids: list[str], every: float, stop: asyncio.Event) -> None:
    """Running jobs print a training line every ``every`` seconds."""
    step = 0
    while not stop.is_set():
        step += 1
        for job_id in ids:
            if fake.jobs.stage(job_id) == "RUNNING":
                fake.jobs.emit_log(
                    job_id, f"{{'loss': {1.0 / step:.4f}, 'step': {step * 10}, 'epoch': 0.1}}"
                )
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass


def rate(
    fake: FakeHub,
    ids: set[str],
    start: float | dict[str, float],
    end: float,
    minute: float,
) -> dict[str, float]:
    """Request rates in [start, end); ``start`` may be per job (each job's own submission)."""
    starts = start if isinstance(start, dict) else dict.fromkeys(ids, start)
    inspects = logs = 0
    for r in list(fake.requests):
        if not r.path.startswith("/api/jobs/alice/"):
            continue
        parts = r.path.split("/")
        if len(parts) < 5 or parts[4] not in ids:
            continue
        if not (starts[parts[4]] <= r.time < end):
            continue
        if r.path.endswith("/logs"):
            logs += 1
        elif len(parts) == 5 and r.method == "GET":
            inspects += 1
    job_minutes = sum(end - starts[j] for j in ids) / minute
    wall = end - min(starts[j] for j in ids)
    return {
        "inspect_per_job_per_min": inspects / job_minutes,
        "logs_per_job_per_min": logs / job_minutes,
        "total_per_job_per_min": (inspects + logs) / job_minutes,
        "total_req_per_s_all_jobs": (inspects + logs) / wall,
    }


async def wait_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)  # benchmark pacing, not a test wait


async def polling_load(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    minute = 60.0 * args.scale
    cfg = make_config(args.scale, args.max_concurrent)
    async with FakeHub() as fake:
        hub = HubClient(endpoint=fake.url, token=ALICE_TOKEN)
        store = await Store.open(workdir / "load.db")
        sink = Delivered(store)
        watcher = JobWatcher(store, cfg, hub, sink.emit)
        await watcher.start()
        submitted: dict[str, float] = {}
        ids = await submit_jobs(fake, watcher, args.jobs, "load", submitted)
        stop = asyncio.Event()
        # a training line per 30 s-equivalent while running
        writer = asyncio.create_task(log_writer(fake, ids, minute / 2, stop))
        # every job spends (at least) its first minute in SCHEDULING
        await wait_until(max(submitted.values()) + 1 * minute)
        for job_id in ids:
            fake.jobs.set_stage(job_id, "RUNNING")
        t_run = time.monotonic()
        await wait_until(t_run + 2 * minute)
        t_steady = time.monotonic()
        await wait_until(t_steady + args.steady_minutes * minute)
        t_end = time.monotonic()
        for job_id in ids:
            fake.jobs.set_stage(job_id, "COMPLETED")
        deadline = time.monotonic() + max(30.0, 3 * minute)
        while len(sink.finished_at) < len(ids) and time.monotonic() < deadline:
            sink.changed.clear()
            try:
                await asyncio.wait_for(sink.changed.wait(), timeout=1.0)
            except TimeoutError:
                pass
        stop.set()
        await writer
        idset = set(ids)
        phases = {
            "scheduling (min 0-1)": rate(fake, idset, submitted, t_run, minute),
            "running, ramp (min 1-3)": rate(fake, idset, t_run, t_steady, minute),
            f"running, steady (min 3-{3 + args.steady_minutes})": rate(
                fake, idset, t_steady, t_end, minute
            ),
        }
        await watcher.close()
        await store.close()
        await hub.aclose()
        return {
            "jobs": args.jobs,
            "scale": args.scale,
            "phases": phases,
            "reported": len(sink.finished_at),
            "duplicates": sink.count.get("job_finished", 0) - len(sink.finished_at),
            "theory_steady_per_job_per_min": steady_state_requests_per_minute(
                DEFAULTS["poll_max_s"], DEFAULTS["log_tail_every_s"]
            ),
        }


async def finish_delay(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    minute = 60.0 * args.scale
    cfg = make_config(args.scale, args.max_concurrent)
    rng = random.Random(7)
    async with FakeHub() as fake:
        hub = HubClient(endpoint=fake.url, token=ALICE_TOKEN)
        store = await Store.open(workdir / "delay.db")
        sink = Delivered(store)
        watcher = JobWatcher(store, cfg, hub, sink.emit)
        await watcher.start()
        ids = await submit_jobs(fake, watcher, args.finish_jobs, "delay")
        for job_id in ids:
            fake.jobs.set_stage(job_id, "RUNNING")
        stop = asyncio.Event()
        writer = asyncio.create_task(log_writer(fake, ids, 0.5 * minute, stop))
        # Let the backoff reach poll_max_s (the worst case for detection), then finish each job
        # at a random moment within one more poll_max_s window.
        ramp = 3 * minute
        t_base = time.monotonic() + ramp
        finish_times = sorted((t_base + rng.uniform(0, cfg.jobs.poll_max_s), j) for j in ids)
        ended_at: dict[str, float] = {}
        for t, job_id in finish_times:
            await wait_until(t)
            fake.jobs.set_stage(job_id, "COMPLETED")
            ended_at[job_id] = time.monotonic()
        deadline = time.monotonic() + cfg.jobs.poll_max_s * 2 + 10
        while len(sink.finished_at) < len(ids) and time.monotonic() < deadline:
            sink.changed.clear()
            try:
                await asyncio.wait_for(sink.changed.wait(), timeout=1.0)
            except TimeoutError:
                pass
        stop.set()
        await writer
        await watcher.close()
        await store.close()
        await hub.aclose()
    delays = [sink.finished_at[j] - ended_at[j] for j in ids if j in sink.finished_at]
    out: dict[str, Any] = {
        "jobs": len(ids),
        "reported": len(delays),
        "delay_s": {
            "p50": statistics.median(delays) if delays else None,
            "p95": pct(delays, 95),
            "max": max(delays) if delays else None,
            "mean": statistics.fmean(delays) if delays else None,
        },
    }
    if args.scale < 1:
        out["delay_real_equivalent_s_upper_bound"] = {
            k: (v / args.scale if v is not None else None) for k, v in out["delay_s"].items()
        }
    return out


def print_table(result: dict[str, Any]) -> None:
    load = result["polling_load"]
    print(
        f"\nPolling load — {load['jobs']} jobs, config scaled ×{load['scale']} (rates per job per minute-equivalent)"
    )
    print(f"{'phase':32} {'inspect':>8} {'logs':>8} {'total':>8} {'all jobs req/s':>15}")
    for phase, r in load["phases"].items():
        real_rps = r["total_req_per_s_all_jobs"] * load["scale"]
        print(
            f"{phase:32} {r['inspect_per_job_per_min']:8.2f} {r['logs_per_job_per_min']:8.2f} "
            f"{r['total_per_job_per_min']:8.2f} {real_rps:15.3f}"
        )
    print(
        f"theory at steady state: {load['theory_steady_per_job_per_min']:.2f} req/job/min; "
        f"reported {load['reported']}/{load['jobs']}, duplicates {load['duplicates']}"
    )
    fin = result["finish_delay"]
    d = fin["delay_s"]
    print(
        f"\nFinish delay (terminal stage on the Hub → job_finished delivered), {fin['reported']}/{fin['jobs']} jobs"
    )
    print(f"  measured:   p50 {d['p50']:.3f}s  p95 {d['p95']:.3f}s  max {d['max']:.3f}s")
    if "delay_real_equivalent_s_upper_bound" in fin:
        e = fin["delay_real_equivalent_s_upper_bound"]
        print(
            f"  ÷ scale:    p50 {e['p50']:.1f}s  p95 {e['p95']:.1f}s  max {e['max']:.1f}s  (default config, upper bound)"
        )
    sl = result.get("thread_delay")
    if sl:
        print(
            f"\nThread delay through the Slack gateway ({sl['jobs']} jobs, polling ×{sl['scale']}), "
            "from the terminal stage on the Hub:"
        )
        for label, key in (
            ("job_finished event", "event"),
            ("card final edit", "card_final_edit"),
            ("mention message", "mention_message"),
        ):
            v = sl[key]
            print(f"  {label:20} p50 {v['p50']:.3f}s  p95 {v['p95']:.3f}s  max {v['max']:.3f}s")
        d = sl["event_to_mention_s"]
        print(
            f"  event → thread message: p50 {d['p50']:.3f}s  max {d['max']:.3f}s "
            "(the Slack part; independent of polling)"
        )


async def thread_delay(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Terminal stage → job_finished → card final edit → threaded mention, through the bot."""
    from agent_core.tools import hf_jobs, plan_tool
    from agent_core.tools.router import ToolRouter
    from tests.fakes.fake_llm import call, text, tool_calls
    from tests.slack_harness import all_text, bot_env

    scale = min(args.scale, 0.05)
    jobs_cfg = make_config(scale, args.max_concurrent).jobs.model_dump()
    slack_settings = {
        "progress_edit_interval_s": 1.0,
        "edits_per_minute": 50.0,
        "progress_delay_s": 0,
    }
    saved_env = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_TOKEN")}
    rows: list[dict[str, float]] = []
    try:
        async with FakeHub() as hub:
            os.environ["HF_ENDPOINT"], os.environ["HF_TOKEN"] = hub.url, ALICE_TOKEN
            async with bot_env(
                workdir,
                slack_settings=slack_settings,
                config_overrides={"jobs": jobs_cfg},
                start=False,
            ) as env:
                env.router = lambda: ToolRouter([*plan_tool.tools(None), *hf_jobs.tools(None)])  # type: ignore[method-assign]
                runtime = await env.start_bot()
                event_at: dict[str, float] = {}

                async def listen(ev: Any) -> None:
                    if ev.type == "job_finished":
                        event_at[ev.data["job_id"]] = time.monotonic()

                runtime.manager.add_listener(listen)
                threads: list[tuple[str, str]] = []
                for i in range(args.slack_jobs):
                    hub.jobs.script(manual=True, logs=[f"step={i} loss=0.5"])
                    env.llm.push(
                        tool_calls(
                            call(
                                "hf_jobs",
                                {
                                    "operation": "run",
                                    "command": ["python", "train.py"],
                                    "hardware_flavor": "a10g-small",
                                    "timeout": "1h",
                                },
                            )
                        )
                    )
                    ts, _ = await env.slack.mention(f"train model {i}", channel="C1", user="U1")
                    card = await env.wait_reply(
                        "C1", ts, lambda m: "ml_approval:approve:0" in all_text(m), timeout=30
                    )
                    env.llm.push(text("Submitted."))
                    await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U1")
                    job_card = await env.wait_reply(
                        "C1", ts, lambda m: m.text.startswith("Job "), timeout=30
                    )
                    job_id = job_card.text.split()[1].rstrip(":")
                    hub.jobs.set_stage(job_id, "RUNNING")
                    threads.append((ts, job_id))
                await env.settle(30)
                await asyncio.sleep(3 * 60 * scale)  # let polling slow down (benchmark pacing)
                for ts, job_id in threads:
                    hub.jobs.set_stage(job_id, "COMPLETED")
                    t_end = time.monotonic()
                    mention = await env.wait_reply(
                        "C1", ts, lambda m: "your job" in all_text(m), timeout=60
                    )
                    card = next(
                        m for m in env.bot_replies("C1", ts) if m.text.startswith(f"Job {job_id}:")
                    )
                    await env.slack.wait_for(lambda c=card: "completed" in c.text, timeout=30)
                    rows.append(
                        {
                            "event_s": event_at[job_id] - t_end,
                            "card_final_s": card.changed_at - t_end,
                            "mention_s": mention.created_at - t_end,
                        }
                    )
                await env.stop_bot()
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def stats(key: str) -> dict[str, float]:
        vals = [r[key] for r in rows]
        return {"p50": statistics.median(vals), "p95": pct(vals, 95), "max": max(vals)}

    slack_part = [r["mention_s"] - r["event_s"] for r in rows]
    return {
        "jobs": len(rows),
        "scale": scale,
        "event": stats("event_s"),
        "card_final_edit": stats("card_final_s"),
        "mention_message": stats("mention_s"),
        "event_to_mention_s": {"p50": statistics.median(slack_part), "max": max(slack_part)},
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        load = await polling_load(args, work)
        fin = await finish_delay(args, work)
        slack = None
        if args.slack:
            try:
                import bot  # noqa: F401
            except ImportError:
                slack = None
            else:
                slack = await thread_delay(args, work)
    return {
        "polling_load": load,
        "finish_delay": fin,
        "thread_delay": slack,
        "created": time.time(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--finish-jobs", type=int, default=20)
    parser.add_argument("--scale", type=float, default=0.01, help="time scale of every interval")
    parser.add_argument("--real", action="store_true", help="use the default intervals (slow)")
    parser.add_argument("--steady-minutes", type=int, default=7)
    parser.add_argument("--max-concurrent", type=int, default=8)
    parser.add_argument("--slack-jobs", type=int, default=5)
    parser.add_argument("--no-slack", dest="slack", action="store_false", help="skip the bot phase")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "jobs.json"))
    args = parser.parse_args(argv)
    if args.real:
        args.scale = 1.0
    result = asyncio.run(main_async(args))
    out = Path(args.out)
    if args.real and out.name == "jobs.json":
        out = out.with_name("jobs_real.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print_table(result)
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
