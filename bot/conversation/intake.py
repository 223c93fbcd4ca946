"""The gateway: what happens after a Slack input has been acked and routed.

Listeners are thin (parse Bolt's arguments, call one method here); the behaviour lives here so
it reads top to bottom: feedback on the user's message first, then the store, then the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from agent_core.events import Compact, SetModel, SetYolo, Undo, UserInput
from bot.access import Access
from bot.approvals.flow import ApprovalFlow
from bot.conversation import notices
from bot.conversation.commands import Command, parse_command
from bot.settings import SlackSettings
from bot.slack.format import Payload, parse_button_value
from bot.slack.keys import ThreadRef, make_origin
from bot.slack.sender import HIGH, NORMAL, SlackSender
from bot.slack.threads import thread_replies

if TYPE_CHECKING:
    from agent_core.config import Config
    from agent_core.manager import SessionManager
    from agent_core.store import Store
    from agent_core.tools.base import Services
    from bot.renderer.worker import Renderer

log = logging.getLogger(__name__)

REFUSALS_KV = "slack_refusals"


@dataclass(frozen=True)
class Incoming:
    """A routed message: one the bot must answer (see :mod:`bot.slack.middleware`)."""

    team: str
    channel: str
    channel_type: str
    user: str
    text: str
    ts: str
    thread_ts: str | None  # the thread root if the message is a reply
    is_mention: bool
    session_exists: bool
    files: tuple[str, ...] = ()

    @property
    def root_ts(self) -> str:
        return self.thread_ts or self.ts

    @property
    def ref(self) -> ThreadRef:
        return ThreadRef(self.team, self.channel, self.root_ts)


def strip_mentions(text: str, bot_user_id: str | None) -> str:
    """Remove the bot's own mention (other people's mentions are meaningful context)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


class Gateway:
    def __init__(
        self,
        *,
        settings: SlackSettings,
        config: Config,
        manager: SessionManager,
        store: Store,
        client: Any,
        sender: SlackSender,
        renderer: Renderer,
        services: Services | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.manager = manager
        self.store = store
        self.client = client
        self.sender = sender
        self.renderer = renderer
        self.services = services
        self.access = Access(settings, client)
        self.approvals = ApprovalFlow(self)
        self.bot_user_id: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight = 0
        self._intake_locks: dict[str, list[Any]] = {}  # session → [lock, users]
        self.llm_ready = asyncio.Event()  # set by the runtime once litellm is imported
        self._idle = asyncio.Event()
        self._idle.set()

    async def thread_known(self, sid: str) -> bool:
        """Does this thread have a session (or one being started)?"""
        if await self.manager.exists(sid):
            return True
        return await self.renderer.threads.get(sid) is not None

    # ------------------------------------------------------------------ background work
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "slack-task") -> asyncio.Task[Any]:
        """Run after the ack, tracked so shutdown can wait for it."""
        task = asyncio.create_task(self._guard(coro), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background Slack task failed")

    @contextlib.asynccontextmanager
    async def inflight(self) -> AsyncIterator[None]:
        """Mark listener work in progress, so shutdown waits for it (a message that was acked
        must reach the engine's queue before the engine stops taking work)."""
        self._inflight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def wait_tasks(self, timeout: float) -> None:
        """Wait (bounded) for listener work and background tasks started after acks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("shutting down with %d Slack input(s) still being handled", self._inflight)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=max(0.0, deadline - loop.time()))

    async def wait_llm(self, timeout: float = 60.0) -> None:
        """Hold a new turn until the LLM client is imported (only in the first seconds after
        start): the import takes seconds and must not happen on the event loop."""
        if self.llm_ready.is_set():
            return
        try:
            await asyncio.wait_for(self.llm_ready.wait(), timeout)
        except TimeoutError:
            log.warning("LLM warm-up is slow; starting the turn anyway")

    # ------------------------------------------------------------------ messages
    async def handle_message(self, msg: Incoming) -> None:
        """A message addressed to the bot: a command, or input for the thread's session."""
        text = strip_mentions(msg.text, self.bot_user_id)
        command = parse_command(text)
        if command is not None:
            await self.run_command(command, msg)
            return
        if not text and not msg.files:
            await self._reply(msg, notices.help_payload())
            return
        sid = msg.ref.session_id
        # One message at a time per thread from ack to the engine's queue, so messages sent
        # in quick succession reach the session in the order Slack delivered them. The
        # feedback reaction comes first, before waiting for an earlier message's intake.
        entry = self._intake_locks.setdefault(sid, [asyncio.Lock(), 0])
        ahead = entry[1] > 0
        entry[1] += 1  # holders and waiters: the lock is dropped only when nobody needs it
        try:
            exists = await self.manager.exists(sid)
            queued = ahead or (
                exists and (self.manager.is_busy(sid) or await self.manager.queued_count(sid) > 0)
            )
            reactions = self.settings.reactions
            feedback = reactions.queued if queued else reactions.received
            if feedback:
                self._react(msg.channel, msg.ts, feedback)
            async with entry[0]:
                await self._intake_message(msg, text, sid, queued)
        finally:
            entry[1] -= 1
            if entry[1] == 0 and self._intake_locks.get(sid) is entry:
                del self._intake_locks[sid]

    async def _intake_message(self, msg: Incoming, text: str, sid: str, queued: bool) -> None:
        exists = await self.manager.exists(sid)  # again: an earlier message may have made it
        try:
            # The thread is ours from now on (follow-ups are routed to it even before the
            # engine has created the session, e.g. while the LLM client warms up).
            await self.renderer.threads.ensure(msg.ref)
            if not exists and msg.thread_ts and msg.thread_ts != msg.ts:
                text = await self._seeded(msg, text)
            if msg.files:
                text += "\n\n(Attached files: " + ", ".join(msg.files) + ")"
            await self.wait_llm()
            await self.manager.submit(
                sid,
                UserInput(text=text, user=msg.user, meta={"slack_ts": msg.ts, "queued": queued}),
                origin=make_origin(msg.ref, msg.user, msg.channel_type),
            )
        except Exception as exc:
            log.exception("could not hand a message to the engine")
            await self._reply(
                msg,
                notices.error_payload(
                    f"I couldn't start working on this ({type(exc).__name__}).", "intake"
                ),
            )

    async def _seeded(self, msg: Incoming, text: str) -> str:
        """Prefix the first input of a session started inside an existing human thread."""
        limit = self.settings.seed_thread_messages
        if limit <= 0 or not msg.thread_ts:
            return text
        messages: list[dict[str, Any]] = []
        try:
            async for m in thread_replies(self.sender, msg.channel, msg.thread_ts, max_pages=5):
                messages.append(m)
        except SlackApiError as exc:
            log.warning(
                "could not read the thread to seed the session: %s", exc.response.get("error")
            )
            return text
        earlier = [
            m
            for m in messages
            if m.get("ts") != msg.ts
            and float(m.get("ts") or 0) < float(msg.ts)
            and m.get("user") != self.bot_user_id
            and (m.get("text") or "").strip()
        ][-limit:]
        if not earlier:
            return text
        lines = []
        for m in earlier:
            who = f"<@{m['user']}>" if m.get("user") else (m.get("username") or "a bot")
            body = " ".join(str(m.get("text")).split())[:2_000]
            lines.append(f"{who}: {body}")
        return (
            "[You were just mentioned in an existing Slack thread. Its most recent messages "
            "before the mention, oldest first:]\n" + "\n".join(lines) + "\n[End of thread "
            "context. The message addressed to you follows.]\n\n" + text
        )

    async def handle_slash(self, body: dict[str, Any], respond: Any) -> None:
        """``/ml-intern <request>`` in a channel: post the request as a thread root, then treat
        it like a mention there (the thread is the session; the caller is the requester)."""
        text = str(body.get("text") or "").strip()
        user = str(body.get("user_id") or "")
        channel = str(body.get("channel_id") or "")
        if not text or text.lower() in ("help", "?"):
            await respond(text=notices.HELP_TEXT, response_type="ephemeral")
            return
        try:
            data = await self.sender.call(
                channel,
                "chat_postMessage",
                priority=HIGH,
                channel=channel,
                text=f"<@{user}> asked: {text}"[:3_000],
            )
        except SlackApiError as exc:
            error = exc.response.get("error")
            hint = (
                "Invite me to this channel first (`/invite @ml-intern`), or mention me instead."
                if error in ("not_in_channel", "channel_not_found")
                else f"Slack said: {error}."
            )
            await respond(text=f"I couldn't start a thread here. {hint}", response_type="ephemeral")
            return
        root = str(data.get("ts"))
        channel_type = "im" if channel.startswith("D") else "channel"
        await self.handle_message(
            Incoming(
                team=str(body.get("team_id") or ""),
                channel=channel,
                channel_type=channel_type,
                user=user,
                text=text,
                ts=root,
                thread_ts=None,
                is_mention=True,
                session_exists=False,
            )
        )

    # ------------------------------------------------------------------ commands
    async def run_command(self, cmd: Command, msg: Incoming) -> None:
        sid = msg.ref.session_id
        if cmd.name == "help":
            await self._reply(msg, notices.help_payload())
            return
        if not await self.manager.exists(sid):
            await self._ephemeral(
                msg.channel,
                msg.user,
                "There's no session in this thread yet — mention me with a request to start one.",
                msg.thread_ts,
            )
            return
        if cmd.name == "stop":
            await self.stop(sid, msg.user, channel=msg.channel, thread_ts=msg.root_ts)
        elif cmd.name == "status":
            info = await self.manager.session_info(sid)
            await self._reply(msg, notices.status_payload(info, jobs=await self._jobs(sid)))
        elif cmd.name == "compact":
            await self._queue_op(msg, Compact())
        elif cmd.name == "undo":
            await self._queue_op(msg, Undo())
        elif cmd.name == "model":
            await self._queue_op(msg, SetModel(model=cmd.model or ""))
        elif cmd.name == "yolo":
            if await self._may(msg, "default", "change YOLO mode here"):
                await self._queue_op(msg, SetYolo(enabled=bool(cmd.enabled), cap_usd=cmd.cap_usd))
        elif cmd.name == "cancel_jobs":
            if await self._may(msg, "gpu_job", "cancel this thread's jobs"):
                await self._cancel_jobs(sid, msg)

    async def _may(self, msg: Incoming, approval_class: str, what: str) -> bool:
        """Spending (YOLO) and cancelling jobs: the requester or the class's approvers."""
        row = await self.store.get_session(msg.ref.session_id)
        requester = (row or {}).get("origin", {}).get("requester")
        if await self.access.may_decide(
            msg.user, requester=requester, approval_class=approval_class
        ):
            return True
        who = self.access.describe_deciders(approval_class, requester)
        await self._ephemeral(msg.channel, msg.user, f"Only {who} can {what}.", msg.thread_ts)
        return False

    async def _queue_op(self, msg: Incoming, op: Any) -> None:
        sid = msg.ref.session_id
        if self.manager.is_busy(sid) and self.settings.reactions.queued:
            self._react(msg.channel, msg.ts, self.settings.reactions.queued)
        await self.wait_llm()
        await self.manager.submit(sid, op)

    async def stop(
        self, sid: str, user: str, *, channel: str, thread_ts: str | None, respond: Any = None
    ) -> None:
        """Stop the running turn (or withdraw the pending approval)."""
        self.renderer.stopped_by[sid] = user
        outcome = await self.manager.interrupt(sid)
        if outcome == "idle":
            self.renderer.stopped_by.pop(sid, None)
            if respond is not None:
                await respond(
                    text="Nothing is running in this thread.",
                    response_type="ephemeral",
                    replace_original=False,
                )
            else:
                await self._ephemeral(
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
        await self.stop(sid, user, channel=channel, thread_ts=None, respond=respond)

    # -------------------------------------------------------------- jobs (issue 4's watcher)
    def _watcher(self) -> Any:
        return getattr(self.services, "jobs", None) if self.services is not None else None

    async def _jobs(self, sid: str) -> list[dict[str, Any]]:
        """This thread's watched jobs for ``status`` (``services.jobs.status(session_id)``)."""
        fn = getattr(self._watcher(), "status", None)
        if fn is None:
            return []
        try:
            result = fn(sid)
            if asyncio.iscoroutine(result):
                result = await result
            return [j for j in result or [] if isinstance(j, dict)]
        except Exception:
            log.warning("job listing failed", exc_info=True)
            return []

    async def _cancel_jobs(self, sid: str, msg: Incoming) -> None:
        """``cancel jobs``: ``services.jobs.cancel(session_id, requested_by=user)``."""
        fn = getattr(self._watcher(), "cancel", None)
        if fn is None:
            await self._reply(
                msg, notices.simple("Job cancellation isn't available in this deployment.")
            )
            return
        try:
            results = await fn(sid, requested_by=msg.user)
        except Exception as exc:
            log.warning("cancel jobs failed", exc_info=True)
            await self._reply(msg, notices.error_payload(f"Cancelling jobs failed: {exc}", "jobs"))
            return
        await self._reply(msg, notices.cancel_jobs_payload(list(results or [])))

    # ------------------------------------------------------------------ allow-lists
    async def refuse(self, channel: str, user: str, thread_ts: str | None) -> None:
        """One polite ephemeral refusal per user and channel (per ``refusal_every_s``)."""
        key = f"{channel}:{user}"
        last = await self.store.kv_get(REFUSALS_KV, key)
        now = time.time()
        if isinstance(last, int | float) and now - last < self.settings.refusal_every_s:
            return
        await self.store.kv_set(REFUSALS_KV, key, now)
        await self._ephemeral(channel, user, self.settings.refusal_text, thread_ts)

    # ------------------------------------------------------------------ Slack helpers
    def _react(self, channel: str, ts: str, name: str) -> None:
        self.sender.submit(
            channel, "reactions_add", priority=HIGH, channel=channel, timestamp=ts, name=name
        )

    async def _reply(self, msg: Incoming, payload: Payload) -> None:
        try:
            await self.sender.call(
                msg.channel,
                "chat_postMessage",
                priority=NORMAL,
                channel=msg.channel,
                thread_ts=msg.root_ts,
                **payload.kwargs(),
            )
        except SlackApiError as exc:
            log.warning("reply failed: %s", exc.response.get("error"))

    async def _ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None) -> None:
        kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await self.sender.call(channel, "chat_postEphemeral", priority=NORMAL, **kwargs)
        except SlackApiError as exc:
            log.warning("ephemeral message failed: %s", exc.response.get("error"))
