"""What the training babysitter shows in the thread: health warnings and curve images.

* ``job_health`` → one threaded message (posted once per event): what was seen with the
  numbers, which of the team's rules matched, and what happens next — nothing (``warn`` /
  ``alert``), a **Cancel job** button (``stop``: the job card's own button, with its
  confirmation and its authorisation, so stopping is a person's decision), or the proposed
  change (``propose_relaunch``: the agent follows with an approval card for the relaunch).
* the curves PNG (:func:`agent_core.jobs.charts.render_curves_async`, drawn off the loop) is
  uploaded when a job finishes and on demand ("Show curves"); while a job runs, a new image
  replaces the previous one (``files.delete`` then upload) instead of piling up.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import ActionsBlock, ContextBlock, MarkdownTextObject, SectionBlock

from agent_core.jobs.babysitter import Babysit
from agent_core.jobs.charts import render_curves_async
from agent_core.jobs.records import JobStore
from bot.jobs.buttons import cancel_button, job_action_value
from bot.slack.format import MAX_SECTION, Payload, code_inline, esc, to_dicts, user_ref
from bot.slack.sender import HIGH

if TYPE_CHECKING:
    from agent_core.events import Event
    from bot.renderer.context import RenderContext
    from bot.slack.threads import ThreadRecord

log = logging.getLogger(__name__)

_CHANNEL = re.compile(r"^(?:<#)?([CG][A-Z0-9]{2,})(?:\|[^>]*)?>?$")
MAX_NOTIFY_CHANNELS = 5

_TITLES = {
    "nan_loss": "loss became NaN",
    "loss_diverging": "loss is diverging",
    "overfitting": "overfitting",
    "gpu_idle": "GPU is idle",
    "gpu_memory_high": "GPU memory near the limit",
    "stalled": "no new training step",
    "throughput_collapse": "throughput collapsed",
}
_NEXT = {
    "warn": "No rule of the team's preferences covers this: a warning only.",
    "alert": "The team's rule says *alert*: nothing else is done.",
    "stop": "The team's rule says *stop*: cancel it with the button below (you'll be asked "
    "to confirm).",
    "propose_relaunch": "The team's rule says *propose a relaunch*: the agent is preparing it "
    "for your approval.",
}


def health_part(data: dict[str, Any]) -> str:
    return f"health:{data.get('job_id')}:{data.get('condition')}"


def health_payload(data: dict[str, Any]) -> Payload:
    """The threaded warning for one ``job_health`` event (pure)."""
    job_id = str(data.get("job_id") or "?")
    condition = str(data.get("condition") or "")
    action = str(data.get("action") or "warn")
    title = _TITLES.get(condition, condition.replace("_", " "))
    who = f"{user_ref(data['requester'])} " if data.get("requester") else ""
    lines = [
        f":warning: {who}job {code_inline(job_id, 40)}: *{esc(title)}*",
        esc(str(data.get("summary") or "")),
    ]
    if data.get("checks"):  # a rule's only_if, whether it held or not
        lines.append("Checked: " + esc("; ".join(map(str, data.get("checks") or []))))
    lines.append(_NEXT.get(action, _NEXT["warn"]))
    change = data.get("change") if isinstance(data.get("change"), dict) else None
    if change:
        if change.get("error"):
            lines.append(f"*The change can't be applied:* {esc(change['error'])}")
        else:
            lines.append(
                "*Change:* " + esc(", ".join(map(str, change.get("lines") or [])) or "(none)")
            )
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text="\n".join(lines)[:MAX_SECTION]))]
    if data.get("preferences_source"):
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=f"Preferences: {esc(data['preferences_source'])}")
                ]
            )
        )
    if action == "stop" and str(data.get("stage") or "RUNNING") not in ("COMPLETED", "ERROR"):
        blocks.append(
            ActionsBlock(
                block_id=f"job_health:{job_id}"[:255],
                elements=[cancel_button(job_id, data.get("flavor"), job_action_value(job_id))],
            )
        )
    return Payload(text=f"Job {job_id}: {title}", blocks=to_dicts(blocks))


async def on_job_health(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> bool:
    """``job_health``: the warning in the thread, once per event; then to the channels the
    team's preferences name under ``notify`` (not during their quiet hours)."""
    payload = health_payload(ev.data)
    await ctx.out.post_once(rec, ev.seq, health_part(ev.data), payload, priority=HIGH)
    if not ev.data.get("quiet"):
        for channel in notify_channels(ev.data.get("notify"), exclude=rec.channel):
            await _tell_channel(ctx, rec, ev, channel, payload)
    return False


def notify_channels(names: Any, *, exclude: str) -> list[str]:
    """Channel ids from a preferences ``notify`` list: ``C…``/``G…`` ids or ``<#C…|name>``
    links (a bare ``#name`` cannot be addressed without a lookup and is skipped)."""
    out: list[str] = []
    for name in names if isinstance(names, list) else []:
        m = _CHANNEL.match(str(name).strip())
        channel = m.group(1) if m else ""
        if channel and channel != exclude and channel not in out:
            out.append(channel)
    return out[:MAX_NOTIFY_CHANNELS]


async def _tell_channel(
    ctx: RenderContext, rec: ThreadRecord, ev: Event, channel: str, payload: Payload
) -> None:
    """One post in ``channel`` per event, ever: a crash mid-post leaves it out rather than
    risking it twice (the thread has the warning anyway)."""
    part = f"{health_part(ev.data)}:to:{channel}"
    if not await ctx.ledger.begin(rec.session_id, ev.seq, part, channel):
        return  # posted (or being posted by another replica) already
    link = ""
    try:
        data = await ctx.out.sender.call(
            rec.channel, "chat_getPermalink", channel=rec.channel, message_ts=rec.thread_ts
        )
        link = str((data or {}).get("permalink") or "")
    except Exception:
        log.info("no permalink for %s", rec.thread_ts, exc_info=True)
    where = f" (<{link}|thread>)" if link else ""
    context = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"From{where or ' a job thread'}."}],
    }
    try:
        sent = await ctx.out.sender.call(
            channel,
            "chat_postMessage",
            channel=channel,
            text=payload.text,
            blocks=[*payload.blocks[:1], context],
            unfurl_links=False,
        )
    except Exception:
        log.warning("could not tell %s about job %s", channel, ev.data.get("job_id"), exc_info=True)
        return
    await ctx.ledger.done(rec.session_id, ev.seq, part, (sent or {}).get("ts"))


async def curves_png(store: Any, job_id: str) -> bytes | None:
    """The curves image of a job from its stored series; None when nothing was recorded."""
    rec = await JobStore(store).get(job_id)
    if rec is None:
        return None
    babysit = Babysit.restore(rec.info)
    if babysit.series.is_empty():
        return None
    return await render_curves_async(babysit.series, f"Job {job_id} ({rec.flavor})")


def curves_filename(job_id: str) -> str:
    return f"curves-{job_id}.png"


async def upload_final_curves(ctx: RenderContext, rec: ThreadRecord, ev: Event) -> None:
    """When a job ends: its curves in the thread, once (skipped when it logged no metrics)."""
    job_id = str(ev.data.get("job_id") or "")
    try:
        png = await curves_png(ctx.store, job_id)
    except Exception:
        log.exception("drawing the curves of job %s failed", job_id)
        return
    if png is None:
        return
    await ctx.out.upload_once(
        rec,
        ev.seq,
        f"curves:{job_id}",
        curves_filename(job_id),
        png,
        f"Curves of job {job_id}",
    )
