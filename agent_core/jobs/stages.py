"""The job-stage vocabulary: what the Hub's stages are and what they mean, in one place.

The Hub reports a job's stage as ``JobInfo.status.stage`` (an enum in ``huggingface_hub``,
a string on the wire): SCHEDULING, RUNNING, UPDATING, COMPLETED, ERROR, CANCELED, DELETED.
The watcher, the ``hf_jobs`` tool, the Slack job card and the notifications all decide
"is it over?" and "how did it end?" here. A stage we do not know is treated as still running:
a new intermediate stage must never end a watch early.
"""

from __future__ import annotations

from typing import Any, Literal

TERMINAL_STAGES = frozenset({"COMPLETED", "ERROR", "CANCELED", "DELETED"})
RUNNING_STAGES = frozenset({"RUNNING", "UPDATING"})
_ALIASES = {"CANCELLED": "CANCELED"}  # British spelling, seen in hand-written payloads

Outcome = Literal["completed", "failed", "cancelled", "deleted"]
_OUTCOMES: dict[str, Outcome] = {
    "COMPLETED": "completed",
    "ERROR": "failed",
    "CANCELED": "cancelled",
    "DELETED": "deleted",
}


def normalize_stage(stage: Any, default: str = "UNKNOWN") -> str:
    """Upper case, one spelling; ``default`` when there is none."""
    text = str(getattr(stage, "value", stage) or "").strip().upper()
    return _ALIASES.get(text, text) or default


def decode_stage(info: Any) -> str:
    """The stage of a ``JobInfo`` (or anything with ``.status.stage``), normalized."""
    return normalize_stage(getattr(getattr(info, "status", None), "stage", None))


def is_terminal(stage: str | None) -> bool:
    """Terminal stages end the watch. Anything unknown (STARTING, UPDATING…) is still running."""
    return normalize_stage(stage, "") in TERMINAL_STAGES


def outcome_of(stage: str | None) -> Outcome | None:
    """How a job ended, for people: completed, failed, cancelled, deleted (None: not over)."""
    return _OUTCOMES.get(normalize_stage(stage, ""))
