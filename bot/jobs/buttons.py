"""The job card's buttons and the "your job finished" message — pure functions, no I/O.

Complements :mod:`bot.jobs.card` (which draws the card's status, cost and log tail):

* :func:`with_job_actions` appends an actions row to a card payload: **Show logs** (uploads
  the job's log as a file in the thread), **Cancel job** while the job is not final — with a
  Slack confirmation dialog, so a stray click cannot kill a six-hour run — and link buttons
  to live metrics (Trackio / W&B) when the logs printed such a URL.
* :func:`job_finished_mention` is the threaded message posted once when a job ends; it
  mentions the requester, because a card edit does not notify anyone and jobs end hours after
  the conversation moved on.

Button values carry only the job id: the handlers (:mod:`bot.jobs.actions`) look the job up in
the watcher and check that the click came from the job's own thread before doing anything.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    SectionBlock,
)

from agent_core.durations import format_duration
from agent_core.jobs.report import JobFinished
from agent_core.jobs.stages import is_terminal
from agent_core.pricing import format_usd
from bot.slack.format import (
    MAX_BLOCKS,
    MAX_SECTION,
    Payload,
    button_value,
    code_inline,
    esc,
    parse_button_value,
    to_dicts,
    user_ref,
)

JOB_ACTION_PREFIX = "ml_job:"
CANCEL_JOB_ACTION = JOB_ACTION_PREFIX + "cancel"
SHOW_LOGS_ACTION = JOB_ACTION_PREFIX + "logs"
SHOW_CURVES_ACTION = JOB_ACTION_PREFIX + "curves"
LINK_ACTION_PREFIX = JOB_ACTION_PREFIX + "link:"
_LINK_LABELS = {"trackio": "Trackio dashboard", "wandb": "W&B run", "tensorboard": "TensorBoard"}
_OUTCOME = {
    "completed": (":white_check_mark:", "completed"),
    "failed": (":x:", "failed"),
    "cancelled": (":black_square_for_stop:", "was cancelled"),
    "deleted": (":wastebasket:", "was deleted"),
}


def finished_part(job_id: str) -> str:
    """The ledger part under which the finished message is posted (once per job)."""
    return f"job_done:{job_id}"


def job_action_value(job_id: str) -> str:
    return button_value({"j": job_id})


def parse_job_action(value: str | None) -> str:
    """The job id a job button carries ("" when the value is not ours)."""
    return str(parse_button_value(value).get("j") or "")


def cancel_button(job_id: str, flavor: Any, value: str) -> ButtonElement:
    """The Cancel button (job card, babysitter's stop proposal), with Slack's confirm dialog."""
    return ButtonElement(
        text="Cancel job",
        action_id=CANCEL_JOB_ACTION,
        value=value,
        style="danger",
        confirm=ConfirmObject(
            title="Cancel this job?",
            text=(
                f"Job {job_id} on {flavor or 'its hardware'} stops now and cannot be resumed. "
                "Time already used is still billed."
            ),
            confirm="Cancel job",
            deny="Keep it running",
            style="danger",
        ),
    )


def job_actions_block(job: dict[str, Any]) -> dict[str, Any] | None:
    """The card's action row, or None when the job id is unknown."""
    job_id = str(job.get("job_id") or "")
    if not job_id:
        return None
    value = job_action_value(job_id)
    elements: list[ButtonElement] = [
        ButtonElement(text="Show logs", action_id=SHOW_LOGS_ACTION, value=value)
    ]
    elements.append(ButtonElement(text="Show curves", action_id=SHOW_CURVES_ACTION, value=value))
    if not is_terminal(job.get("stage")):
        elements.append(cancel_button(job_id, job.get("flavor"), value))
    links = job.get("links") if isinstance(job.get("links"), dict) else {}
    for i, (kind, url) in enumerate(sorted(links.items())[:3]):
        if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 3000:
            elements.append(
                ButtonElement(
                    text=_LINK_LABELS.get(kind, kind)[:75],
                    url=url,
                    action_id=f"{LINK_ACTION_PREFIX}{i}",
                )
            )
    return ActionsBlock(block_id=f"job_actions:{job_id}"[:255], elements=elements).to_dict()


def with_job_actions(payload: Payload, job: dict[str, Any]) -> Payload:
    """``payload`` (from :func:`bot.jobs.card.job_payload`) plus the action row."""
    block = job_actions_block(job)
    if block is None or len(payload.blocks) >= MAX_BLOCKS:
        return payload
    return Payload(text=payload.text, blocks=[*payload.blocks, block])


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


def ephemeral_text(text: str) -> dict[str, Any]:
    """Arguments for ``respond()``: a private note to the clicker, leaving the card alone."""
    return {"text": text, "response_type": "ephemeral", "replace_original": False}


__all__ = [
    "CANCEL_JOB_ACTION",
    "JOB_ACTION_PREFIX",
    "LINK_ACTION_PREFIX",
    "SHOW_CURVES_ACTION",
    "SHOW_LOGS_ACTION",
    "cancel_button",
    "ephemeral_text",
    "finished_part",
    "job_action_value",
    "job_actions_block",
    "job_finished_mention",
    "parse_job_action",
    "with_job_actions",
]
