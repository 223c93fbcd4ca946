"""``hf_jobs``: run and manage Hugging Face Jobs (upstream name, operations and parameters).

What changed from upstream, and why:

* **``run`` never blocks the turn.** It returns as soon as the Hub accepts the job (id, URL,
  flavor, timeout, estimated cost) and hands the job to the :class:`~agent_core.jobs.JobWatcher`,
  which reports progress and the outcome in the thread — upstream held the whole session
  until the job ended.
* **``logs`` is a bounded tail** (``tail``/``lines``, default 50, max 500) read with a deadline,
  never an unbounded follow; install chatter before ``Installed N packages`` is collapsed.
* **The token is only a job secret** (``secrets={"HF_TOKEN": …}``). It is never put in the
  command, the env, a label, the output or an event; user ``env`` entries naming or containing
  it are dropped.
* **Scripts** can be inline code (base64-piped to ``uv run -``), a URL, or a file in the
  session workspace (read and sent inline).
* Namespaces come from the cached whoami (user + orgs); billing failures say where to add
  credits. Approval is decided by :mod:`agent_core.policy` (GPU runs, CPU runs when
  ``confirm_cpu_jobs``, scheduled jobs always).

Command and spec building is in :mod:`.job_command`; the read-only operations (logs, inspect,
ps, hardware, scheduled listing) are in :mod:`.hf_jobs_queries`. This module keeps the tool's
schema, the dispatch and the operations that change something on the Hub.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import pricing
from ..hub import HubClient, HubError, billing_message
from ..jobs.records import JobRecord
from ..jobs.stages import decode_stage
from ..policy import job_flavor, normalize_operation
from ..redact import scrub
from . import hf_jobs_queries as queries
from .base import Services, ToolContext, ToolSpec
from .hf_jobs_queries import DEFAULT_LOG_LINES, MAX_LOG_LINES
from .hub_common import require_hub
from .job_command import DOCKER_IMAGE, UV_IMAGE, build_spec, job_labels, resolve_timeout, text_arg
from .job_preview import prepare_job_call
from .trackio_dashboard import plan_dashboard, seed_dashboard

log = logging.getLogger(__name__)

OUTPUT_CAP = 12_000

OPERATIONS = [
    "run",
    "ps",
    "logs",
    "inspect",
    "cancel",
    "hardware",
    "scheduled run",
    "scheduled ps",
    "scheduled inspect",
    "scheduled delete",
    "scheduled suspend",
    "scheduled resume",
]

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "operation": {"type": "string", "enum": OPERATIONS, "description": "What to do."},
        "script": {
            "type": "string",
            "description": (
                "Python mode: the script's code (inline), a URL to it, or the path of a file in "
                "your workspace. Run with `uv run`, so PEP 723 inline metadata works."
            ),
        },
        "dependencies": {
            "type": "array",
            "items": {"type": "string"},
            "description": "pip requirements for the script (uv --with), e.g. ['trl', 'peft'].",
        },
        "python": {"type": "string", "description": "Python version for uv (e.g. '3.11')."},
        "script_args": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Arguments passed to the script.",
        },
        "image": {
            "type": "string",
            "description": f"Docker image (default {UV_IMAGE} for scripts, {DOCKER_IMAGE} for commands).",
        },
        "command": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Docker mode: the command to run (instead of script).",
        },
        "hardware_flavor": {
            "type": "string",
            "description": "Hardware, e.g. cpu-basic, cpu-upgrade, t4-small, a10g-small, a10g-large, a100-large, l40sx1, h100.",
        },
        "timeout": {
            "type": "string",
            "description": "Max run time: '30m', '2h', '1d' or seconds. Training needs hours (default from config).",
        },
        "env": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Environment variables (no secrets; the HF token is injected for you as HF_TOKEN).",
        },
        "trackio_space_id": {
            "type": "string",
            "description": "Trackio Space for live metrics (sets TRACKIO_SPACE_ID).",
        },
        "trackio_project": {
            "type": "string",
            "description": "Trackio project name (sets TRACKIO_PROJECT).",
        },
        "namespace": {
            "type": "string",
            "description": "Your username or one of your orgs (default: you).",
        },
        "job_id": {
            "description": "Job id for logs/inspect/cancel (inspect also accepts a list).",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
        "tail": {
            "type": "integer",
            "description": f"logs: how many last lines (default {DEFAULT_LOG_LINES}, max {MAX_LOG_LINES}).",
        },
        "all": {
            "type": "boolean",
            "description": "ps: include finished jobs / suspended schedules.",
        },
        "status": {
            "type": "string",
            "description": "ps: only jobs whose stage contains this text.",
        },
        "scheduled_job_id": {
            "type": "string",
            "description": "For scheduled inspect/delete/suspend/resume.",
        },
        "schedule": {
            "type": "string",
            "description": "scheduled run: cron expression or @hourly/@daily/@weekly/@monthly/@yearly.",
        },
    },
    "required": ["operation"],
}


def _description() -> str:
    gpu = ", ".join(
        f"{f} {pricing.format_usd(pricing.price_per_hour(f))}/h"
        for f in ("t4-small", "a10g-small", "a10g-large", "l40sx1", "a100-large", "h100")
    )
    return (
        "Run and manage Hugging Face Jobs (cloud CPU/GPU). `run` submits a Python script "
        "(script + dependencies, run with uv) or a Docker image + command and returns at once "
        "with the job id and URL: do NOT wait or poll in a loop — progress and the final result "
        "are reported in the thread automatically when the job finishes. The HF token is "
        "available in the job as $HF_TOKEN (push_to_hub works); never put tokens in env or "
        "scripts. Set a realistic timeout (training: hours; default is short) and a hardware "
        f"flavor (cpu-basic $0.05/h; {gpu}; see `hardware`). GPU runs (and CPU runs, by default) "
        "need the user's approval. Other operations: ps, logs (bounded tail), inspect, cancel, "
        "hardware, scheduled run/ps/inspect/delete/suspend/resume."
    )


def _billing(exc: HubError, namespace: str) -> HubError:
    if exc.kind == "billing":
        return HubError(billing_message(namespace), kind="billing", status=exc.status)
    return exc


def _reservation(ctx: ToolContext) -> float | None:
    """The YOLO reservation booked for this call (auto-approved runs only)."""
    yolo = ctx.session_state.get("yolo") if isinstance(ctx.session_state, dict) else None
    reserved = (yolo or {}).get("reserved") or {}
    value = reserved.get(ctx.tool_call_id)
    return float(value) if isinstance(value, int | float) else None


# --------------------------------------------------------------------------- operations


def _submission(
    hub: Any, ctx: ToolContext, spec: dict[str, Any], flavor: str, timeout_s: Any, namespace: str
) -> dict[str, Any]:
    """The Hub arguments shared by run and scheduled run. The token travels only as a job
    secret — never in the command, the env, or anything the model sees."""
    return {
        "image": spec["image"],
        "command": spec["command"],
        "env": spec["env"],
        "secrets": {"HF_TOKEN": hub.token} if hub.token else None,
        "flavor": flavor,
        "timeout": timeout_s,
        "labels": job_labels(ctx.session_id, ctx.tool_call_id),
        "namespace": namespace,
    }


async def _trackio_dashboard(
    hub: HubClient, args: dict[str, Any], spec: dict[str, Any], namespace: str
) -> dict[str, str]:
    """Point a Trackio-reporting run at a seeded dashboard Space; its link for the job card."""
    dashboard = plan_dashboard(args, spec.get("source"), namespace)
    if dashboard is None:
        return {}
    spec["env"].setdefault("TRACKIO_SPACE_ID", dashboard.space_id)
    if dashboard.project:
        spec["env"].setdefault("TRACKIO_PROJECT", dashboard.project)
    url = await seed_dashboard(hub, dashboard.space_id)
    return {"trackio": url} if url else {}


async def _run(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    hub = require_hub(ctx)
    spec = build_spec(ctx, args)
    flavor = job_flavor(args, ctx.config)
    raw_timeout, timeout_s = resolve_timeout(args, ctx)
    namespace = await hub.resolve_namespace(text_arg(args, "namespace") or None)
    estimate = pricing.estimate_job_cost(flavor, timeout_s)
    links = await _trackio_dashboard(hub, args, spec, namespace)
    try:
        job = await hub.call(
            "run_job",
            **_submission(hub, ctx, spec, flavor, timeout_s, namespace),
            what="the job submission",
        )
    except HubError as exc:
        exc = _billing(exc, namespace)
        if exc.kind == "billing":
            await ctx.emit(
                "tool_state_change",
                {
                    "tool_call_id": ctx.tool_call_id,
                    "tool": "hf_jobs",
                    "state": "billing_required",
                    "namespace": namespace,
                },
            )
        raise exc
    stage = decode_stage(job)
    url = getattr(job, "url", None) or hub.job_url(namespace, job.id)
    record = JobRecord(
        job_id=job.id,
        session_id=ctx.session_id,
        namespace=namespace,
        tool_call_id=ctx.tool_call_id,
        flavor=flavor,
        url=url,
        origin=dict(ctx.origin or {}),
        stage=stage,
        info={
            "timeout_s": timeout_s,
            "estimated_cost_usd": estimate,
            "reserved_usd": _reservation(ctx),
            "requester": (ctx.origin or {}).get("requester") or (ctx.origin or {}).get("user"),
            "label": spec["label"],
            "image": spec["image"],
            "links": links,
            # The babysitter reads hyper-parameters from it and relaunches with a change
            # (scrubbed like everything stored: a key pasted into a command stays out).
            "command": scrub(spec["command"]) if len(str(spec["command"])) <= 20_000 else None,
        },
    )
    watcher = ctx.services.jobs
    watched = False
    if watcher is not None:
        try:
            await watcher.watch(record)
            watched = True
        except Exception:  # the job runs and bills anyway: never report it as failed
            log.exception("the watcher could not take job %s", job.id)
    price = pricing.price_per_hour(flavor)
    lines = [
        "Job submitted. It runs in the background — do not wait or poll for it.",
        f"Job ID: {job.id}",
        f"URL: {url}",
        f"Namespace: {namespace}",
        f"Hardware: {flavor} ({pricing.format_usd(price)}/h)"
        if price is not None
        else f"Hardware: {flavor}",
        f"Timeout: {raw_timeout} ({timeout_s}s)",
        f"Estimated max cost: {pricing.format_usd(estimate)}",
        f"Status: {stage}",
    ]
    if links.get("trackio"):
        lines.append(f"Trackio dashboard: {links['trackio']} (give this link in your summary)")
    if spec["dropped_env"]:
        lines.append(
            f"Ignored env entries {', '.join(spec['dropped_env'])}: the token is injected as the secret HF_TOKEN."
        )
    if watched:
        lines.append(
            "Progress and the final result will be posted in the thread automatically when it "
            "finishes. Tell the user it is running; check on it with hf_jobs logs/inspect if asked."
        )
    else:
        lines.append(
            "It is not being followed automatically here: check on it with hf_jobs inspect/logs "
            "and tell the user how to follow it (URL above)."
        )
    return "\n".join(lines), True


async def _cancel(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    job_id = text_arg(args, "job_id")
    if not job_id:
        return "cancel needs job_id.", False
    # The agent acts without approval only on what its own conversation started: another
    # thread's job is someone else's GPU time (they have the Cancel button on its card).
    watcher = ctx.services.jobs
    known = await watcher.job(job_id) if watcher is not None else None
    if known is None or known.get("session_id") != ctx.session_id:
        return (
            f"Job {job_id} was not started in this conversation, so I may not cancel it. "
            "Whoever started it can cancel it from its thread (the job card's Cancel button).",
            False,
        )
    results = await watcher.cancel(job_id, requested_by="agent")  # type: ignore[union-attr]
    res = results[0] if results else {"ok": False, "error": "unknown job"}
    if not res.get("ok"):
        return f"Could not cancel job {job_id}: {res.get('error')}", False
    return (
        f"Cancellation requested for job {job_id}; the thread will show it as canceled.",
        True,
    )


async def _scheduled(op: str, args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    hub = require_hub(ctx)
    namespace = await hub.resolve_namespace(text_arg(args, "namespace") or None)
    if op == "scheduled run":
        schedule = text_arg(args, "schedule")
        if not schedule:
            return (
                "scheduled run needs `schedule` (cron or @hourly/@daily/@weekly/@monthly).",
                False,
            )
        spec = build_spec(ctx, args)
        flavor = job_flavor(args, ctx.config)
        _raw, timeout_s = resolve_timeout(args, ctx)
        try:
            info = await hub.call(
                "create_scheduled_job",
                schedule=schedule,
                **_submission(hub, ctx, spec, flavor, timeout_s, namespace),
                what="the scheduled job",
            )
        except HubError as exc:
            raise _billing(exc, namespace) from exc
        return "Scheduled job created.\n" + queries.describe_scheduled(info), True
    if op == "scheduled ps":
        return await queries.scheduled_ps(hub, namespace, args)
    sid = text_arg(args, "scheduled_job_id", "job_id")
    if not sid:
        return f"{op} needs scheduled_job_id.", False
    method = {
        "scheduled inspect": "inspect_scheduled_job",
        "scheduled delete": "delete_scheduled_job",
        "scheduled suspend": "suspend_scheduled_job",
        "scheduled resume": "resume_scheduled_job",
    }.get(op)
    if method is None:
        return f"Unknown operation '{op}'. Valid: {', '.join(OPERATIONS)}.", False
    result = await hub.call(
        method, scheduled_job_id=sid, namespace=namespace, what=f"scheduled job {sid}"
    )
    if op == "scheduled inspect":
        return queries.describe_scheduled(result), True
    done = {
        "scheduled delete": "deleted",
        "scheduled suspend": "suspended",
        "scheduled resume": "resumed",
    }
    return f"Scheduled job {sid}: {done[op]}.", True


async def hf_jobs_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    op = normalize_operation(args)
    if op == "uv":  # legacy upstream alias
        op = "run"
    try:
        if op == "run":
            return await _run(args, ctx)
        if op == "logs":
            return await queries.logs(args, ctx)
        if op == "inspect":
            return await queries.inspect(args, ctx)
        if op == "ps":
            return await queries.ps(args, ctx)
        if op == "cancel":
            return await _cancel(args, ctx)
        if op == "hardware":
            return await queries.hardware(args, ctx)
        if op.startswith("scheduled "):
            return await _scheduled(op, args, ctx)
    except HubError as exc:
        return f"hf_jobs {op}: {exc.message}", False
    return f"Unknown operation '{op}'. Valid: {', '.join(OPERATIONS)}.", False


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="hf_jobs",
            description=_description(),
            parameters=PARAMETERS,
            handler=hf_jobs_handler,
            read_only=False,
            output_cap=OUTPUT_CAP,
            timeout_s=120.0,
            key_argument="operation",
            prepare=prepare_job_call,
        )
    ]
