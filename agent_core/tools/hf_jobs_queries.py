"""The read-only ``hf_jobs`` operations: ``logs``, ``inspect``, ``ps``, ``hardware`` and the
scheduled-job listing/describing, with their formatting.

Split from :mod:`.hf_jobs` because none of these change anything on the Hub or need approval:
they resolve a namespace, read, and render a bounded text for the model. The write side
(``run``, ``cancel``, scheduled writes) stays in :mod:`.hf_jobs`, which dispatches here.
"""

from __future__ import annotations

from typing import Any

from .. import pricing
from ..hub import HubClient, HubError
from ..jobs.metrics import collapse_installs
from ..jobs.stages import decode_stage, is_terminal
from .base import ToolContext
from .hub_common import require_hub
from .job_command import list_arg, text_arg

DEFAULT_LOG_LINES = 50
MAX_LOG_LINES = 500
LOGS_DEADLINE_S = 8.0
LOGS_IDLE_S = 1.5
MAX_PS_ROWS = 50
MAX_INSPECT = 10


async def _known_namespace(ctx: ToolContext, job_id: str) -> str | None:
    """The namespace the watcher recorded for a job we started (no whoami round trip)."""
    watcher = ctx.services.jobs
    if watcher is None:
        return None
    try:
        info = await watcher.job(job_id)
    except Exception:
        return None
    return info.get("namespace") if info else None


async def _namespace_for(ctx: ToolContext, args: dict[str, Any], job_id: str | None = None) -> str:
    """The namespace to read in: the one asked for, else the job's recorded one, else the
    user's own (a job in an org is not found under the user's name)."""
    hub = require_hub(ctx)
    requested = text_arg(args, "namespace")
    if not requested and job_id:
        known = await _known_namespace(ctx, job_id)
        if known:
            return known
    return await hub.resolve_namespace(requested or None)


def _fmt_time(value: Any) -> str:
    if value is None:
        return "-"
    try:
        return value.strftime("%Y-%m-%d %H:%M:%S")
    except AttributeError:
        return str(value)[:19]


def _flavor(info: Any) -> str:
    flavor = getattr(info, "flavor", None)
    return str(getattr(flavor, "value", flavor) or "?")


async def logs(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    """``logs``: a bounded tail read with a deadline, never an unbounded follow."""
    job_id = text_arg(args, "job_id")
    if not job_id:
        return "logs needs job_id.", False
    try:
        lines_wanted = int(args.get("tail") or args.get("lines") or DEFAULT_LOG_LINES)
    except (TypeError, ValueError):
        lines_wanted = DEFAULT_LOG_LINES
    lines_wanted = max(1, min(MAX_LOG_LINES, lines_wanted))
    namespace = await _namespace_for(ctx, args, job_id)
    tail = await require_hub(ctx).job_log_tail(
        namespace, job_id, lines_wanted, deadline_s=LOGS_DEADLINE_S, idle_s=LOGS_IDLE_S
    )
    lines = collapse_installs(tail.lines)
    head = f"Last {len(tail.lines)} log line(s) of job {job_id}"
    head += "" if tail.ended else " (job still running; this is what is available now)"
    body = "\n".join(lines) if lines else "(no logs yet)"
    return f"{head}:\n```\n{body}\n```", True


def describe_job(info: Any) -> str:
    """One job for ``inspect``: stage, hardware, times, cost so far, env keys (never values)."""
    durations = getattr(info, "durations", None)
    running = getattr(durations, "running_secs", None)
    owner = getattr(getattr(info, "owner", None), "name", None)
    labels = getattr(info, "labels", None) or {}
    env_keys = sorted((getattr(info, "environment", None) or {}).keys())
    status = getattr(info, "status", None)
    lines = [
        f"Job {info.id}",
        f"  stage: {decode_stage(info)}"
        + (f" — {status.message}" if getattr(status, "message", None) else ""),
        f"  hardware: {_flavor(info)}  namespace: {owner or '?'}",
        f"  image: {getattr(info, 'docker_image', None) or getattr(info, 'space_id', None) or '?'}",
        f"  created: {_fmt_time(getattr(info, 'created_at', None))}  started: {_fmt_time(getattr(info, 'started_at', None))}  finished: {_fmt_time(getattr(info, 'finished_at', None))}",
    ]
    if isinstance(running, int | float):
        price = pricing.price_per_hour(_flavor(info))
        cost = f" (≈ {pricing.format_usd(price * running / 3600)})" if price is not None else ""
        lines.append(f"  running time: {int(running)}s{cost}")
    if env_keys:
        lines.append(f"  env: {', '.join(env_keys)[:300]}")
    if labels:
        lines.append(f"  labels: {', '.join(f'{k}={v}' for k, v in labels.items())[:300]}")
    lines.append(f"  url: {getattr(info, 'url', '')}")
    return "\n".join(lines)


async def inspect(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    """``inspect``: up to :data:`MAX_INSPECT` jobs; one failing does not hide the others."""
    ids = (
        list_arg(args.get("job_id"))
        if not isinstance(args.get("job_id"), str)
        else [args["job_id"].strip()]
    )
    ids = [i for i in ids if i][:MAX_INSPECT]
    if not ids:
        return "inspect needs job_id (a string or a list).", False
    out, ok = [], True
    for job_id in ids:
        try:
            namespace = await _namespace_for(ctx, args, job_id)
            info = await require_hub(ctx).inspect_job(namespace, job_id)
            out.append(describe_job(info))
        except HubError as exc:
            ok = False
            out.append(f"Job {job_id}: {exc.message}")
    return "\n\n".join(out), ok


async def ps(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    """``ps``: a table of the namespace's jobs (active only unless ``all``/``status``)."""
    namespace = await _namespace_for(ctx, args)
    jobs = await require_hub(ctx).call(
        "list_jobs", namespace=namespace, what=f"jobs of {namespace}"
    )
    show_all = bool(args.get("all"))
    wanted = text_arg(args, "status").upper()
    rows = []
    for job in jobs:
        stage = decode_stage(job)
        if not show_all and not wanted and is_terminal(stage):
            continue
        if wanted and wanted not in stage:
            continue
        rows.append(job)
    if not rows:
        scope = "" if show_all else " active"
        return f"No{scope} jobs in {namespace}" + (
            "" if show_all else " (all=true lists finished ones too)."
        ), True
    lines = [
        f"Jobs in {namespace} ({len(rows)}):",
        "| id | stage | hardware | image / command | created |",
        "|---|---|---|---|---|",
    ]
    for job in rows[:MAX_PS_ROWS]:
        what = getattr(job, "docker_image", None) or getattr(job, "space_id", None) or ""
        cmd = " ".join(getattr(job, "command", None) or [])
        desc = (what.split("/")[-1][:20] + " " + cmd[:30]).strip()
        lines.append(
            f"| {job.id} | {decode_stage(job)[:12]} | {_flavor(job)} | {desc} | {_fmt_time(getattr(job, 'created_at', None))} |"
        )
    if len(rows) > MAX_PS_ROWS:
        lines.append(f"… and {len(rows) - MAX_PS_ROWS} more (use status= to narrow).")
    return "\n".join(lines), True


async def hardware(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    """``hardware``: flavors and prices, CPU first, saying when the static table stood in."""
    items = await require_hub(ctx).hardware()
    static = all(i.get("source") == "static" for i in items)
    lines = [
        "Jobs hardware"
        + (" (static price table: the Hub catalog was unavailable)" if static else "")
        + ":",
        "| flavor | accelerator | cpu / ram | $/hour |",
        "|---|---|---|---|",
    ]
    for item in sorted(
        items,
        key=lambda i: (i.get("accelerator") is not None, i.get("unit_cost_usd_per_hour") or 0),
    ):
        cpu_ram = " / ".join(str(x) for x in (item.get("cpu"), item.get("ram")) if x) or "-"
        lines.append(
            f"| {item['name']} | {item.get('accelerator') or 'CPU only'} | {cpu_ram} | "
            f"{pricing.format_usd(item.get('unit_cost_usd_per_hour'))} |"
        )
    return "\n".join(lines), True


def describe_scheduled(info: Any) -> str:
    """One schedule for ``scheduled ps``/``inspect``/``run``."""
    status = getattr(info, "status", None)
    spec = getattr(info, "job_spec", None)
    last = getattr(status, "last_job", None)
    flavor = getattr(spec, "flavor", None)
    return "\n".join(
        [
            f"Scheduled job {info.id}",
            f"  schedule: {getattr(info, 'schedule', None)}  suspended: {bool(getattr(info, 'suspend', False))}",
            f"  hardware: {getattr(flavor, 'value', flavor) or '?'}  image: {getattr(spec, 'docker_image', None) or getattr(spec, 'space_id', None) or '?'}",
            f"  next run: {_fmt_time(getattr(status, 'next_job_run_at', None))}  last job: {getattr(last, 'id', None) or '-'}",
        ]
    )


async def scheduled_ps(hub: HubClient, namespace: str, args: dict[str, Any]) -> tuple[str, bool]:
    """``scheduled ps``: the schedules in ``namespace`` (suspended ones only with ``all``)."""
    items = await hub.call("list_scheduled_jobs", namespace=namespace, what="scheduled jobs")
    if not args.get("all"):
        items = [i for i in items if not getattr(i, "suspend", False)]
    if not items:
        return f"No scheduled jobs in {namespace}.", True
    return "\n\n".join(describe_scheduled(i) for i in items[:MAX_PS_ROWS]), True
