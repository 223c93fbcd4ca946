"""What the job card's buttons do: Cancel (authorized, confirmed in Slack) and Show logs.

Both handlers start from the job id on the button and ask the watcher
(``services.jobs``, :class:`agent_core.jobs.JobWatcher`) about the job, then check that the
click came from the job's own thread — a button value is data, not authority.

* **Cancel** is allowed to the person who asked for the job and to whoever may approve jobs of
  its class (``slack.approvers.gpu_job`` / ``cpu_job``, user groups included) — the same people
  who could have said no to it in the first place. Others get a private note naming who can.
  The confirmation dialog is on the button itself (Slack shows it before sending the click).
  The card turns "cancelled" when the watcher sees the new stage; the finished message says
  who cancelled it.
* **Show logs** uploads the last ``LOG_LINES`` lines as a file in the thread (anyone allowed to
  talk to the bot may ask), at most once per job every ``LOG_UPLOAD_COOLDOWN_S`` so a
  double-click does not post two files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent_core import policy, pricing
from agent_core.jobs.stages import is_terminal
from bot.jobs.babysitting import curves_filename, curves_png
from bot.jobs.buttons import parse_job_action
from bot.slack.files import upload_text
from bot.slack.format import user_ref
from bot.slack.keys import parse_session_key
from bot.slack.replies import tell_clicker

if TYPE_CHECKING:
    from agent_core.tools.base import Services
    from bot.access import Access
    from bot.slack.sender import SlackSender

log = logging.getLogger(__name__)

LOG_LINES = 2_000
LOG_FETCH_DEADLINE_S = 10.0
LOG_UPLOAD_COOLDOWN_S = 30.0


def job_approval_class(flavor: str | None) -> str:
    """The approval class a run on ``flavor`` was gated under (who may also cancel it)."""
    return policy.CPU_JOB if pricing.is_cpu_flavor(flavor or "") else policy.GPU_JOB


def _where(job: dict[str, Any]) -> tuple[str, str]:
    """``(channel, thread_ts)`` of the job's thread, from its origin or its Slack session key."""
    origin = job.get("origin") if isinstance(job.get("origin"), dict) else {}
    channel, thread = str(origin.get("channel") or ""), str(origin.get("thread_ts") or "")
    if not (channel and thread):
        ref = parse_session_key(str(job.get("session_id") or ""))
        if ref is not None:
            channel, thread = ref.channel, ref.thread_ts
    return channel, thread


class JobActions:
    """Button handlers for job cards."""

    def __init__(
        self,
        *,
        access: Access,
        sender: SlackSender,
        services: Services,
        refusal_text: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access = access
        self.sender = sender
        self.services = services  # ``services.jobs`` is attached after connect: read it late
        self.refusal_text = refusal_text
        self.clock = clock
        self._last_upload: dict[str, float] = {}
        self._curve_files: dict[str, str] = {}  # job → the live chart's file (replaced)

    async def _job_for_click(
        self, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> dict[str, Any] | None:
        """The job the clicked button names, if it exists and belongs to this thread."""
        job_id = parse_job_action(action.get("value"))
        watcher = self.services.jobs
        if not job_id or watcher is None:
            await tell_clicker(respond, "Job controls aren't available in this deployment.")
            return None
        try:
            job = await watcher.job(job_id)
        except Exception:
            log.warning("job lookup failed for %s", job_id, exc_info=True)
            job = None
        if not job:
            await tell_clicker(respond, f"I don't know job `{job_id}` (anymore).")
            return None
        container = body.get("container") or {}
        clicked_channel = str(
            container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
        )
        channel, _thread = _where(job)
        if channel and clicked_channel and channel != clicked_channel:
            log.warning(
                "job button for %s clicked outside its thread (%s)", job_id, clicked_channel
            )
            await tell_clicker(respond, "That button belongs to another conversation.")
            return None
        return job

    async def may_cancel(self, user: str, job: dict[str, Any]) -> bool:
        requester = job.get("requester")
        if user and user == requester:
            return True
        return await self.access.may_decide(
            user, requester=requester, approval_class=job_approval_class(job.get("flavor"))
        )

    async def on_cancel_click(
        self, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        job = await self._job_for_click(body, action, respond)
        if job is None:
            return
        job_id = str(job["job_id"])
        if not await self.may_cancel(user, job):
            who = self.access.describe_deciders(
                job_approval_class(job.get("flavor")), job.get("requester")
            )
            await tell_clicker(respond, f"Only {who} can cancel job `{job_id}`.")
            return
        try:
            results = await self.services.jobs.cancel(job_id, requested_by=user)
        except Exception as exc:
            log.warning("cancel of job %s failed", job_id, exc_info=True)
            await tell_clicker(respond, f"Cancelling job `{job_id}` failed: {exc}")
            return
        result = (results or [{}])[0]
        if result.get("ok"):
            await tell_clicker(
                respond,
                f"Cancellation of job `{job_id}` requested; the card shows it as cancelled "
                "once the Hub confirms.",
            )
        else:
            await tell_clicker(
                respond,
                f"Job `{job_id}` could not be cancelled: {result.get('error') or 'unknown error'}.",
            )

    async def _upload_click(
        self, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> tuple[str, dict[str, Any], str, str] | None:
        """``(user, job, channel, thread)`` for a button that uploads into the job's thread
        (anyone allowed to talk to the bot may ask), or None after telling the clicker why."""
        user = str((body.get("user") or {}).get("id") or "")
        if not await self.access.user_allowed(user):
            await tell_clicker(respond, self.refusal_text)
            return None
        job = await self._job_for_click(body, action, respond)
        if job is None:
            return None
        channel, thread = _where(job)
        if not (channel and thread):
            await tell_clicker(respond, "I can't tell which thread this job belongs to.")
            return None
        return user, job, channel, thread

    async def on_logs_click(
        self, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        click = await self._upload_click(body, action, respond)
        if click is None:
            return
        user, job, channel, thread = click
        job_id = str(job["job_id"])
        now = self.clock()
        last = self._last_upload.get(job_id)
        if last is not None and now - last < LOG_UPLOAD_COOLDOWN_S:
            await tell_clicker(
                respond, f"The logs of job `{job_id}` were just uploaded to this thread."
            )
            return
        self._last_upload[job_id] = now
        try:
            text = await self.services.jobs.fetch_logs(
                job_id, max_lines=LOG_LINES, deadline_s=LOG_FETCH_DEADLINE_S
            )
        except Exception as exc:
            self._last_upload.pop(job_id, None)
            log.warning("fetching logs of job %s failed", job_id, exc_info=True)
            await tell_clicker(respond, f"Couldn't fetch the logs of job `{job_id}`: {exc}")
            return
        lines = text.count("\n") + 1 if text else 0
        await upload_text(
            self.sender,
            channel=channel,
            thread_ts=thread,
            filename=f"job-{job_id}.log",
            content=text or "(no log output yet)\n",
            title=f"Logs of job {job_id}",
            initial_comment=f"Logs of job `{job_id}` (last {lines} lines), for {user_ref(user)}.",
        )

    async def on_curves_click(
        self, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        """Upload the job's curves; while it runs, the new image replaces the previous one."""
        click = await self._upload_click(body, action, respond)
        if click is None:
            return
        user, job, channel, thread = click
        job_id = str(job["job_id"])
        try:
            png = await curves_png(self.services.store, job_id)
        except Exception as exc:
            log.warning("drawing the curves of job %s failed", job_id, exc_info=True)
            await tell_clicker(respond, f"Couldn't draw the curves of job `{job_id}`: {exc}")
            return
        if png is None:
            await tell_clicker(respond, f"Job `{job_id}` has not logged any metrics yet.")
            return
        previous = self._curve_files.pop(job_id, None)
        if previous:
            try:  # replaced, not piled up: one live chart per job in the thread
                await self.sender.call(channel, "files_delete", file=previous)
            except Exception:
                log.info("could not delete the previous curves of %s", job_id, exc_info=True)
        file_id = await upload_text(
            self.sender,
            channel=channel,
            thread_ts=thread,
            filename=curves_filename(job_id),
            content=png,
            title=f"Curves of job {job_id}",
            initial_comment=f"Curves of job `{job_id}` ({str(job.get('stage', '')).lower()}), "
            f"for {user_ref(user)}.",
        )
        if file_id and not is_terminal(job.get("stage")):
            self._curve_files[job_id] = file_id
