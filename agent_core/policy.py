"""Which tool calls wait for a human, and which may run on their own.

Two layers, as upstream: a base rule table (what is risky) and a YOLO layer (session-scoped
auto-approval with a USD cap). Where upstream let YOLO wave through deletes and merges, we keep
those asking unless ``auto_approve_destructive`` is set: a cost cap says nothing about a
deleted branch. Scheduled jobs always ask — their recurring cost has no bound.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import pricing

if TYPE_CHECKING:
    from .config import Config
    from .tools.base import ToolSpec

# Approval classes: the unit that `slack.approvers` is configured per.
GPU_JOB = "gpu_job"
CPU_JOB = "cpu_job"
SCHEDULED_JOB = "scheduled_job"
REPO_WRITE = "repo_write"
REPO_DESTRUCTIVE = "repo_destructive"
BASH = "bash"
MCP = "mcp"

_REPO_FILES_GATED = {"upload": REPO_WRITE, "delete": REPO_DESTRUCTIVE}
_REPO_GIT_GATED = {
    "delete_branch": REPO_DESTRUCTIVE,
    "delete_tag": REPO_DESTRUCTIVE,
    "merge_pr": REPO_DESTRUCTIVE,
    "create_repo": REPO_WRITE,
    "update_repo": REPO_WRITE,
}
_NEVER_AUTO = {SCHEDULED_JOB, BASH}


@dataclass
class ApprovalRequirement:
    """The decision for one tool call. ``required`` False means it runs without asking."""

    required: bool
    approval_class: str
    reason: str
    estimated_cost_usd: float | None = None
    billable: bool = False
    destructive: bool = False
    auto_approved: bool = False
    blocked_reason: str | None = None


def normalize_operation(args: dict[str, Any]) -> str:
    return " ".join(str(args.get("operation") or "").strip().lower().split())


def job_flavor(args: dict[str, Any], config: Config | None = None) -> str:
    default = config.jobs.default_flavor if config is not None else "cpu-basic"
    for key in ("hardware_flavor", "flavor", "hardware"):
        value = args.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return default


def job_timeout(args: dict[str, Any], config: Config | None = None) -> Any:
    value = args.get("timeout")
    if value in (None, ""):
        return config.jobs.default_timeout if config is not None else "30m"
    return value


def base_requirement(
    tool: str, args: dict[str, Any], config: Config, spec: ToolSpec | None = None
) -> ApprovalRequirement | None:
    """The upstream rule table. None → no approval needed."""
    op = normalize_operation(args)
    if tool == "hf_jobs":
        if op.startswith("scheduled "):
            if op in ("scheduled ps", "scheduled inspect"):
                return None
            flavor = job_flavor(args, config)
            return ApprovalRequirement(
                True,
                SCHEDULED_JOB,
                f"scheduled job ({op}) on {flavor}: recurring cost has no bound",
                estimated_cost_usd=pricing.estimate_job_cost(flavor, job_timeout(args, config)),
                billable=True,
            )
        if op in ("run", "uv"):
            flavor = job_flavor(args, config)
            cost = pricing.estimate_job_cost(flavor, job_timeout(args, config))
            if pricing.is_cpu_flavor(flavor):
                if not config.confirm_cpu_jobs:
                    return None
                return ApprovalRequirement(
                    True, CPU_JOB, f"CPU job on {flavor}", estimated_cost_usd=cost, billable=True
                )
            return ApprovalRequirement(
                True, GPU_JOB, f"GPU job on {flavor}", estimated_cost_usd=cost, billable=True
            )
        return None
    if tool == "hf_repo_files" and op in _REPO_FILES_GATED:
        klass = _REPO_FILES_GATED[op]
        repo = args.get("repo_id") or "?"
        return ApprovalRequirement(
            True, klass, f"{op} in {repo}", destructive=klass == REPO_DESTRUCTIVE
        )
    if tool == "hf_repo_git" and op in _REPO_GIT_GATED:
        klass = _REPO_GIT_GATED[op]
        repo = args.get("repo_id") or "?"
        return ApprovalRequirement(
            True, klass, f"{op} on {repo}", destructive=klass == REPO_DESTRUCTIVE
        )
    if spec is not None and spec.approval is not None:
        return spec.approval(args, config)
    return None


def yolo_state(session_state: dict[str, Any], config: Config) -> dict[str, Any]:
    """The session's auto-approval ledger, created on first use."""
    state = session_state.setdefault(
        "yolo",
        {"enabled": False, "cap_usd": config.yolo_cost_cap_usd, "spent_usd": 0.0, "reserved": {}},
    )
    state.setdefault("reserved", {})
    return state


def yolo_enabled(session_state: dict[str, Any], config: Config) -> bool:
    return bool(config.yolo_mode or yolo_state(session_state, config).get("enabled"))


def remaining_budget(session_state: dict[str, Any], config: Config) -> float:
    st = yolo_state(session_state, config)
    reserved = sum(float(v) for v in st["reserved"].values())
    return max(0.0, float(st["cap_usd"]) - float(st["spent_usd"]) - reserved)


def yolo_summary(session_state: dict[str, Any], config: Config) -> dict[str, Any]:
    """The session's YOLO switch and budget as events and ``status`` report them."""
    st = yolo_state(session_state, config)
    return {
        "enabled": st["enabled"],
        "cap_usd": st["cap_usd"],
        "spent_usd": st["spent_usd"],
        "remaining_usd": remaining_budget(session_state, config),
    }


def decide(
    tool: str,
    args: dict[str, Any],
    config: Config,
    session_state: dict[str, Any],
    tool_call_id: str,
    spec: ToolSpec | None = None,
) -> ApprovalRequirement | None:
    """Base rules, then the YOLO layer. Reserves budget for auto-approved billable calls."""
    req = base_requirement(tool, args, config, spec)
    if req is None or not yolo_enabled(session_state, config):
        return req
    if req.approval_class in _NEVER_AUTO:
        req.blocked_reason = f"{req.approval_class.replace('_', ' ')} always needs a person"
        return req
    if req.destructive and not config.auto_approve_destructive:
        req.blocked_reason = "destructive operations need a person even in YOLO mode"
        return req
    if req.billable:
        if req.estimated_cost_usd is None:
            req.blocked_reason = "cost cannot be estimated (unknown hardware price or timeout)"
            return req
        remaining = remaining_budget(session_state, config)
        if req.estimated_cost_usd > remaining:
            req.blocked_reason = (
                f"estimated cost {pricing.format_usd(req.estimated_cost_usd)} exceeds the "
                f"remaining YOLO budget {pricing.format_usd(remaining)}"
            )
            return req
        yolo_state(session_state, config)["reserved"][tool_call_id] = req.estimated_cost_usd
    req.required = False
    req.auto_approved = True
    return req


def settle_reservation(
    session_state: dict[str, Any], config: Config, tool_call_id: str, actual_usd: float | None
) -> None:
    """Replace a reservation by the actual cost (or drop it when the call failed: None)."""
    st = yolo_state(session_state, config)
    reserved = st["reserved"].pop(tool_call_id, None)
    if actual_usd is None:
        return
    st["spent_usd"] = float(st["spent_usd"]) + float(actual_usd if actual_usd else reserved or 0)


def args_hash(tool: str, args: dict[str, Any]) -> str:
    """A stable fingerprint of a call, so an approval binds to exactly what was shown."""
    canonical = json.dumps({"tool": tool, "args": args}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
