"""In-thread text commands (Slack does not deliver slash commands inside threads).

A message is a command only when it is *just* the command (``stop``, ``model gpt-x``), so
"stop using Adam and try SGD" still goes to the agent. Commands act at once — they are not
queued behind the running turn — except those that change the conversation (``compact``,
``undo``, ``model``, ``yolo``), which the engine runs between turns, in order.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_core.events import Compact, SetModel, SetYolo, Undo
from bot.access import click_in_place
from bot.conversation import notices
from bot.conversation.incoming import Incoming
from bot.jobs.commands import BabysitterCommand, BabysitterCommands, parse_babysitter_command
from bot.slack.format import parse_button_value
from bot.slack.replies import tell_clicker

if TYPE_CHECKING:
    from agent_core.manager import SessionManager
    from agent_core.store import Store
    from agent_core.tools.base import Services
    from bot.access import Access
    from bot.conversation.attachments import SlackFileDownloader
    from bot.llm_warmup import LlmWarmup
    from bot.settings import SlackSettings
    from bot.slack.replies import Replies

log = logging.getLogger(__name__)

_YOLO = re.compile(r"^yolo\s+(on|off)(?:\s+\$?(\d+(?:\.\d+)?))?$")
_MODEL = re.compile(r"^(?:model|/model)\s+(\S{1,200})$", re.IGNORECASE)
_SIMPLE = {
    "stop": "stop",
    "status": "status",
    "compact": "compact",
    "undo": "undo",
    "help": "help",
    "cancel jobs": "cancel_jobs",
    "cancel job": "cancel_jobs",
}


_WHAT = {
    "stop": "stop this thread's work",
    "undo": "undo in this thread",
    "compact": "compact this thread",
    "model": "change this thread's model",
    "yolo_on": "turn on YOLO mode here",
    "yolo_off": "change YOLO mode here",
    "cancel_jobs": "cancel this thread's jobs",
}


@dataclass(frozen=True)
class Command:
    name: str  # stop | status | compact | undo | help | yolo | model | cancel_jobs
    enabled: bool | None = None  # yolo
    cap_usd: float | None = None  # yolo on <cap>
    model: str | None = None
    babysitter: BabysitterCommand | None = None  # preferences | history | compare


def parse_command(text: str) -> Command | None:
    """The command ``text`` is, or None when it is a normal message for the agent."""
    babysit = parse_babysitter_command(text)
    if babysit is not None:
        return Command("babysitter", babysitter=babysit)
    normal = " ".join((text or "").split()).strip()
    normal = normal.rstrip(".!").lstrip("/!")
    low = normal.lower()
    if low in _SIMPLE:
        return Command(_SIMPLE[low])
    m = _YOLO.match(low)
    if m:
        cap = float(m.group(2)) if m.group(2) else None
        return Command("yolo", enabled=m.group(1) == "on", cap_usd=cap)
    m = _MODEL.match(normal)
    if m and normal.split()[0].lower() in ("model", "/model"):
        return Command("model", model=m.group(1).strip("`"))
    return None


class Commands:
    """Runs a parsed command for the thread it was sent in (and the Stop button)."""

    def __init__(
        self,
        *,
        settings: SlackSettings,
        manager: SessionManager,
        store: Store,
        access: Access,
        replies: Replies,
        warmup: LlmWarmup,
        services: Services,
        downloader: SlackFileDownloader | None = None,
    ) -> None:
        self.settings = settings
        self.manager = manager
        self.store = store
        self.access = access
        self.replies = replies
        self.warmup = warmup
        self.services = services  # ``services.jobs`` is attached after connect: read it late
        self.babysitter = BabysitterCommands(
            store=store,
            replies=replies,
            services=services,
            may_set_channel=lambda msg, what: self._may(msg, "gpu_job", what),
            downloader=downloader,
        )

    async def run(self, cmd: Command, msg: Incoming) -> None:
        sid = msg.ref.session_id
        if cmd.name == "help":
            await self.replies.post(msg.channel, msg.root_ts, notices.help_payload())
            return
        if cmd.babysitter is not None:  # preferences may be set before any job or session
            await self.babysitter.run(cmd.babysitter, msg)
            return
        if not await self.manager.exists(sid):
            await self.replies.ephemeral(
                msg.channel,
                msg.user,
                "There's no session in this thread yet — mention me with a request to start one.",
                msg.thread_ts,
            )
            return
        if cmd.name == "status":  # the only command that changes nothing
            info = await self.manager.session_info(sid)
            payload = notices.status_payload(info, jobs=await self._jobs(sid))
            await self.replies.post(msg.channel, msg.root_ts, payload)
            return
        control = "yolo_on" if cmd.name == "yolo" and cmd.enabled else cmd.name
        control = "yolo_off" if control == "yolo" else control
        if not await self._may(msg, control, _WHAT[control]):
            return
        if cmd.name == "stop":
            await self.stop(sid, msg.user, channel=msg.channel, thread_ts=msg.root_ts)
        elif cmd.name == "compact":
            await self._queue_op(msg, Compact())
        elif cmd.name == "undo":
            await self._queue_op(msg, Undo())
        elif cmd.name == "model":
            await self._queue_op(msg, SetModel(model=cmd.model or ""))
        elif cmd.name == "yolo":
            await self._queue_op(msg, SetYolo(enabled=bool(cmd.enabled), cap_usd=cmd.cap_usd))
        elif cmd.name == "cancel_jobs":
            await self._cancel_jobs(sid, msg)

    async def _requester(self, session_id: str) -> str | None:
        row = await self.store.get_session(session_id)
        return (row or {}).get("origin", {}).get("requester")

    async def _may(self, msg: Incoming, control: str, what: str) -> bool:
        """Every state-changing control: the requester or the approvers its classes name
        (:data:`bot.access.CONTROL_CLASSES`); anyone else gets an ephemeral refusal."""
        requester = await self._requester(msg.ref.session_id)
        if await self.access.may_control(msg.user, control, requester=requester):
            return True
        who = self.access.describe_controllers(control, requester)
        await self.replies.ephemeral(
            msg.channel, msg.user, f"Only {who} can {what}.", msg.thread_ts
        )
        return False

    async def _queue_op(self, msg: Incoming, op: Any) -> None:
        sid = msg.ref.session_id
        if self.manager.is_busy(sid) and self.settings.reactions.queued:
            self.replies.react(msg.channel, msg.ts, self.settings.reactions.queued)
        await self.warmup.wait()
        await self.manager.submit(sid, op)

    async def stop(
        self, sid: str, user: str, *, channel: str, thread_ts: str | None, respond: Any = None
    ) -> None:
        """Stop the running turn (or withdraw the pending approval)."""
        outcome = await self.manager.interrupt(sid, by=user)
        if outcome == "idle":
            if respond is not None:
                await tell_clicker(respond, "Nothing is running in this thread.")
            else:
                await self.replies.ephemeral(
                    channel, user, "Nothing is running in this thread.", thread_ts
                )

    async def on_stop_click(
        self, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        sid = str(parse_button_value(action.get("value")).get("s") or "")
        user = (body.get("user") or {}).get("id") or ""
        channel = (body.get("container") or {}).get("channel_id") or ""
        if not sid:
            return
        refusal = None
        if not click_in_place(body, sid):
            refusal = "This Stop button belongs to another conversation; nothing was stopped."
        elif not await self.access.may_control(user, "stop", requester=await self._requester(sid)):
            who = self.access.describe_controllers("stop", await self._requester(sid))
            refusal = f"Only {who} can {_WHAT['stop']}."
        if refusal is not None:
            await respond(text=refusal, response_type="ephemeral", replace_original=False)
            return
        await self.stop(sid, user, channel=channel, thread_ts=None, respond=respond)

    async def _jobs(self, sid: str) -> list[dict[str, Any]]:
        """This thread's open jobs for ``status`` (also those another replica watches)."""
        watcher = self.services.jobs
        if watcher is None:
            return []
        try:
            return [j for j in await watcher.all_status(sid) or [] if isinstance(j, dict)]
        except Exception:
            log.warning("job listing failed", exc_info=True)
            return []

    async def _cancel_jobs(self, sid: str, msg: Incoming) -> None:
        """``cancel jobs``: every job this thread started."""
        watcher = self.services.jobs
        if watcher is None:
            payload = notices.simple("Job cancellation isn't available in this deployment.")
            await self.replies.post(msg.channel, msg.root_ts, payload)
            return
        try:
            results = await watcher.cancel(sid, requested_by=msg.user)
        except Exception as exc:
            log.warning("cancel jobs failed", exc_info=True)
            payload = notices.error_payload(f"Cancelling jobs failed: {exc}", "jobs")
            await self.replies.post(msg.channel, msg.root_ts, payload)
            return
        await self.replies.post(
            msg.channel, msg.root_ts, notices.cancel_jobs_payload(list(results or []))
        )
