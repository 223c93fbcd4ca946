"""``sandbox_create``, ``bash``, ``read``, ``write``, ``edit`` on the session's sandbox.

Offered instead of the host-side workspace tools whenever a sandbox backend is configured
(by default whenever an HF token is present): the agent then installs packages, runs and
smoke-tests scripts on its own machine, never on the bot's host. Names, parameters and limits
are upstream's, so prompts written for ml-intern work unchanged.

The first ``bash``/``read``/``write``/``edit`` of a session creates a cpu-basic sandbox (free
on the Hub); ``sandbox_create`` with GPU hardware waits for an approval card that shows the
hourly price. The session's workspace (files attached in Slack, scripts written earlier) is
copied into the sandbox's ``/app`` before commands run.
"""

from __future__ import annotations

from typing import Any

from huggingface_hub import SpaceHardware

from .. import policy, pricing
from ..policy import ApprovalRequirement
from ..sandbox.client import SandboxUnavailable
from ..sandbox.fileops import READ_DEFAULT_LIMIT, READ_OUTPUT_BUDGET
from ..sandbox.handle import SandboxError
from ..sandbox.manager import SandboxManager
from ..sandbox.server import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S
from ..sandbox.text_edit import EDIT_MODES
from .base import Services, ToolContext, ToolSpec

HARDWARE = [h.value for h in SpaceHardware]
SANDBOX_ROOT = "/app"


def _manager(ctx: ToolContext) -> SandboxManager:
    manager = ctx.services.sandboxes
    if manager is None:
        raise SandboxError("sandboxes are not configured on this bot")
    return manager


async def _call(ctx: ToolContext, route: str, payload: dict[str, Any]) -> tuple[str, bool]:
    try:
        client = await _manager(ctx).client(
            ctx.session_id, workspace=ctx.workspace(), log_fn=lambda t: ctx.log(t, "sandbox")
        )
        result = await client.call(route, payload)
    except (SandboxError, SandboxUnavailable) as exc:
        return f"ERROR: {exc}", False
    return result.as_tool_result()


# --------------------------------------------------------------------------- sandbox_create

CREATE_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "hardware": {
            "type": "string",
            "enum": HARDWARE,
            "description": "Sandbox hardware. cpu-basic (default, free) for installs and "
            "smoke tests; a GPU only to check a training step fits in memory (asks a person, "
            "billed per hour).",
        },
        "trackio_space_id": {
            "type": "string",
            "description": "Optional Trackio dashboard Space (owner/name) for runs in the sandbox.",
        },
        "trackio_project": {"type": "string", "description": "Optional Trackio project name."},
    },
}


def create_approval(args: dict[str, Any], config: Any) -> ApprovalRequirement | None:
    """GPU sandboxes cost money by the hour: a person approves, seeing the price."""
    hardware = str(args.get("hardware") or "cpu-basic")
    if hardware == "cpu-basic":
        return ApprovalRequirement(False, policy.CPU_JOB, "cpu-basic sandbox (free)")
    price = pricing.price_per_hour(hardware)
    cost = f"~${price:.2f}/h, deleted when idle" if price is not None else "price unknown"
    klass = policy.CPU_JOB if pricing.is_cpu_flavor(hardware) else policy.GPU_JOB
    return ApprovalRequirement(
        True,
        klass,
        f"{hardware} sandbox ({cost})",
        estimated_cost_usd=price,
        billable=True,
    )


async def create_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    hardware = str(args.get("hardware") or "cpu-basic")
    if hardware not in HARDWARE:
        return f"ERROR: unknown hardware {hardware!r}; use one of {', '.join(HARDWARE)}", False
    try:
        handle, created = await _manager(ctx).ensure(
            ctx.session_id,
            hardware,
            workspace=ctx.workspace(),
            log_fn=lambda t: ctx.log(t, "sandbox_create"),
        )
    except (SandboxError, SandboxUnavailable) as exc:
        return f"ERROR: {exc}", False
    if not created:
        return f"Sandbox already active: {handle.id} ({handle.hardware}).", True
    await ctx.emit(
        "tool_state_change",
        {
            "tool_call_id": ctx.tool_call_id,
            "tool": "sandbox_create",
            "state": "running",
            "sandbox": handle.public(),
            "trackioSpaceId": args.get("trackio_space_id"),
            "trackioProject": args.get("trackio_project"),
        },
    )
    return (
        f"Sandbox created: {handle.id}\nURL: {handle.url}\nHardware: {handle.hardware}\n"
        f"Visibility: private\nWorking directory: {SANDBOX_ROOT} (your workspace files are "
        "copied there)."
    ), True


# --------------------------------------------------------------------------- file + shell tools

BASH_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "Shell command (bash -c)."},
        "description": {"type": "string", "description": "What it does, in a few words."},
        "work_dir": {"type": "string", "description": f"Directory. Default {SANDBOX_ROOT}."},
        "timeout": {
            "type": "integer",
            "description": f"Seconds. Default {DEFAULT_TIMEOUT_S:.0f}, max {MAX_TIMEOUT_S:.0f}.",
        },
    },
    "required": ["command"],
}
READ_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {
            "type": "string",
            "description": f"File or directory (relative to {SANDBOX_ROOT}).",
        },
        "offset": {"type": "integer", "description": "First line (1-based)."},
        "limit": {"type": "integer", "description": f"Lines. Default {READ_DEFAULT_LIMIT}."},
    },
    "required": ["path"],
}
WRITE_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "File path."},
        "content": {"type": "string", "description": "The complete file content."},
    },
    "required": ["path", "content"],
}
EDIT_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "File path (read it first)."},
        "old_str": {"type": "string", "description": "Text to find (unique unless replace_all)."},
        "new_str": {"type": "string", "description": "Replacement or text to insert."},
        "replace_all": {"type": "boolean", "description": "Every occurrence. Default false."},
        "mode": {"type": "string", "enum": list(EDIT_MODES)},
    },
    "required": ["path", "old_str", "new_str"],
}


async def bash_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    payload = {k: args[k] for k in ("command", "work_dir", "timeout") if k in args}
    return await _call(ctx, "bash", payload)


async def read_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    return await _call(ctx, "read", {k: args.get(k) for k in ("path", "offset", "limit")})


async def write_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    return await _call(ctx, "write", {"path": args.get("path"), "content": args.get("content")})


async def edit_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    keys = ("path", "old_str", "new_str", "replace_all", "mode")
    return await _call(ctx, "edit", {k: args.get(k) for k in keys if k in args})


def tools(services: Services) -> list[ToolSpec]:
    if services.sandboxes is None:
        return []
    return [
        ToolSpec(
            name="sandbox_create",
            description=(
                "Create (or return) this session's private sandbox: a machine where you can "
                "pip install, run and smoke-test scripts before submitting an hf_jobs run. "
                "bash/read/write/edit create a cpu-basic one automatically; call this for GPU "
                "hardware (needs approval) to check a training step fits in memory."
            ),
            parameters=CREATE_PARAMETERS,
            handler=create_handler,
            approval=create_approval,
            timeout_s=900,
            key_argument="hardware",
        ),
        ToolSpec(
            name="bash",
            description=(
                "Run a shell command in your sandbox (default dir /app; pip install works). "
                "Output is cut to 25,000 characters (full text saved to a file)."
            ),
            parameters=BASH_PARAMETERS,
            handler=bash_handler,
            timeout_s=MAX_TIMEOUT_S + 120,
            key_argument="command",
        ),
        ToolSpec(
            name="read",
            description="Read a file in your sandbox (numbered lines) or list a directory.",
            parameters=READ_PARAMETERS,
            handler=read_handler,
            read_only=True,
            output_cap=READ_OUTPUT_BUDGET + 2_000,
            key_argument="path",
        ),
        ToolSpec(
            name="write",
            description="Create or overwrite a file in your sandbox (read it first to overwrite).",
            parameters=WRITE_PARAMETERS,
            handler=write_handler,
            output_cap=4_000,
            key_argument="path",
        ),
        ToolSpec(
            name="edit",
            description="Edit a sandbox file you have read: replace or insert around old_str.",
            parameters=EDIT_PARAMETERS,
            handler=edit_handler,
            output_cap=8_000,
            key_argument="path",
        ),
    ]
