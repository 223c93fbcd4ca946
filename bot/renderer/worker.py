"""Engine events → Slack, per thread, in order, exactly once.

The manager calls :meth:`Renderer.on_event` for every persisted event; that only enqueues (it
must return at once). One worker per session folds events into the thread's render state
(:mod:`bot.renderer.state`), draws with the pure functions of each feature (``bot.conversation``, ``bot.approvals``,
``bot.jobs``), and writes
through the rate-safe :class:`~bot.slack.sender.SlackSender`:

* posts go through the ledger (:mod:`bot.slack.ledger`): a (session, seq, part) is posted once,
  even across restarts;
* edits (the progress message, approval cards, job cards) are idempotent and coalesced;
* the watermark and the state are saved together after anything visible happened, and when
  the queue drains; after a restart :meth:`catch_up` replays whatever came after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from agent_core.approvals import ApprovalBook
from agent_core.events import Event, EventType
from agent_core.store import Store
from bot.approvals import current_card as cards
from bot.approvals.card import needs_script_file, script_of
from bot.conversation import notices
from bot.conversation.answers import plan_answer
from bot.conversation.progress import progress_payload
from bot.jobs.buttons import finished_part, job_finished_mention, with_job_actions
from bot.jobs.card import job_payload, merge_job
from bot.renderer.state import DONE, FAILED, STOPPED, WAITING, ToolLine, TurnState, key_argument
from bot.settings import SlackSettings
from bot.slack.files import upload_text
from bot.slack.format import Payload
from bot.slack.keys import is_slack_session
from bot.slack.ledger import POSTED, Ledger, marker, matches_marker
from bot.slack.sender import HIGH, LOW, NORMAL, SenderClosed, SlackSender
from bot.slack.threads import ThreadRecord, ThreadStore, thread_replies
from gateways.providers.slack import RETRYABLE_ERRORS

log = logging.getLogger(__name__)

LIVE_WINDOW_S = 60.0  # older events are replays: no "is working…" status for them
WORKER_IDLE_S = 30.0
RENDER_ATTEMPTS = 3
RETRY_BASE_S = 0.25
RETRY_MAX_S = 60.0
# ok:false errors that mean "Slack is having a moment": one definition for every sender.
_TRANSIENT_ERRORS = RETRYABLE_ERRORS


def _transient(exc: BaseException) -> bool:
    """Worth retrying until it works: Slack down, slow or rate-limiting; the network."""
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        return status == 429 or status >= 500 or exc.response.get("error") in _TRANSIENT_ERRORS
    return isinstance(exc, aiohttp.ClientError | TimeoutError | OSError)


def _with_job_buttons(payload: Payload, job: dict[str, Any]) -> Payload:
    """The card plus its Cancel / Show logs / metrics-link row (added once)."""
    if any(str(b.get("block_id", "")).startswith("job_actions:") for b in payload.blocks):
        return payload
    return with_job_actions(payload, job)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack: {exc.response.get('error')}"
    return type(exc).__name__


_IGNORED = frozenset(
    {
        EventType.READY,
        EventType.ASSISTANT_CHUNK,
        EventType.ASSISTANT_STREAM_END,
        EventType.LLM_CALL,
        EventType.SHUTDOWN,
        EventType.NOTIFICATION,
    }
)
_CONTENT_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
        "invalid_metadata_format",
        "invalid_metadata_schema",
    }
)
_TOOL_STATES = {
    "approved": "approved",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "abandoned": "abandoned",
    "expired": "expired",
    "running": "running",
}


@dataclass(frozen=True)
class _Tick:
    """Post the progress message of turn ``turn_seq`` if the turn is still running."""

    turn_seq: int


class Renderer:
    def __init__(
        self,
        *,
        store: Store,
        approvals: ApprovalBook,
        sender: SlackSender,
        settings: SlackSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.approvals = approvals
        self.sender = sender
        self.settings = settings
        self.clock = clock
        self.threads = ThreadStore(store)
        self.ledger = Ledger(store)
        self.stopped_by: dict[str, str] = {}  # session → who pressed stop (cosmetic, in memory)
        self._queues: dict[str, asyncio.Queue[Event | _Tick | None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._timers: set[asyncio.Task[None]] = set()
        self._closing = False
        self.shutting_down = False  # set by the runtime: interruptions now mean "restarting"
        self._no_status: set[str] = set()

    # ------------------------------------------------------------------ intake
    async def on_event(self, event: Event) -> None:
        """The manager's listener: enqueue and return."""
        if self._closing or not is_slack_session(event.session_id):
            return
        if event.type in _IGNORED:
            return  # nothing to draw; the watermark skips them via the next gap fill
        self._enqueue(event.session_id, event)

    def kick(self, session_id: str) -> None:
        """Make the session's worker catch up with the store."""
        self._enqueue(session_id, None)

    def _enqueue(self, session_id: str, item: Event | _Tick | None) -> None:
        queue = self._queues.setdefault(session_id, asyncio.Queue())
        queue.put_nowait(item)
        task = self._workers.get(session_id)
        if task is None or task.done():
            self._workers[session_id] = asyncio.create_task(
                self._worker(session_id, queue), name=f"slack-render:{session_id}"
            )

    async def catch_up(self) -> int:
        """After a restart: replay every thread that has events beyond its watermark."""
        behind = await self.threads.behind()
        for sid in behind:
            self.kick(sid)
        return len(behind)

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is rendered (tests, shutdown). False on timeout."""
        try:
            await asyncio.wait_for(
                asyncio.gather(*(q.join() for q in list(self._queues.values()))), timeout
            )
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued (bounded), then stop the workers. The watermark is saved."""
        await self.drain(timeout)
        self._closing = True
        for task in list(self._timers):
            task.cancel()
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), *self._timers, return_exceptions=True)
        self._workers.clear()

    # ------------------------------------------------------------------ the worker
    async def _worker(self, session_id: str, queue: asyncio.Queue[Event | _Tick | None]) -> None:
        rec = await self.threads.load_or_derive(session_id)
        if rec is None:
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
            return
        dirty = False
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), WORKER_IDLE_S)
                except TimeoutError:
                    if queue.empty():
                        if self._queues.get(session_id) is queue:
                            del self._queues[session_id]  # idle: forget it until next time
                        return
                    continue
                try:
                    if isinstance(item, _Tick):
                        dirty |= await self._tick(rec, item)
                    elif item is not None and item.seq == rec.rendered_seq + 1:
                        dirty |= await self._apply(rec, item)
                    elif item is None or item.seq > rec.rendered_seq:
                        upto = item.seq if item is not None else None
                        for ev in await self.store.events_after(session_id, rec.rendered_seq):
                            if upto is not None and ev.seq > upto:
                                break
                            dirty |= await self._apply(rec, ev)
                    if dirty and queue.empty():
                        await self.threads.save(rec)
                        dirty = False
                finally:
                    queue.task_done()
        except (asyncio.CancelledError, SenderClosed):
            pass
        except Exception:
            log.exception("the renderer of %s stopped; it restarts with the next event", session_id)
        finally:
            if dirty:
                try:
                    await self.threads.save(rec)
                except Exception:
                    log.warning("could not save render state of %s", session_id, exc_info=True)
            if self._workers.get(session_id) is asyncio.current_task():
                self._workers.pop(session_id, None)

    async def _apply(self, rec: ThreadRecord, event: Event) -> bool:
        """Render one event, then advance the watermark.

        While Slack is unreachable or rate-limiting, the event is retried (with backoff) for
        as long as it takes — the thread waits rather than losing its answer, and a shutdown
        meanwhile leaves the watermark behind so the next start renders it. Other failures
        (a channel the bot was removed from, a bug) are retried briefly, then skipped.
        """
        changed = False
        if event.type not in _IGNORED:
            attempt = 0
            while True:
                attempt += 1
                try:
                    changed = await self._render(rec, event)
                    break
                except SenderClosed:
                    raise
                except Exception as exc:
                    transient = _transient(exc)
                    if not transient and attempt >= RENDER_ATTEMPTS:
                        log.exception(
                            "giving up rendering %s #%d of %s",
                            event.type,
                            event.seq,
                            rec.session_id,
                        )
                        break
                    log.warning(
                        "rendering %s #%d failed (%s); retrying",
                        event.type,
                        event.seq,
                        _describe(exc),
                        exc_info=not transient,
                    )
                    await asyncio.sleep(min(RETRY_MAX_S, RETRY_BASE_S * 2 ** min(attempt, 10)))
        rec.rendered_seq = event.seq
        if changed:
            await self.threads.save(rec)
        return True

    # ------------------------------------------------------------------ Slack helpers
    def _live(self, event: Event) -> bool:
        return self.clock() - event.ts < LIVE_WINDOW_S

    async def _post_once(
        self,
        rec: ThreadRecord,
        seq: int,
        part: str,
        payload: Payload,
        *,
        priority: int = NORMAL,
    ) -> str | None:
        """Post ``payload`` in the thread unless (session, seq, part) was already posted."""
        sid = rec.session_id
        entry = await self.ledger.get(sid, seq, part)
        if entry is not None and entry.status == POSTED:
            return entry.ts
        if entry is not None:  # pending: a crash between request and record; look first
            found = await self._find_marker(rec, seq, part)
            if found:
                await self.ledger.done(sid, seq, part, found)
                return found
        else:
            await self.ledger.begin(sid, seq, part, rec.channel)
        common = {
            "channel": rec.channel,
            "thread_ts": rec.thread_ts,
            "metadata": marker(sid, seq, part),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        try:
            data = await self.sender.call(
                rec.channel, "chat_postMessage", priority=priority, **common, **payload.kwargs()
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in _CONTENT_ERRORS:
                raise
            # Never silence: if Slack refuses the blocks, say it in plain text.
            log.error("Slack refused %s for %s #%d: %s", part, sid, seq, exc.response.get("error"))
            data = await self.sender.call(
                rec.channel,
                "chat_postMessage",
                priority=priority,
                **common,
                text=payload.text[:3_000] or "(this message could not be displayed)",
            )
        ts = data.get("ts") if isinstance(data, dict) else None
        await self.ledger.done(sid, seq, part, ts)
        return ts

    async def _upload_once(
        self, rec: ThreadRecord, seq: int, part: str, filename: str, content: str, title: str
    ) -> None:
        entry = await self.ledger.get(rec.session_id, seq, part)
        if entry is not None:
            return  # uploaded, or attempted before a crash: a missing file beats a double one
        await self.ledger.begin(rec.session_id, seq, part, rec.channel)
        file_id = await upload_text(
            self.sender,
            channel=rec.channel,
            thread_ts=rec.thread_ts,
            filename=filename,
            content=content,
            title=title,
            priority=HIGH,
        )
        await self.ledger.done(rec.session_id, seq, part, file_id)

    async def _find_marker(self, rec: ThreadRecord, seq: int, part: str) -> str | None:
        try:
            async for msg in thread_replies(
                self.sender, rec.channel, rec.thread_ts, max_pages=10, include_all_metadata=True
            ):
                if matches_marker(msg, rec.session_id, seq, part):
                    return msg.get("ts")
            return None
        except SlackApiError as exc:
            log.warning(
                "could not check the thread for an earlier post: %s", exc.response.get("error")
            )
        return None

    def _react(self, rec: ThreadRecord, ts: str | None, *, add: str = "", remove: str = "") -> None:
        """Fire-and-forget reaction changes on a user message (errors are harmless)."""
        if not ts:
            return
        if remove:
            self.sender.submit(
                rec.channel, "reactions_remove", channel=rec.channel, timestamp=ts, name=remove
            )
        if add:
            self.sender.submit(
                rec.channel, "reactions_add", channel=rec.channel, timestamp=ts, name=add
            )

    def _set_status(self, rec: ThreadRecord, status: str) -> None:
        """The "is working…" line under the thread. Where Slack refuses it (the app is not an
        assistant there, a missing scope), it is not tried again in that channel."""
        if not self.settings.assistant_status or rec.channel in self._no_status:
            return
        fut = self.sender.submit(
            rec.channel,
            "assistant_threads_setStatus",
            priority=LOW if not status else NORMAL,
            channel_id=rec.channel,
            thread_ts=rec.thread_ts,
            status=status,
        )

        def done(f: asyncio.Future[Any]) -> None:
            exc = None if f.cancelled() else f.exception()
            if isinstance(exc, SlackApiError):
                log.info(
                    "assistant status unavailable in %s (%s); not using it there",
                    rec.channel,
                    exc.response.get("error"),
                )
                self._no_status.add(rec.channel)

        fut.add_done_callback(done)

    # ------------------------------------------------------------------ progress
    def _progress(self, rec: ThreadRecord, turn: TurnState) -> Payload:
        return progress_payload(turn, session_id=rec.session_id, now=self.clock())

    async def _ensure_progress(self, rec: ThreadRecord) -> bool:
        turn = rec.state.turn
        if turn is None or turn.progress_ts or not turn.active:
            return False
        turn.progress_ts = await self._post_once(
            rec, turn.seq, "progress", self._progress(rec, turn)
        )
        return True

    def _edit_progress(
        self, rec: ThreadRecord, *, final: bool = False
    ) -> asyncio.Future[Any] | None:
        turn = rec.state.turn
        if turn is None or not turn.progress_ts:
            return None
        payload = self._progress(rec, turn)
        return self.sender.edit(
            rec.channel, turn.progress_ts, text=payload.text, blocks=payload.blocks, final=final
        )

    def _schedule_tick(self, rec: ThreadRecord, turn: TurnState) -> None:
        delay = self.settings.progress_delay_s

        async def fire() -> None:
            await asyncio.sleep(delay)
            if not self._closing:
                self._enqueue(rec.session_id, _Tick(turn.seq))

        task = asyncio.create_task(fire())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _tick(self, rec: ThreadRecord, tick: _Tick) -> bool:
        turn = rec.state.turn
        if turn is None or turn.seq != tick.turn_seq or not turn.active or turn.progress_ts:
            return False
        return await self._ensure_progress(rec)

    async def _end_turn(
        self, rec: ThreadRecord, event: Event, status: str
    ) -> asyncio.Future[Any] | None:
        """Close the current turn: final progress edit (not awaited here) and reactions."""
        turn = rec.state.turn
        if turn is None or not turn.active:
            return None
        turn.status = status
        turn.ended_at = event.ts
        if status == STOPPED:
            turn.stopped_by = self.stopped_by.pop(rec.session_id, None) or (
                "restart" if self.shutting_down else None
            )
        reactions = self.settings.reactions
        final_reaction = {
            DONE: reactions.done,
            FAILED: reactions.failed,
            STOPPED: reactions.stopped,
        }.get(status, "")
        if status != WAITING and turn.user_ts and final_reaction:
            self._react(rec, turn.user_ts, remove=reactions.received, add=final_reaction)
        return self._edit_progress(rec, final=True)

    @staticmethod
    async def _settle(fut: asyncio.Future[Any] | None) -> None:
        if fut is None:
            return
        try:
            await fut
        except SenderClosed:
            raise
        except Exception:
            log.warning("final progress edit failed", exc_info=True)

    # ------------------------------------------------------------------ dispatch
    async def _render(self, rec: ThreadRecord, ev: Event) -> bool:
        handler = getattr(self, f"_on_{ev.type}", None)
        if handler is None:
            return False
        return bool(await handler(rec, ev))

    async def _on_processing(self, rec: ThreadRecord, ev: Event) -> bool:
        meta = ev.data.get("meta") or {}
        user_ts = meta.get("slack_ts") or rec.state.last_user_ts
        current = rec.state.turn
        if (
            current is not None
            and current.active
            and current.seq < ev.seq
            and not meta.get("slack_ts")
        ):
            return False  # the continuation of a turn begun by an approval: keep it
        if current is not None and current.active:
            await self._settle(await self._end_turn(rec, ev, DONE))
        turn = TurnState(seq=ev.seq, started_at=ev.ts, user_ts=user_ts)
        rec.state.turn = turn
        rec.state.last_user_ts = user_ts
        if meta.get("queued") and user_ts:
            reactions = self.settings.reactions
            self._react(rec, user_ts, remove=reactions.queued, add=reactions.received)
        if self._live(ev):
            self._set_status(rec, "is working on it…")
        if self.settings.progress_delay_s <= 0:
            await self._ensure_progress(rec)
        elif self._live(ev):
            self._schedule_tick(rec, turn)
        return True

    async def _on_tool_call(self, rec: ThreadRecord, ev: Event) -> bool:
        turn = rec.state.turn
        if turn is None or not turn.active:
            return False
        d = ev.data
        tcid = str(d.get("tool_call_id") or f"seq{ev.seq}")
        if turn.tool(tcid) is None:
            key = key_argument(str(d.get("tool")), d.get("arguments"), d.get("key_argument"))
            turn.tools.append(ToolLine(id=tcid, tool=str(d.get("tool") or "?"), key=key))
        if not await self._ensure_progress(rec):
            self._edit_progress(rec)
        return True

    async def _on_tool_output(self, rec: ThreadRecord, ev: Event) -> bool:
        turn = rec.state.turn
        line = turn.tool(str(ev.data.get("tool_call_id"))) if turn else None
        if line is None:
            return False
        line.state = "ok" if ev.data.get("success") else "failed"
        self._edit_progress(rec)
        return True

    async def _on_tool_state_change(self, rec: ThreadRecord, ev: Event) -> bool:
        turn = rec.state.turn
        line = turn.tool(str(ev.data.get("tool_call_id"))) if turn else None
        state = _TOOL_STATES.get(str(ev.data.get("state")))
        if line is None or state is None or line.state in ("ok", "failed"):
            return False
        line.state = state
        self._edit_progress(rec)
        return True

    async def _on_tool_log(self, rec: ThreadRecord, ev: Event) -> bool:
        turn = rec.state.turn
        if turn is None or not turn.active:
            return False
        tool = str(ev.data.get("tool") or "")
        text = " ".join(str(ev.data.get("log") or "").split())[:200]
        turn.note = f"{tool}: {text}" if tool and tool != "system" else text
        self._edit_progress(rec)
        return False  # the note is cosmetic: not worth a state write per log line

    async def _on_assistant_message(self, rec: ThreadRecord, ev: Event) -> bool:
        turn = rec.state.turn
        if turn is None or not turn.active or not turn.progress_ts:
            return False
        text = " ".join(str(ev.data.get("content") or "").split())
        if text:
            turn.note = text[:200] + ("…" if len(text) > 200 else "")
            self._edit_progress(rec)
        return False

    async def _on_plan_update(self, rec: ThreadRecord, ev: Event) -> bool:
        plan = [p for p in ev.data.get("plan") or [] if isinstance(p, dict)]
        rec.state.plan = plan
        turn = rec.state.turn
        if turn is None or not turn.active:
            return True
        turn.plan = plan
        if not await self._ensure_progress(rec):
            self._edit_progress(rec)
        return True

    async def _on_turn_complete(self, rec: ThreadRecord, ev: Event) -> bool:
        final_edit = await self._end_turn(rec, ev, DONE)
        answer = ev.data.get("final_response")
        plan = plan_answer(
            str(answer or ""),
            message_chars=self.settings.message_chars,
            upload_threshold_chars=self.settings.upload_threshold_chars,
            preview_chars=self.settings.preview_chars,
        )
        for i, payload in enumerate(plan.messages):
            await self._post_once(rec, ev.seq, f"answer:{i}", payload, priority=HIGH)
        if plan.file_name and plan.file_content:
            await self._upload_once(
                rec, ev.seq, "answer:file", plan.file_name, plan.file_content, "Full answer"
            )
        if not plan.messages and self._live(ev):
            self._set_status(rec, "")
        await self._settle(final_edit)
        return True

    async def _on_error(self, rec: ThreadRecord, ev: Event) -> bool:
        final_edit = await self._end_turn(rec, ev, FAILED)
        payload = notices.error_payload(str(ev.data.get("error") or ""), ev.data.get("kind"))
        await self._post_once(rec, ev.seq, "error", payload, priority=HIGH)
        await self._settle(final_edit)
        return True

    async def _on_interrupted(self, rec: ThreadRecord, ev: Event) -> bool:
        turn = rec.state.turn
        had_progress = bool(turn and turn.active and turn.progress_ts)
        who = self.stopped_by.get(rec.session_id) or ("restart" if self.shutting_down else None)
        final_edit = await self._end_turn(rec, ev, STOPPED)
        if not had_progress:
            await self._post_once(
                rec, ev.seq, "stopped", notices.stopped_payload(who), priority=HIGH
            )
        elif self._live(ev):
            self._set_status(rec, "")
        self.stopped_by.pop(rec.session_id, None)
        await self._settle(final_edit)
        return True

    async def _on_session_terminated(self, rec: ThreadRecord, ev: Event) -> bool:
        final_edit = await self._end_turn(rec, ev, FAILED)
        reason = ev.data.get("user_message") or ev.data.get("error") or ev.data.get("reason")
        await self._post_once(
            rec, ev.seq, "terminated", notices.error_payload(str(reason), "terminated")
        )
        await self._settle(final_edit)
        return True

    async def _on_approval_required(self, rec: ThreadRecord, ev: Event) -> bool:
        final_edit = await self._end_turn(rec, ev, WAITING)
        batch_id = str(ev.data.get("batch_id") or "")
        card = await cards.current_card(
            self.store,
            self.approvals,
            rec.session_id,
            batch_id,
            request=ev.data,
            preview_lines=self.settings.script_preview_lines,
        )
        if card is None:
            return False
        ts = await self._post_once(rec, ev.seq, "card", card, priority=HIGH)
        rec.state.cards[batch_id] = {"seq": ev.seq, "ts": ts}
        await self.threads.save(rec)  # clicks may arrive now; the card must be findable
        for call in ev.data.get("tools") or []:
            script = script_of(call)
            if script and needs_script_file(call, self.settings.script_preview_lines):
                name = "script.py" if call.get("tool") == "hf_jobs" else "command.sh"
                await self._upload_once(
                    rec,
                    ev.seq,
                    f"script:{call.get('tool_call_id')}",
                    name,
                    script,
                    f"Full script for {call.get('tool')}",
                )
        await self._settle(final_edit)
        return True

    async def _on_approval_resolved(self, rec: ThreadRecord, ev: Event) -> bool:
        batch_id = str(ev.data.get("batch_id") or "")
        outcome = ev.data.get("outcome")
        info = rec.state.cards.get(batch_id) or {}
        ts = info.get("ts")
        if not ts:
            source = await cards.find_request(self.store, rec.session_id, batch_id)
            entry = await self.ledger.get(rec.session_id, source.seq, "card") if source else None
            ts = entry.ts if entry else None
        if ts:
            card = await cards.current_card(
                self.store,
                self.approvals,
                rec.session_id,
                batch_id,
                outcome=outcome if outcome in ("expired", "abandoned") else None,
                preview_lines=self.settings.script_preview_lines,
            )
            if card is not None:
                await self._settle(
                    self.sender.edit(
                        rec.channel, ts, text=card.text, blocks=card.blocks, final=True
                    )
                )
        approved = [d for d in ev.data.get("decisions") or [] if d.get("status") == "approved"]
        if outcome == "decided" and approved:
            # The approved calls run now, before the engine's next `processing`: show them
            # in a progress message (with its Stop button) as the continuation of the turn.
            turn = TurnState(seq=ev.seq, started_at=ev.ts, user_ts=rec.state.last_user_ts)
            turn.tools = [
                ToolLine(
                    id=str(d.get("tool_call_id")), tool=str(d.get("tool") or "?"), state="running"
                )
                for d in approved
            ]
            turn.plan = list(rec.state.plan)
            rec.state.turn = turn
            await self._ensure_progress(rec)
        return True

    async def _on_compacted(self, rec: ThreadRecord, ev: Event) -> bool:
        turn = rec.state.turn
        if turn is not None and turn.active:
            turn.note = "Compacted the conversation to free context."
            self._edit_progress(rec)
            return False
        await self._post_once(rec, ev.seq, "notice", notices.compacted_payload(ev.data))
        return True

    async def _on_undo_complete(self, rec: ThreadRecord, ev: Event) -> bool:
        rec.state.plan = []
        await self._post_once(rec, ev.seq, "notice", notices.undo_payload(ev.data))
        return True

    async def _on_session_update(self, rec: ThreadRecord, ev: Event) -> bool:
        payload = notices.session_update_payload(ev.data)
        if payload is None:
            return False
        await self._post_once(rec, ev.seq, "notice", payload)
        return True

    async def _job_event(self, rec: ThreadRecord, ev: Event) -> bool:
        job_id = str(ev.data.get("job_id") or "")
        if not job_id:
            return False
        job = merge_job(rec.state.jobs.get(job_id, {}), ev.type, ev.data, ev.ts)
        rec.state.jobs[job_id] = job
        payload = _with_job_buttons(job_payload(job, now=self.clock()), job)
        final = ev.type == EventType.JOB_FINISHED
        if not job.get("ts"):
            job["ts"] = await self._post_once(rec, ev.seq, f"job:{job_id}", payload)
        else:
            fut = self.sender.edit(
                rec.channel, job["ts"], text=payload.text, blocks=payload.blocks, final=final
            )
            if final:
                await self._settle(fut)
        if final:
            # A card edit notifies nobody, and jobs end hours later: say it in the thread,
            # mentioning the requester (once per job, through the ledger).
            await self._post_once(
                rec, ev.seq, finished_part(job_id), job_finished_mention(job), priority=HIGH
            )
        return final or ev.type == EventType.JOB_STARTED

    _on_job_started = _job_event
    _on_job_progress = _job_event
    _on_job_finished = _job_event
