"""Render state of one thread, folded from engine events by pure functions.

The state is persisted as JSON next to the ``rendered_seq`` watermark (``slack_threads``), so
after a restart the renderer resumes from exactly what had been rendered, and replaying the
events after the watermark produces the same state again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

WORKING = "working"
WAITING = "waiting"  # for an approval decision
DONE = "done"
FAILED = "failed"
STOPPED = "stopped"

_KEY_ARGS = (
    "operation",
    "repo_id",
    "dataset",
    "model_id",
    "path",
    "file_path",
    "query",
    "url",
    "command",
    "job_id",
    "name",
)


@dataclass
class ToolLine:
    """One tool call as the progress message shows it."""

    id: str
    tool: str
    key: str = ""
    state: str = "running"  # running|ok|failed|approval|approved|rejected|cancelled|...


@dataclass
class TurnState:
    """One turn: from ``processing`` to the event that ends it."""

    seq: int  # seq of the processing event (the progress message's ledger key)
    started_at: float
    user_ts: str | None = None
    status: str = WORKING
    ended_at: float | None = None
    tools: list[ToolLine] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    progress_ts: str | None = None
    stopped_by: str | None = None

    def tool(self, tool_call_id: str) -> ToolLine | None:
        for line in self.tools:
            if line.id == tool_call_id:
                return line
        return None

    @property
    def active(self) -> bool:
        return self.status == WORKING


@dataclass
class ThreadState:
    """Everything the renderer remembers about one thread between events."""

    turn: TurnState | None = None
    last_user_ts: str | None = None
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)  # batch_id -> {ts, seq}
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # job_id -> card data + ts
    plan: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ThreadState:
        data = dict(data or {})
        turn = data.get("turn")
        state = cls(
            last_user_ts=data.get("last_user_ts"),
            cards=dict(data.get("cards") or {}),
            jobs=dict(data.get("jobs") or {}),
            plan=list(data.get("plan") or []),
        )
        if isinstance(turn, dict):
            tools = [ToolLine(**t) for t in turn.get("tools") or []]
            fields = {k: v for k, v in turn.items() if k != "tools"}
            state.turn = TurnState(**fields, tools=tools)
        return state


def key_argument(tool: str, arguments: dict[str, Any] | None, named: str | None = None) -> str:
    """The one argument that says what a call does ("run a10g-large", "imdb")."""
    args = arguments if isinstance(arguments, dict) else {}
    if tool == "hf_jobs":
        op = str(args.get("operation") or "").strip()
        flavor = str(args.get("hardware_flavor") or args.get("flavor") or "").strip()
        return " ".join(p for p in (op, flavor) if p)
    if named and args.get(named) not in (None, ""):
        return _one_line(args[named])
    for name in _KEY_ARGS:
        value = args.get(name)
        if value not in (None, "", [], {}):
            return _one_line(value)
    return ""


def _one_line(value: Any, limit: int = 60) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
