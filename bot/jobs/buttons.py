"""The job card's buttons — pure functions, no I/O. Complements :mod:`bot.jobs.card` (the
card's status, cost and log tail): :func:`with_job_actions` appends an actions row to a card
payload: **Show logs** (uploads the job's log as a file in the thread), **Cancel job** while
the job is not final — with a Slack confirmation dialog, so a stray click cannot kill a six-hour
run — and link buttons to live metrics (Trackio / W&B) when the logs printed such a URL.

Button values carry only the job id: the handlers (:mod:`bot.jobs.actions`) look the job up in
the watcher and check that the click came from the job's own thread before doing anything.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
)

from agent_core.jobs.stages import is_terminal
from bot.slack.format import (
    MAX_BLOCKS,
    Payload,
    button_value,
    parse_button_value,
)

JOB_ACTION_PREFIX = "ml_job:"
CANCEL_JOB_ACTION = JOB_ACTION_PREFIX + "cancel"
SHOW_LOGS_ACTION = JOB_ACTION_PREFIX + "logs"
SHOW_CURVES_ACTION = JOB_ACTION_PREFIX + "curves"
LINK_ACTION_PREFIX = JOB_ACTION_PREFIX + "link:"
_LINK_LABELS = {"trackio": "Trackio dashboard", "wandb": "W&B run", "tensorboard": "TensorBoard"}


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


__all__ = [
    "CANCEL_JOB_ACTION",
    "JOB_ACTION_PREFIX",
    "LINK_ACTION_PREFIX",
    "SHOW_CURVES_ACTION",
    "SHOW_LOGS_ACTION",
    "cancel_button",
    "job_action_value",
    "job_actions_block",
    "parse_job_action",
    "with_job_actions",
]
