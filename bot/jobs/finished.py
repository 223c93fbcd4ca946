"""The "your job finished" message: posted once in the job's thread when it ends, mentioning the
requester — a card edit notifies nobody, and jobs end hours after the conversation moved on.
It formats the one job-finished report (:class:`agent_core.jobs.report.JobFinished`) that the
notification gateways format too.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from agent_core.durations import format_duration
from agent_core.jobs.report import JobFinished
from agent_core.pricing import format_usd
from bot.slack.format import MAX_SECTION, Payload, code_inline, esc, to_dicts, user_ref

_OUTCOME = {
    "completed": (":white_check_mark:", "completed"),
    "failed": (":x:", "failed"),
    "cancelled": (":black_square_for_stop:", "was cancelled"),
    "deleted": (":wastebasket:", "was deleted"),
}


def finished_part(job_id: str) -> str:
    """The ledger part under which the finished message is posted (once per job)."""
    return f"job_done:{job_id}"


def job_finished_mention(job: dict[str, Any]) -> Payload:
    """The threaded message for the end of a job, mentioning whoever asked for it.

    ``job`` is the card's state with the ``job_finished`` data folded in: it is formatted
    as the one :class:`~agent_core.jobs.report.JobFinished` report.
    """
    report = JobFinished.from_data(job)
    outcome = report.outcome
    mark, word = _OUTCOME.get(outcome or "", (":grey_question:", f"ended ({report.stage.lower()})"))
    requester = report.requester
    who = f"{user_ref(requester)} " if requester else ""
    facts = []
    if report.wall_time_s is not None:
        facts.append(f"after {format_duration(report.wall_time_s)}")
    if report.cost_usd is not None:
        facts.append(f"cost {format_usd(report.cost_usd)}")
    if report.flavor:
        facts.append(f"on {code_inline(report.flavor, 30)}")
    line = f"{mark} {who}your job {code_inline(report.job_id, 40)} {word}"
    if facts:
        line += " " + " · ".join(facts)
    if report.url:
        line += f" · <{report.url}|open on the Hub>"
    extra = []
    canceled_by = report.canceled_by
    if canceled_by and canceled_by != requester:
        extra.append(
            f"Cancelled by {user_ref(canceled_by) if canceled_by != 'agent' else 'the agent'}."
        )
    if report.error and outcome != "completed":
        extra.append(f"*Error:* {esc(report.error)[:800]}")
    if report.metrics:
        extra.append(
            "Last metrics: " + ", ".join(f"{esc(k)}={esc(v)}" for k, v in report.metric_pairs(6))
        )
    if report.reported_after_restart:
        extra.append("_It finished while I was offline; reported on restart._")
    text = line + ("\n" + "\n".join(extra) if extra else "")
    fallback = f"Job {report.job_id} {word}"
    return Payload(
        text=fallback,
        blocks=to_dicts([SectionBlock(text=MarkdownTextObject(text=text[:MAX_SECTION]))]),
    )
