"""What an ``hf_jobs`` run submits: image, command, env and labels, built from the tool's
arguments.

Split from :mod:`.hf_jobs` so the rules that keep the token out of a job's command and env,
and that decide whether ``script`` is code, a URL or a workspace file, live in one place with
no Hub calls of their own: :mod:`.job_preview` (the approval card) applies the same rules
before a person is asked, and the unit tests exercise them without a Hub.
"""

from __future__ import annotations

import base64
import re
import shlex
from typing import Any

from .. import pricing
from ..hub import HubError
from ..policy import job_timeout
from .base import ToolContext
from .hub_common import require_hub
from .job_preview import MAX_SCRIPT_BYTES, pinned_script
from .trackio_dashboard import trackio_env

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
_LABEL_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


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


def text_arg(args: dict[str, Any], *names: str) -> str:
    """The first non-blank string argument among ``names``, stripped ("" when none): models
    send blanks and non-strings, and every operation treats those as absent."""
    for name in names:
        value = args.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def list_arg(value: Any) -> list[str]:
    """A list argument as strings; a model's single string is shell-split like upstream."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


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


def build_spec(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Image, command, env, label for run / scheduled run. Raises HubError on bad arguments."""
    hub = require_hub(ctx)
    script = args.get("script")
    command = list_arg(args.get("command"))
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
            dependencies=list_arg(args.get("dependencies")),
            python=text_arg(args, "python") or None,
            script_args=list_arg(args.get("script_args")),
        )
        image = text_arg(args, "image") or UV_IMAGE
    else:
        cmd = command
        image = text_arg(args, "image") or DOCKER_IMAGE
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


def resolve_timeout(args: dict[str, Any], ctx: ToolContext) -> tuple[Any, int]:
    """``(raw, seconds)``: the raw value is echoed to the model, the seconds are submitted."""
    raw = job_timeout(args, ctx.config)
    seconds = pricing.job_timeout_seconds(raw)
    if seconds is None:
        raise HubError(pricing.timeout_error(raw), kind="bad_request")
    return raw, seconds
