"""The playground's *simulated Hub*: the Hugging Face endpoints the job tools use, with jobs
that run on a time scale and train nothing.

Used only when no ``HF_TOKEN`` is set, and always labelled as a simulation (the account is
``playground-sim``, every job page and log says so, the page shows a banner). The engine
reaches it through its ordinary configuration (``HF_ENDPOINT``), so ``HfApi``, the job
watcher, job cards and the finished-job notification all run their production code.

A job's life is a pure function of time since submission — scheduling for ``schedule_s``,
one Trainer-style log line every ``line_s``, then COMPLETED (or ERROR when the command asks
for ``exit 1``) — so nothing runs in the background and a cancel is just a timestamp.

Routes (under ``/sim-hub``, the ``HF_ENDPOINT``): ``GET /api/whoami-v2``,
``GET /api/jobs/hardware``, ``POST|GET /api/jobs/{ns}``, ``GET /api/jobs/{ns}/{id}``,
``GET /api/jobs/{ns}/{id}/logs`` (SSE), ``GET /api/jobs/{ns}/{id}/metrics`` (SSE),
``POST /api/jobs/{ns}/{id}/cancel``, and a human page at ``/jobs/{ns}/{id}``. Anything else
(search, repos, the datasets-server, also pointed here) answers 404 saying what is simulated.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

NAMESPACE = "playground-sim"
TOKEN = "hf_playgroundSimulatedHubToken"  # not a secret: accepted only by this local server
PREFIX = "/sim-hub"

# name, pretty name, accelerator (or None), USD per hour — the public Jobs price list.
HARDWARE = [
    ("cpu-basic", "CPU basic", None, 0.05),
    ("cpu-upgrade", "CPU upgrade", None, 0.10),
    ("t4-small", "Nvidia T4 - small", ("T4", "16 GB"), 0.40),
    ("t4-medium", "Nvidia T4 - medium", ("T4", "16 GB"), 0.60),
    ("l4x1", "1x Nvidia L4", ("L4", "24 GB"), 0.80),
    ("a10g-small", "Nvidia A10G - small", ("A10G", "24 GB"), 1.00),
    ("a10g-large", "Nvidia A10G - large", ("A10G", "24 GB"), 1.50),
    ("l40sx1", "1x Nvidia L40S", ("L40S", "48 GB"), 1.80),
    ("a100-large", "Nvidia A100 - large", ("A100", "80 GB"), 2.50),
    ("h100", "Nvidia H100", ("H100", "80 GB"), 4.50),
]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def training_log(steps: int) -> list[str]:
    """What a Trainer run prints: install, data, a falling loss, evals, the push."""
    lines = [
        "[simulated job: nothing is really trained]",
        "Installed 38 packages in 2.41s",
        "Loading dataset stanfordnlp/imdb: 25000 train, 25000 test",
    ]
    for i in range(1, steps + 1):
        epoch = round(2 * i / steps, 2)
        loss = round(0.69 * (0.55 ** (3 * i / steps)) + 0.05, 4)
        lines.append(
            f"{{'loss': {loss}, 'grad_norm': 1.8, 'learning_rate': 5e-05, 'epoch': {epoch}}}"
        )
        if i == steps // 2 or i == steps:
            acc = 0.905 if i < steps else 0.928
            lines.append(
                f"{{'eval_loss': {round(loss * 0.9, 4)}, 'eval_accuracy': {acc}, 'epoch': {epoch}}}"
            )
    lines.append(f"Pushed {NAMESPACE}/distilbert-imdb to the Hub (simulated)")
    return lines


@dataclass
class SimJob:
    id: str
    spec: dict[str, Any]
    created: float
    lines: list[str]
    schedule_s: float
    line_s: float
    fails: bool
    canceled_at: float | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def line_time(self, i: int) -> float:
        return self.created + self.schedule_s + (i + 1) * self.line_s

    @property
    def ends_at(self) -> float:
        return self.line_time(len(self.lines) - 1)

    def stage(self, now: float) -> str:
        if self.canceled_at is not None and self.canceled_at <= now:
            return "CANCELED"
        if now < self.created + self.schedule_s:
            return "SCHEDULING"
        if now < self.ends_at:
            return "RUNNING"
        return "ERROR" if self.fails else "COMPLETED"

    def visible_lines(self, now: float) -> list[tuple[float, str]]:
        stop = min(now, self.canceled_at or now)
        return [
            (self.line_time(i), t) for i, t in enumerate(self.lines) if self.line_time(i) <= stop
        ]

    def info(self, now: float) -> dict[str, Any]:
        stage = self.stage(now)
        finished = None
        if stage in ("COMPLETED", "ERROR"):
            finished = self.ends_at
        elif stage == "CANCELED":
            finished = self.canceled_at
        started = self.created + self.schedule_s
        data: dict[str, Any] = {
            "id": self.id,
            "createdAt": _iso(self.created),
            "dockerImage": self.spec.get("dockerImage"),
            "spaceId": self.spec.get("spaceId"),
            "command": self.spec.get("command") or [],
            "arguments": self.spec.get("arguments") or [],
            "environment": self.spec.get("environment") or {},
            "secrets": sorted((self.spec.get("secrets") or {}).keys()),
            "flavor": self.spec.get("flavor", "cpu-basic"),
            "labels": self.labels,
            "status": {
                "stage": stage,
                "message": "Job failed with exit code: 1" if stage == "ERROR" else None,
            },
            "owner": {"id": "sim0001", "name": NAMESPACE, "type": "user"},
        }
        if now >= started:
            data["startedAt"] = _iso(started)
        if finished is not None:
            data["finishedAt"] = _iso(finished)
        return data


class SimHub:
    """The simulated Hub's state and routes (mounted under :data:`PREFIX`)."""

    def __init__(self, *, schedule_s: float = 2.0, line_s: float = 1.2, steps: int = 10) -> None:
        self.schedule_s = schedule_s
        self.line_s = line_s
        self.steps = steps
        self.jobs: dict[str, SimJob] = {}

    @classmethod
    def lasting(cls, seconds: float, steps: int = 10) -> SimHub:
        """Jobs that take ``seconds`` from submission to COMPLETED (15 % of it scheduling)."""
        lines = len(training_log(steps))
        return cls(schedule_s=seconds * 0.15, line_s=seconds * 0.85 / lines, steps=steps)

    def add_to(self, app: web.Application) -> None:
        r, p = app.router, PREFIX
        r.add_get(f"{p}/api/whoami-v2", self.whoami)
        r.add_get(f"{p}/api/jobs/hardware", self.hardware)
        r.add_post(f"{p}/api/jobs/{{ns}}", self.create)
        r.add_get(f"{p}/api/jobs/{{ns}}", self.list_jobs)
        r.add_get(f"{p}/api/jobs/{{ns}}/{{id}}", self.inspect)
        r.add_get(f"{p}/api/jobs/{{ns}}/{{id}}/logs", self.logs)
        r.add_get(f"{p}/api/jobs/{{ns}}/{{id}}/metrics", self.metrics)
        r.add_post(f"{p}/api/jobs/{{ns}}/{{id}}/cancel", self.cancel)
        r.add_get(f"{p}/jobs/{{ns}}/{{id}}", self.job_page)
        r.add_route("*", f"{p}/{{rest:.*}}", self.not_simulated)

    async def not_simulated(self, request: web.Request) -> web.Response:
        """Everything else (model and dataset search, repos, the datasets-server): say so,
        in the Hub's error shape, instead of a bare 404 the model would misread."""
        message = (
            "The playground's simulated Hub serves only whoami and Jobs; set HF_TOKEN "
            "(and restart the playground) to use the real Hugging Face Hub."
        )
        return web.json_response(
            {"error": message}, status=404, headers={"X-Error-Message": message}
        )

    # ------------------------------------------------------------------ guards
    @staticmethod
    def _auth(request: web.Request) -> None:
        if request.headers.get("Authorization", "") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": "Invalid credentials in Authorization header"}),
                content_type="application/json",
            )

    def _job(self, request: web.Request) -> SimJob:
        self._auth(request)
        job = self.jobs.get(request.match_info["id"])
        if job is None or request.match_info["ns"] != NAMESPACE:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "Job Not Found"}), content_type="application/json"
            )
        return job

    # ------------------------------------------------------------------ routes
    async def whoami(self, request: web.Request) -> web.Response:
        self._auth(request)
        return web.json_response(
            {
                "type": "user",
                "id": "sim0001",
                "name": NAMESPACE,
                "fullname": "Playground (simulated Hub account)",
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"role": "write"}},
            }
        )

    async def hardware(self, request: web.Request) -> web.Response:
        out = []
        for name, pretty, accel, usd in HARDWARE:
            out.append(
                {
                    "name": name,
                    "prettyName": pretty,
                    "cpu": "8 vCPU",
                    "ram": "30 GB",
                    "ephemeralStorage": "50 GB",
                    "accelerator": None
                    if accel is None
                    else {
                        "type": "gpu",
                        "model": accel[0],
                        "quantity": "1",
                        "vram": accel[1],
                        "manufacturer": "Nvidia",
                    },
                    "unitCostMicroUSD": int(usd / 60 * 1_000_000),
                    "unitCostUSD": usd / 60,
                    "unitLabel": "minute",
                }
            )
        return web.json_response(out)

    async def create(self, request: web.Request) -> web.Response:
        self._auth(request)
        if request.match_info["ns"] != NAMESPACE:
            raise web.HTTPForbidden(
                text=json.dumps({"error": f"You can only run jobs in {NAMESPACE}"}),
                content_type="application/json",
            )
        spec = await request.json()
        if not isinstance(spec, dict) or not (spec.get("dockerImage") or spec.get("spaceId")):
            raise web.HTTPBadRequest(
                text=json.dumps({"error": "dockerImage or spaceId is required"}),
                content_type="application/json",
            )
        flavors = {h[0] for h in HARDWARE}
        if spec.get("flavor", "cpu-basic") not in flavors:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": f"Unknown flavor {spec.get('flavor')!r}"}),
                content_type="application/json",
            )
        command = " ".join(map(str, [*(spec.get("command") or []), *(spec.get("arguments") or [])]))
        job = SimJob(
            id=secrets.token_hex(12),
            spec=spec,
            created=time.time(),
            lines=training_log(self.steps),
            schedule_s=self.schedule_s,
            line_s=self.line_s,
            fails="exit 1" in command,
            labels=dict(spec.get("labels") or {}),
        )
        self.jobs[job.id] = job
        return web.json_response(job.info(time.time()))

    async def list_jobs(self, request: web.Request) -> web.Response:
        self._auth(request)
        now = time.time()
        return web.json_response([j.info(now) for j in self.jobs.values()])

    async def inspect(self, request: web.Request) -> web.Response:
        return web.json_response(self._job(request).info(time.time()))

    async def cancel(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if job.stage(time.time()) in ("SCHEDULING", "RUNNING"):
            job.canceled_at = time.time()
        return web.json_response(job.info(time.time()))

    async def logs(self, request: web.Request) -> web.StreamResponse:
        """SSE: the (tail of the) lines so far, then new ones live until the job ends."""
        job = self._job(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        tail = request.query.get("tail")
        sent = job.visible_lines(time.time())
        if tail and tail.isdigit():
            sent = sent[-int(tail) :] if int(tail) else []
        for stamp, text in sent:
            await resp.write(
                f"data: {json.dumps({'data': text, 'timestamp': _iso(stamp)})}\n\n".encode()
            )
        count = len(job.visible_lines(time.time()))
        try:
            while job.stage(time.time()) in ("SCHEDULING", "RUNNING"):
                lines = job.visible_lines(time.time())
                for stamp, text in lines[count:]:
                    event = {"data": text, "timestamp": _iso(stamp)}
                    await resp.write(f"data: {json.dumps(event)}\n\n".encode())
                count = len(lines)
                # Server-side pacing: wake when the next line is due (the simulation's clock).
                await asyncio.sleep(max(0.05, min(job.line_s, job.line_time(count) - time.time())))
                await resp.write(b": keep-alive\n\n")
            await resp.write_eof()
        except ConnectionError:  # the client read its tail and hung up: normal for a tail
            pass
        return resp

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if job.stage(time.time()) == "RUNNING":
            sample = {
                "cpu_usage_pct": 35,
                "cpu_millicores": 2800,
                "memory_used_bytes": 6 << 30,
                "memory_total_bytes": 30 << 30,
                "rx_bps": 0,
                "tx_bps": 0,
                "gpus": {
                    "0": {
                        "utilization": 92,
                        "memory_used_bytes": 11 << 30,
                        "memory_total_bytes": 16 << 30,
                    }
                },
                "replica": "sim-0",
            }
            await resp.write(f"data: {json.dumps(sample)}\n\n".encode())
        await resp.write_eof()
        return resp

    async def job_page(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            raise web.HTTPNotFound(text="no such simulated job")
        now = time.time()
        log_text = html.escape("\n".join(t for _, t in job.visible_lines(now)))
        page = (
            "<!doctype html><meta charset=utf-8><title>Simulated job</title>"
            "<body style='font-family:sans-serif;max-width:60em;margin:2em auto'>"
            "<p style='background:#fff3cd;padding:.6em;border-radius:6px'><b>SIMULATION</b> — "
            "this job ran on the playground's simulated Hub. Nothing was trained or billed.</p>"
            f"<h1>Job {html.escape(job.id)}</h1><p>Stage: <b>{job.stage(now)}</b> · hardware "
            f"{html.escape(str(job.spec.get('flavor')))}</p><pre>{log_text}</pre>"
        )
        return web.Response(text=page, content_type="text/html")
