"""Job events → the job card (posted once, edited as the job moves) and, when the job ends,
one threaded message mentioning the requester (a card edit notifies nobody, and jobs end hours
after the conversation moved on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_core.events import EventType
from bot.jobs.babysitting import upload_final_curves
from bot.jobs.buttons import with_job_actions
from bot.jobs.card import job_payload, merge_job
from bot.jobs.finished import finished_part, job_finished_mention
from bot.renderer.output import settle
from bot.slack.sender import HIGH

if TYPE_CHECKING:
    from agent_core.events import Event
    from bot.renderer.context import RenderContext
    from bot.slack.threads import ThreadRecord


async def on_job_event(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    """``job_started`` / ``job_progress`` / ``job_finished``."""
    job_id = str(ev.data.get("job_id") or "")
    if not job_id:
        return False
    job = merge_job(rec.state.jobs.get(job_id, {}), ev.type, ev.data, ev.ts)
    rec.state.jobs[job_id] = job
    payload = with_job_actions(job_payload(job, now=ctx.clock()), job)
    final = ev.type == EventType.JOB_FINISHED
    if not job.get("ts"):
        job["ts"] = await ctx.out.post_once(rec, ev.seq, f"job:{job_id}", payload)
    else:
        fut = ctx.out.edit(rec, job["ts"], payload, final=final)
        if final:
            await settle(fut, "job card edit")
    if final:
        mention = job_finished_mention(job)
        await ctx.out.post_once(rec, ev.seq, finished_part(job_id), mention, priority=HIGH)
        await upload_final_curves(ctx, rec, ev)
    return final or ev.type == EventType.JOB_STARTED
