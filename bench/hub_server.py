"""The fake Hub for the restart benchmark, with one extra control: finish the running jobs now.

    python -m bench.hub_server --port 0     # prints "READY http://127.0.0.1:PORT"

Why a wrapper: the restart figure needs jobs that are still running when the bot is killed
and that finish at a moment the driver chooses *after* the restart, so "job finished → card
updated" can be timed from a known instant. ``tests.fakes.fake_hub`` runs jobs on a fixed
stage clock; here jobs run for ``--run-secs`` (default: an hour) unless finished by

    POST /_bench/finish_jobs   -> {"ok": true, "finished": [job ids], "at": <time.monotonic()>}
    GET  /_bench/jobs          -> {"ok": true, "jobs": [{id, stage, labels}]}

``at`` is host-wide CLOCK_MONOTONIC, comparable with the driver's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.fake_hub import FakeHub  # noqa: E402


def add_bench_routes(hub: FakeHub) -> None:
    """Register the ``/_bench`` routes on the hub's own router (same port, same loop)."""

    async def finish(request: web.Request, params: dict[str, str]) -> web.Response:
        finished = []
        for job in hub.jobs.all():
            if not job.terminal:
                hub.jobs.set_stage(job.id, "COMPLETED")
                finished.append(job.id)
        return web.json_response({"ok": True, "finished": finished, "at": time.monotonic()})

    async def jobs(request: web.Request, params: dict[str, str]) -> web.Response:
        rows: list[dict[str, Any]] = [
            {"id": j.id, "stage": j.stage, "labels": dict(j.labels)} for j in hub.jobs.all()
        ]
        return web.json_response({"ok": True, "jobs": rows})

    hub.router.add("POST", "/_bench/finish_jobs", finish, "bench.finish_jobs")
    hub.router.add("GET", "/_bench/jobs", jobs, "bench.jobs")


async def serve(host: str, port: int, run_secs: float) -> None:
    hub = FakeHub(host=host, port=port, run_secs=run_secs)
    add_bench_routes(hub)
    await hub.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        print(f"READY {hub.url}", flush=True)
        await stop.wait()
    finally:
        await hub.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Hub with a finish-jobs control.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--run-secs", type=float, default=3600.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.run_secs))


if __name__ == "__main__":
    main()
