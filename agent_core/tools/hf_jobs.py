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
"""

from __future__ import annotations

import base64
import logging
import re
import shlex
from typing import Any

from .. import pricing
from ..hub import HubClient, HubError, billing_message
from ..jobs.metrics import collapse_installs
from ..jobs.records import JobRecord
from ..jobs.stages import decode_stage, is_terminal
from ..policy import job_flavor, job_timeout, normalize_operation
from ..redact import scrub
from .base import Services, ToolContext, ToolSpec
from .job_preview import MAX_SCRIPT_BYTES, pinned_script, prepare_job_call
from .trackio_dashboard import plan_dashboard, seed_dashboard, trackio_env

log = logging.getLogger(__name__)

UV_IMAGE = "ghcr.io/astral-sh/uv:python3.12-bookworm"
DOCKER_IMAGE = "python:3.12"
ALWAYS_DEPENDENCIES = ("hf-transfer",)
DEFAULT_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "TRANSFORMERS_VERBOSITY": "warning",
    "HF_HUB_ENABLE_HF_TRANSFER": "1",
    "UV_NO_PROGRESS": "1",
}
TOKEN_ENV_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN")
DEFAULT_LOG_LINES = 50
MAX_LOG_LINES = 500
LOGS_DEADLINE_S = 8.0
LOGS_IDLE_S = 1.5
MAX_PS_ROWS = 50
MAX_INSPECT = 10
OUTPUT_CAP = 12_000
_LABEL_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

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


# --------------------------------------------------------------------------- command building


def is_url(text: str) -> bool:
    return bool(re.match(r"^https?://\S+$", text.strip()))


def looks_like_path(text: str) -> bool:
    """Upstream's rule for a ``script`` that names a file rather than being code: it starts
    with ``/``, ``./`` or ``../``, or it is a single ``.py`` name; never a URL or multi-line.
    Anything else (``print(1)``) is inline code."""
    t = text.strip()
    if not t or "\n" in t or is_url(t):
        return False
    return t.startswith(("/", "./", "../")) or (
        t.endswith(".py") and not any(c.isspace() for c in t)
    )


def uv_command(
    script: str,
    *,
    inline: bool,
    dependencies: list[str] | None = None,
    python: str | None = None,
    script_args: list[str] | None = None,
) -> list[str]:
    """The job command for Python mode, as upstream builds it.

    Inline code is base64-encoded and piped into ``uv run -`` (so quoting never breaks and the
    code is not word-split); a URL is passed to uv directly.
    """
    deps: list[str] = []
    for dep in [*ALWAYS_DEPENDENCIES, *(dependencies or [])]:
        dep = str(dep).strip()
        if dep and dep not in deps:
            deps.append(dep)
    uv = ["uv", "run"]
    for dep in deps:
        uv += ["--with", dep]
    if python:
        uv += ["-p", str(python)]
    args = [str(a) for a in (script_args or [])]
    if not inline:
        return [*uv, script, *args]
    b64 = base64.b64encode(script.encode("utf-8")).decode("ascii")
    return ["/bin/sh", "-lc", f"echo {b64} | base64 -d | {shlex.join([*uv, '-', *args])}"]


def job_env(
    user_env: dict[str, Any] | None, token: str | None, extra: dict[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Default env + user env, minus anything that names or contains the HF token.

    Returns ``(env, dropped_keys)`` so the tool can tell the model what it ignored.
    """
    env = dict(DEFAULT_ENV)
    dropped: list[str] = []
    for key, value in (user_env or {}).items():
        key = str(key)
        text = "" if value is None else str(value)
        if key.upper() in TOKEN_ENV_NAMES or (token and token in text):
            dropped.append(key)
            continue
        env[key] = text
    env.update(extra or {})
    return env, dropped


def job_labels(session_id: str, tool_call_id: str) -> dict[str, str]:
    """Labels that let a person find the job's origin on the Hub (and us, orphans)."""

    def safe(value: str) -> str:
        return _LABEL_SAFE.sub("-", value).strip("-")[:63] or "none"

    return {
        "ml-intern": "1",
        "ml-intern-session": safe(session_id),
        "ml-intern-call": safe(tool_call_id),
    }


# --------------------------------------------------------------------------- helpers


def _hub(ctx: ToolContext) -> HubClient:
    from .hub_common import require_hub

    return require_hub(ctx)


def _text_arg(args: dict[str, Any], *names: str) -> str:
    for name in names:
        value = args.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _list_arg(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


async def _known_namespace(ctx: ToolContext, job_id: str) -> str | None:
    watcher = ctx.services.jobs
    if watcher is None:
        return None
    try:
        info = await watcher.job(job_id)
    except Exception:
        return None
    return info.get("namespace") if info else None


async def _namespace_for(ctx: ToolContext, args: dict[str, Any], job_id: str | None = None) -> str:
    hub = _hub(ctx)
    requested = _text_arg(args, "namespace")
    if not requested and job_id:
        known = await _known_namespace(ctx, job_id)
        if known:
            return known
    return await hub.resolve_namespace(requested or None)


def _resolve_script(ctx: ToolContext, args: dict[str, Any]) -> tuple[str, bool, str]:
    """``(source, inline, label)`` for the ``script`` argument: content pinned at approval time
    (see :mod:`.job_preview`), inline code, a URL or a workspace file."""
    script = str(args.get("script"))
    pinned = pinned_script(args)
    if pinned is not None:
        source = args.get("script_source") or "inline"
        return pinned, True, f"{source} (sha256 {args['script_sha256'][:12]})"
    if not looks_like_path(script) and not is_url(script):
        return script, True, "inline script"
    if is_url(script):
        return script, False, script
    from .workspace import resolve_workspace_path

    try:
        path = resolve_workspace_path(ctx, script)
    except ValueError as exc:
        raise HubError(f"script: {exc}", kind="bad_request") from exc
    if not path.is_file():
        raise HubError(
            f"script '{script}' is not inline code, a URL, or a file in your workspace. Write it "
            "to the workspace first (write tool) or pass the code itself.",
            kind="bad_request",
        )
    data = path.read_bytes()
    if len(data) > MAX_SCRIPT_BYTES:
        raise HubError(
            f"script '{script}' is {len(data):,} bytes; the limit for inline submission is "
            f"{MAX_SCRIPT_BYTES:,}. Put large code in a Hub repo and pass its URL.",
            kind="bad_request",
        )
    return data.decode("utf-8", errors="replace"), True, f"{script} (workspace)"


def _build_spec(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Image, command, env, label for run / scheduled run. Raises HubError on bad arguments."""
    hub = _hub(ctx)
    script = args.get("script")
    command = _list_arg(args.get("command"))
    has_script = isinstance(script, str) and script.strip() != ""
    if has_script == bool(command):
        raise HubError(
            "Give exactly one of `script` (Python mode) or `command` (Docker mode).",
            kind="bad_request",
        )
    if has_script:
        source, inline, label = _resolve_script(ctx, args)
        cmd = uv_command(
            source,
            inline=inline,
            dependencies=_list_arg(args.get("dependencies")),
            python=_text_arg(args, "python") or None,
            script_args=_list_arg(args.get("script_args")),
        )
        image = _text_arg(args, "image") or UV_IMAGE
    else:
        cmd = command
        image = _text_arg(args, "image") or DOCKER_IMAGE
        label = " ".join(command)[:80]
    user_env = args.get("env") if isinstance(args.get("env"), dict) else None
    env, dropped = job_env(user_env, hub.token, trackio_env(args))
    if hub.token and any(hub.token in part for part in cmd):
        raise HubError(
            "The command contains the HF token; remove it — the job gets it as $HF_TOKEN.",
            kind="bad_request",
        )
    return {
        "image": image,
        "command": cmd,
        "env": env,
        "label": label,
        "dropped_env": dropped,
        "source": source if has_script and inline else None,  # for the Trackio check
    }


def _timeout(args: dict[str, Any], ctx: ToolContext) -> tuple[Any, int]:
    raw = job_timeout(args, ctx.config)
    seconds = pricing.job_timeout_seconds(raw)
    if seconds is None:
        raise HubError(pricing.timeout_error(raw), kind="bad_request")
    return raw, seconds


def _billing(exc: HubError, namespace: str) -> HubError:
    if exc.kind == "billing":
        return HubError(billing_message(namespace), kind="billing", status=exc.status)
    return exc


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
    hub = _hub(ctx)
    spec = _build_spec(ctx, args)
    flavor = job_flavor(args, ctx.config)
    raw_timeout, timeout_s = _timeout(args, ctx)
    namespace = await hub.resolve_namespace(_text_arg(args, "namespace") or None)
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


async def _logs(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    job_id = _text_arg(args, "job_id")
    if not job_id:
        return "logs needs job_id.", False
    try:
        lines_wanted = int(args.get("tail") or args.get("lines") or DEFAULT_LOG_LINES)
    except (TypeError, ValueError):
        lines_wanted = DEFAULT_LOG_LINES
    lines_wanted = max(1, min(MAX_LOG_LINES, lines_wanted))
    namespace = await _namespace_for(ctx, args, job_id)
    tail = await _hub(ctx).job_log_tail(
        namespace, job_id, lines_wanted, deadline_s=LOGS_DEADLINE_S, idle_s=LOGS_IDLE_S
    )
    lines = collapse_installs(tail.lines)
    head = f"Last {len(tail.lines)} log line(s) of job {job_id}"
    head += "" if tail.ended else " (job still running; this is what is available now)"
    body = "\n".join(lines) if lines else "(no logs yet)"
    return f"{head}:\n```\n{body}\n```", True


def _describe_job(info: Any) -> str:
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


async def _inspect(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    ids = (
        _list_arg(args.get("job_id"))
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
            info = await _hub(ctx).inspect_job(namespace, job_id)
            out.append(_describe_job(info))
        except HubError as exc:
            ok = False
            out.append(f"Job {job_id}: {exc.message}")
    return "\n\n".join(out), ok


async def _ps(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    namespace = await _namespace_for(ctx, args)
    jobs = await _hub(ctx).call("list_jobs", namespace=namespace, what=f"jobs of {namespace}")
    show_all = bool(args.get("all"))
    wanted = _text_arg(args, "status").upper()
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


async def _cancel(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    job_id = _text_arg(args, "job_id")
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


async def _hardware(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    items = await _hub(ctx).hardware()
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


def _describe_scheduled(info: Any) -> str:
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


async def _scheduled(op: str, args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    hub = _hub(ctx)
    namespace = await hub.resolve_namespace(_text_arg(args, "namespace") or None)
    if op == "scheduled run":
        schedule = _text_arg(args, "schedule")
        if not schedule:
            return (
                "scheduled run needs `schedule` (cron or @hourly/@daily/@weekly/@monthly).",
                False,
            )
        spec = _build_spec(ctx, args)
        flavor = job_flavor(args, ctx.config)
        _raw, timeout_s = _timeout(args, ctx)
        try:
            info = await hub.call(
                "create_scheduled_job",
                schedule=schedule,
                **_submission(hub, ctx, spec, flavor, timeout_s, namespace),
                what="the scheduled job",
            )
        except HubError as exc:
            raise _billing(exc, namespace) from exc
        return "Scheduled job created.\n" + _describe_scheduled(info), True
    if op == "scheduled ps":
        items = await hub.call("list_scheduled_jobs", namespace=namespace, what="scheduled jobs")
        if not args.get("all"):
            items = [i for i in items if not getattr(i, "suspend", False)]
        if not items:
            return f"No scheduled jobs in {namespace}.", True
        return "\n\n".join(_describe_scheduled(i) for i in items[:MAX_PS_ROWS]), True
    sid = _text_arg(args, "scheduled_job_id", "job_id")
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
        return _describe_scheduled(result), True
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
            return await _logs(args, ctx)
        if op == "inspect":
            return await _inspect(args, ctx)
        if op == "ps":
            return await _ps(args, ctx)
        if op == "cancel":
            return await _cancel(args, ctx)
        if op == "hardware":
            return await _hardware(args, ctx)
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
