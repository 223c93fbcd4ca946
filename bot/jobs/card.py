"""One card per Hugging Face job, edited as the job moves (job_started/progress/finished).

Jobs run for hours, long after the turn that started them; the card is the thread's single
place to look ("is it still running? what did it cost?") instead of a stream of messages.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from agent_core.durations import format_duration
from agent_core.jobs.stages import is_terminal, normalize_stage
from agent_core.pricing import format_usd
from bot.slack.format import MAX_SECTION, Payload, code_inline, esc, to_dicts

_STAGE_MARK = {
    "SCHEDULING": ":hourglass_flowing_sand:",
    "RUNNING": ":runner:",
    "UPDATING": ":runner:",
    "COMPLETED": ":white_check_mark:",
    "ERROR": ":x:",
    "CANCELED": ":black_square_for_stop:",
    "DELETED": ":wastebasket:",
}


def merge_job(
    job: dict[str, Any], event_type: str, data: dict[str, Any], ts: float
) -> dict[str, Any]:
    """Fold one job event into the card's data (pure: returns a new dict)."""
    out = dict(job)
    if event_type == "job_progress":  # a warning holds until the next progress report
        out.pop("warning", None)
        out.pop("warning_message", None)
    out.update({k: v for k, v in data.items() if v not in (None, "")})
    if event_type == "job_started":
        out.setdefault("stage", "SCHEDULING")
        out.setdefault("started_at", ts)
    if event_type == "job_finished":
        out["finished"] = True
        out.setdefault("finished_at", ts)
    out["updated_at"] = ts
    return out


def job_payload(job: dict[str, Any], *, now: float) -> Payload:
    stage = normalize_stage(job.get("stage"), "SCHEDULING")
    running = not is_terminal(stage)
    mark = _STAGE_MARK.get(stage, ":gear:")
    job_id = job.get("job_id", "?")
    title = f"{mark} *Job* {code_inline(job_id, 40)} · *{esc(stage.lower())}*"
    facts = []
    if job.get("flavor"):
        facts.append(f"hardware {code_inline(job['flavor'], 30)}")
    started = job.get("started_at")
    if job.get("wall_time_s") is not None:
        facts.append(f"ran {format_duration(float(job['wall_time_s']))}")
    elif job.get("elapsed_s") is not None and running:
        facts.append(f"for {format_duration(float(job['elapsed_s']))}")
    elif started and running:
        facts.append(f"for {format_duration(now - float(started))}")
    if job.get("cost_usd") is not None:
        facts.append(f"cost {format_usd(job['cost_usd'])}")
    elif job.get("cost_so_far_usd") is not None and running:
        facts.append(f"≈{format_usd(job['cost_so_far_usd'])} so far")
    if job.get("url"):
        facts.append(f"<{job['url']}|open on the Hub>")
    text = title + ("\n" + " · ".join(facts) if facts else "")
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=text[:MAX_SECTION]))]
    warning = job.get("warning_message") or job.get("warning")
    if warning:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f":warning: {esc(warning)[:500]}")])
        )
    if job.get("error"):
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"*Error:* {esc(job['error'])[:1_000]}"))
        )
    tail = job.get("log_tail")
    if isinstance(tail, list):
        tail = "\n".join(map(str, tail))
    if isinstance(tail, str) and tail.strip():
        lines = tail.strip().splitlines()[-8:]
        body = esc("\n".join(line[:200] for line in lines).replace("```", "ˋˋˋ"))
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"```\n{body}\n```"[:MAX_SECTION])))
    metrics = job.get("metrics")
    if isinstance(metrics, dict) and metrics:
        shown = ", ".join(f"{esc(k)}={esc(v)}" for k, v in list(metrics.items())[:8])
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=shown[:1_000])]))
    return Payload(text=f"Job {job_id}: {stage.lower()}", blocks=to_dicts(blocks))
