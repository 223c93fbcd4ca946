"""Engine events → Slack, per thread, in order, exactly once.

The manager calls :meth:`Renderer.on_event` for every persisted event; that only enqueues (it
must return at once). One worker per session folds events into the thread's render state
(:mod:`bot.renderer.state`) through the handler table (:mod:`bot.renderer.handlers`), which
draws with each feature's pure functions and writes through the ledger-backed
:class:`~bot.renderer.output.ThreadOutput`:

* posts go through the ledger: a (session, seq, part) is posted once, even across restarts;
* edits (the progress message, approval cards, job cards) are idempotent and coalesced;
* the watermark and the state are saved together once the thread settles (the queue is empty
  and no turn is running), or after :data:`SAVE_AFTER_S` of quiet during a turn, or when the
  worker stops — not after every event: replaying events after a crash is safe (posts go
  through the ledger, edits are idempotent), so the watermark only bounds how much is
  replayed. After a restart :meth:`catch_up` replays whatever came after it.
* events with nothing to draw (:data:`~bot.renderer.handlers.IGNORED`) still pass through the
  queue so the watermark moves over them in memory; otherwise every such event would leave a
  gap that the next drawn event fills with a read of the log.

The worker is also the one writer of approval cards: a decision taken by a click asks for a
redraw (:meth:`Renderer.redraw_card`), which is queued behind the thread's events.

Several replicas (one Postgres store): each replica's renderer hears only the events its own
manager emits, but a thread's events may be emitted on any replica (the turn on the session's
holder; a click, a Stop, the approval sweeper or the job watcher on another). The render state
(watermark, state, ledger) is shared, so a thread is rendered by **one replica at a time**: a
worker claims the thread's *render lease* (``render:<session id>``, through the same
:class:`~agent_core.replicas.Ownership` as the sessions; free on SQLite) before loading its
record, renews it while it works, checks it before every event it renders (fencing), and
releases it once its queue has been idle for a moment. A replica that cannot claim it drops
what it queued — the events are in the store — and wakes the holder (``RENDER_CHANNEL``, with
the cards to redraw), whose worker catches up from the store; after releasing, a worker looks
once more for events past its watermark (emitted elsewhere meanwhile) and catches up again.
The replica patrol re-runs :meth:`catch_up`, so a thread whose renderer died is picked up once
its lease expires. Every event is rendered once: by whichever replica holds the lease when it
gets to it, from the shared watermark, with posts through the shared ledger.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError

from agent_core.approvals import ApprovalBook
from agent_core.events import Event
from agent_core.replicas import RENDER_CHANNEL, Claim, LeaseLost, LocalOwnership, Ownership
from agent_core.retry import backoff_delay, retry_after_from_headers
from agent_core.store import Store
from bot.approvals.rendering import redraw_card
from bot.conversation.turns import on_tick
from bot.renderer.context import RenderContext
from bot.renderer.handlers import HANDLERS, IGNORED
from bot.renderer.output import ThreadOutput
from bot.renderer.state import TurnState
from bot.settings import SlackSettings
from bot.slack.keys import is_slack_session
from bot.slack.ledger import Ledger
from bot.slack.sender import SenderClosed, SlackSender
from bot.slack.threads import ThreadRecord, ThreadStore
from gateways.providers.slack_errors import error_code, is_retryable

log = logging.getLogger(__name__)

WORKER_IDLE_S = 30.0
# With replicas, a thread's render lease is given back this soon after its queue drains, so
# the replica running the thread's next turn usually renders it itself.
SHARED_IDLE_S = 2.0
SAVE_AFTER_S = 1.0  # during a turn: save the watermark after this much quiet
RENDER_ATTEMPTS = 3  # for failures that are not Slack or the network being unavailable
RETRY_BASE_S = 0.5
RETRY_MAX_S = 60.0


@dataclass(frozen=True)
class _Tick:
    """Post the progress message of turn ``turn_seq`` if the turn is still running."""

    turn_seq: int


@dataclass(frozen=True)
class _RedrawCard:
    """Redraw the approval card of ``batch_id`` from the stored decisions."""

    batch_id: str


_Item = Event | _Tick | _RedrawCard | None  # None: catch up with the store


def _transient(exc: BaseException) -> bool:
    """Worth retrying until it works: Slack down, slow or rate-limiting; the network."""
    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        return is_retryable(status, error_code(exc.response))
    return isinstance(exc, aiohttp.ClientError | TimeoutError | OSError)


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, SlackApiError):
        return retry_after_from_headers(getattr(exc.response, "headers", None))
    return None


def _settled(rec: ThreadRecord) -> bool:
    """No turn running in the thread: a good moment to save how far it is drawn."""
    return rec.state.turn is None or not rec.state.turn.active


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack: {error_code(exc.response)}"
    return type(exc).__name__


class Renderer:
    def __init__(
        self,
        *,
        store: Store,
        approvals: ApprovalBook,
        sender: SlackSender,
        settings: SlackSettings,
        threads: ThreadStore,
        clock: Callable[[], float] = time.time,
        ownership: Ownership | None = None,
    ) -> None:
        self.store = store
        self.ownership = ownership or LocalOwnership("")
        self._idle_s = SHARED_IDLE_S if self.ownership.shared else WORKER_IDLE_S
        self.threads = threads
        self.ledger = Ledger(store)
        self.ctx = RenderContext(
            store=store,
            approvals=approvals,
            settings=settings,
            threads=threads,
            ledger=self.ledger,
            out=ThreadOutput(sender, self.ledger, assistant_status=settings.assistant_status),
            clock=clock,
            schedule_tick=self._schedule_tick,
        )
        self._queues: dict[str, asyncio.Queue[_Item]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._timers: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def worker_count(self) -> int:
        """Threads with a live render worker (the heap trimmer watches this fall)."""
        return len(self._workers)

    # ------------------------------------------------------------------ intake
    async def on_event(self, event: Event) -> None:
        """The manager's listener: enqueue and return."""
        if self._closing or not is_slack_session(event.session_id):
            return
        if event.type in IGNORED and not event.seq:
            return  # a transient delta: not in the log, the watermark never counts it
        self._enqueue(event.session_id, event)

    def kick(self, session_id: str) -> None:
        """Make the session's worker catch up with the store."""
        self._enqueue(session_id, None)

    def redraw_card(self, session_id: str, batch_id: str) -> None:
        """Redraw an approval card after a decision (queued behind the thread's events)."""
        if not self._closing:
            self._enqueue(session_id, _RedrawCard(batch_id))

    def _enqueue(self, session_id: str, item: _Item) -> None:
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

    async def listen(self) -> None:
        """With replicas: take wake-ups from replicas that could not render a thread, and
        catch up on every patrol round (threads a dead replica left behind)."""
        if self.ownership.shared:
            await self.ownership.listen(RENDER_CHANNEL, self._on_wake)
            self.ownership.patrol(self.catch_up)

    def _on_wake(self, payload: str) -> None:
        try:
            wanted = json.loads(payload)
            session_id = str(wanted["session"])
            cards = [str(c) for c in wanted.get("cards") or ()]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed render wake-up: %.200r", payload)
            return
        if self._closing:
            return
        self.kick(session_id)
        for batch_id in cards:
            self.redraw_card(session_id, batch_id)

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

    def _schedule_tick(self, rec: ThreadRecord, turn: TurnState) -> None:
        delay = self.ctx.settings.progress_delay_s

        async def fire() -> None:
            await asyncio.sleep(delay)
            if not self._closing:
                self._enqueue(rec.session_id, _Tick(turn.seq))

        task = asyncio.create_task(fire())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    # ------------------------------------------------------------------ the worker
    async def _worker(self, session_id: str, queue: asyncio.Queue[_Item]) -> None:
        claim = await self._claim(session_id)
        if claim is None:
            await self._hand_over(session_id, queue)
            return
        rec: ThreadRecord | None = None
        unsaved = False
        try:
            rec = await self.threads.load_or_derive(session_id)
            if rec is None:
                self._discard(queue)
                return
            while True:
                try:
                    item = await asyncio.wait_for(
                        queue.get(), SAVE_AFTER_S if unsaved else self._idle_s
                    )
                except TimeoutError:
                    if unsaved:  # quiet in the middle of a turn: record how far it is drawn
                        await self.threads.save(rec)
                        unsaved = False
                        continue
                    if queue.empty():
                        if self._queues.get(session_id) is queue:
                            del self._queues[session_id]  # idle: forget it until next time
                        return
                    continue
                try:
                    unsaved |= await self._handle(rec, item, claim)
                    if unsaved and queue.empty() and _settled(rec):
                        await self.threads.save(rec)
                        unsaved = False
                finally:
                    queue.task_done()
        except (asyncio.CancelledError, SenderClosed):
            pass
        except LeaseLost:
            log.warning("another replica renders %s now; stopped here", session_id)
        except Exception:
            log.exception("the renderer of %s stopped; it restarts with the next event", session_id)
        finally:
            if unsaved and not claim.lost:
                try:
                    await self.threads.save(rec)  # type: ignore[arg-type]
                except Exception:
                    log.warning("could not save render state of %s", session_id, exc_info=True)
            await self._finish(session_id, claim, rec)

    async def _claim(self, session_id: str) -> Claim | None:
        task = asyncio.current_task()
        try:
            return await self.ownership.claim(
                f"render:{session_id}", on_lost=task.cancel if task is not None else None
            )
        except Exception:  # the store is unreachable; the next event or patrol retries
            log.warning("could not claim the rendering of %s", session_id, exc_info=True)
            return None

    async def _hand_over(self, session_id: str, queue: asyncio.Queue[_Item]) -> None:
        """Another replica renders the thread: drop what was queued here (the events are in
        the store) and wake that replica, with the approval cards it must redraw."""
        dropped = self._discard(queue)
        if self._workers.get(session_id) is asyncio.current_task():
            self._workers.pop(session_id, None)
        cards = [i.batch_id for i in dropped if isinstance(i, _RedrawCard)]
        if cards or any(isinstance(i, Event) for i in dropped):
            payload = json.dumps({"session": session_id, "cards": cards})
            try:
                await self.ownership.notify(RENDER_CHANNEL, payload)
            except Exception:
                log.warning("could not wake the renderer of %s", session_id, exc_info=True)

    @staticmethod
    def _discard(queue: asyncio.Queue[_Item]) -> list[_Item]:
        dropped = []
        while not queue.empty():
            dropped.append(queue.get_nowait())
            queue.task_done()
        return dropped

    async def _finish(self, session_id: str, claim: Claim, rec: ThreadRecord | None) -> None:
        """Give the thread back; with replicas, catch up again if events were emitted
        elsewhere since the last look (their wake-up may have come while we held it)."""
        await claim.release()
        if self._workers.get(session_id) is asyncio.current_task():
            self._workers.pop(session_id, None)
        if not self.ownership.shared or self._closing or rec is None or claim.lost:
            return
        try:
            behind = rec.rendered_seq < await self.store.last_seq(session_id)
        except Exception:
            behind = False  # the patrol's catch-up will see it
        if behind:
            self.kick(session_id)

    async def _handle(self, rec: ThreadRecord, item: _Item, claim: Claim) -> bool:
        """One queue item; True when the watermark or the render state moved (unsaved)."""
        if claim.fenced:
            await claim.fence()
        if isinstance(item, _Tick):
            return await on_tick(self.ctx, rec, item.turn_seq)
        if isinstance(item, _RedrawCard):
            try:
                await redraw_card(self.ctx, rec, item.batch_id)
            except SenderClosed:
                raise
            except Exception:
                log.warning("could not redraw the approval card", exc_info=True)
            return False
        if item is not None and item.seq <= rec.rendered_seq:
            return False  # already drawn (a replay overtook it)
        if item is not None and item.seq == rec.rendered_seq + 1:
            return await self._apply(rec, item)
        dirty = False
        if item is None or item.seq > rec.rendered_seq:  # a gap: fill it from the store
            upto = item.seq if item is not None else None
            for ev in await self.store.events_after(rec.session_id, rec.rendered_seq):
                if upto is not None and ev.seq > upto:
                    break
                if claim.fenced:
                    await claim.fence()  # a long catch-up must not outlive the lease
                dirty |= await self._apply(rec, ev)
        return dirty

    async def _apply(self, rec: ThreadRecord, event: Event) -> bool:
        """Render one event, then advance the watermark.

        While Slack is unreachable or rate-limiting, the event is retried (with backoff, and
        never sooner than Slack's Retry-After) for as long as it takes — the thread waits
        rather than losing its answer, and a shutdown meanwhile leaves the watermark behind so
        the next start renders it. Other failures (a channel the bot was removed from, a bug)
        are retried briefly, then skipped.
        """
        handler = HANDLERS.get(event.type)  # type: ignore[call-overload]
        attempt = 0
        while handler is not None:
            attempt += 1
            try:
                await handler(self.ctx, rec, event)
                break
            except SenderClosed:
                raise
            except Exception as exc:
                transient = _transient(exc)
                if not transient and attempt >= RENDER_ATTEMPTS:
                    log.exception(
                        "giving up rendering %s #%d of %s", event.type, event.seq, rec.session_id
                    )
                    break
                log.warning(
                    "rendering %s #%d failed (%s); retrying",
                    event.type,
                    event.seq,
                    _describe(exc),
                    exc_info=not transient,
                )
                await asyncio.sleep(
                    backoff_delay(
                        attempt,
                        base=RETRY_BASE_S,
                        cap=RETRY_MAX_S,
                        retry_after=_retry_after(exc),
                    )
                )
        rec.rendered_seq = event.seq
        return True
