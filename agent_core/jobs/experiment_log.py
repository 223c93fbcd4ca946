"""A thread's experiment log: every run, rule fired, proposal, decision and outcome, in order.

Why derived from the event log instead of a table of its own: every one of those facts is
already an event persisted before anyone saw it (``job_started``, ``job_health``,
``approval_required`` / ``approval_resolved`` for the agent's proposals, ``job_finished``),
so the log can never disagree with what the thread showed, and nothing is written twice.
``history`` / ``log`` in a thread show it; it exports as Markdown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..approvals import APPROVED, REJECTED
from ..durations import format_duration
from ..pricing import format_usd
from .babysitter import job_hyperparameters
from .records import JobStore

if TYPE_CHECKING:
    from ..events import Event
    from ..store import Store

EXPERIMENT_EVENTS = (
    "job_started",
    "job_health",
    "approval_required",
    "approval_resolved",
    "job_finished",
)
MAX_EVENTS = 2_000


@dataclass(frozen=True)
class Entry:
    ts: float
    kind: str  # launched | rule fired | proposed | approved | declined | finished
    text: str


def _hp(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )


def entries_from_events(events: list[Event], hyper: dict[str, dict[str, Any]]) -> list[Entry]:
    """The log entries for a session's events (pure; ``hyper`` = hyper-parameters by job)."""
    out: list[Entry] = []
    proposed: dict[str, str] = {}  # tool_call_id → what was proposed
    for ev in events:
        d = ev.data
        job = str(d.get("job_id") or "")
        if ev.type == "job_started":
            hp = hyper.get(job) or {}
            out.append(
                Entry(
                    ev.ts,
                    "launched",
                    f"job `{job}` on {d.get('flavor')}" + (f" ({_hp(hp)})" if hp else ""),
                )
            )
        elif ev.type == "job_health":
            change = d.get("change") if isinstance(d.get("change"), dict) else {}
            what = f"{d.get('condition')} on `{job}`: {d.get('summary')} → {d.get('action')}"
            if change.get("lines"):
                what += f" ({', '.join(change['lines'])})"
            out.append(Entry(ev.ts, "rule fired" if d.get("rule") else "warning", what))
        elif ev.type == "approval_required":
            for tool in d.get("tools") or []:
                if tool.get("tool") != "hf_jobs":
                    continue
                args = tool.get("arguments") if isinstance(tool.get("arguments"), dict) else {}
                text = f"hf_jobs {args.get('operation', '?')}"
                if args.get("command"):
                    text += f" `{' '.join(map(str, args['command']))[:300]}`"
                if tool.get("estimated_cost_usd") is not None:
                    text += f" (est. {format_usd(tool['estimated_cost_usd'])})"
                proposed[str(tool.get("tool_call_id"))] = text
                out.append(Entry(ev.ts, "proposed", text))
        elif ev.type == "approval_resolved":
            for dec in d.get("decisions") or []:
                what = proposed.get(str(dec.get("tool_call_id")))
                if what is None:
                    continue
                status = str(dec.get("status") or "")
                kind = {APPROVED: "approved", REJECTED: "declined"}.get(status, status)
                who = dec.get("decided_by") or d.get("decided_by")
                out.append(Entry(ev.ts, kind, what + (f" — by <@{who}>" if who else "")))
        elif ev.type == "job_finished":
            facts = [str(d.get("stage", "?")).lower()]
            if d.get("wall_time_s") is not None:
                facts.append(f"after {format_duration(float(d['wall_time_s']))}")
            if d.get("cost_usd") is not None:
                facts.append(f"cost {format_usd(d['cost_usd'])}")
            metrics = d.get("metrics") if isinstance(d.get("metrics"), dict) else {}
            if metrics:
                facts.append(", ".join(f"{k}={v}" for k, v in list(metrics.items())[:4]))
            out.append(Entry(ev.ts, "finished", f"job `{job}`: " + " · ".join(facts)))
    return out


async def experiment_log(store: Store, session_id: str) -> list[Entry]:
    """The log of one session (thread), read through the store's event API."""
    events = await store.events_after(session_id, 0, MAX_EVENTS, types=list(EXPERIMENT_EVENTS))
    hyper = {
        rec.job_id: job_hyperparameters(rec)
        for rec in await JobStore(store).for_session(session_id)
    }
    return entries_from_events(list(events), hyper)


def to_markdown(entries: list[Entry], title: str = "Experiment log") -> str:
    """The exported form: a Markdown table, UTC times."""
    lines = [f"# {title}", "", "| time (UTC) | what | details |", "|---|---|---|"]
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.ts))
        text = e.text.replace("|", "\\|")
        lines.append(f"| {when} | {e.kind} | {text} |")
    if not entries:
        lines.append("| — | — | nothing yet: no job in this thread |")
    return "\n".join(lines) + "\n"
