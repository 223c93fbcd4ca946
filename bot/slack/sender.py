"""The rate-safe sender: every Web API write the gateway makes goes through here.

* One queue (and one worker task) per channel, so a rate-limited channel never delays the
  others and messages in one channel keep their order.
* Priorities: approval cards and final answers (HIGH) go before notices (NORMAL), which go
  before progress edits (LOW).
* Edits are coalesced per message: while an edit waits its turn, a newer one replaces it, and
  one message is edited at most once per ``edit_interval_s``. A process-wide token bucket
  keeps all progress edits together under Slack's ``chat.update`` tier.
* Posts are paced per channel (Slack allows about one ``chat.postMessage`` a second per
  channel, with short bursts): a burst of answers in one channel is spaced out before Slack
  has to say 429, and edits to other messages keep flowing meanwhile. With several replicas
  on one store the pacing is shared too (``shared_store``, :mod:`bot.slack.rate_budget`):
  each post also reserves its slot in the store, so N replicas together keep one channel's
  budget (and the local bucket still paces if the store cannot be reached); progress edits
  share the app's ``chat.update`` tier the same way.
* Rate limits — HTTP 429 and HTTP 200 ``ok:false ratelimited`` — are first retried by the
  client's retry handlers (which sleep for Retry-After); if they persist, the channel is
  paused for Retry-After and the job is tried again.
* Secrets are scrubbed from every text field right here, the last point before Slack.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from agent_core.redact import scrub
from agent_core.retry import backoff_delay, retry_after_from_headers
from agent_core.store import Store
from bot.slack.rate_budget import POST_BURST, ReservedSlot, SharedRateBudget, TokenBucket
from gateways.providers.slack_errors import MESSAGE_GONE, RATE_LIMITED, error_code

log = logging.getLogger(__name__)

HIGH, NORMAL, LOW = 0, 1, 2
IDLE_EXIT_S = 30.0
# Methods that put a new message in the channel (paced by the per-channel post budget).
POSTING_METHODS = frozenset({"chat_postMessage", "files_upload_v2"})
_SCRUBBED = frozenset(  # the fields that can carry text
    "text blocks attachments initial_comment content title filename metadata view status"
    " loading_messages".split()
)
RATE_LIMIT_BASE_S = 2.0  # without a Retry-After: 2 s, 4 s, 8 s …
RATE_LIMIT_CAP_S = 30.0
MAX_RETRY_AFTER_S = 600.0  # a bogus "retry in a week" must not park a channel forever
NETWORK_RETRY_BASE_S = 1.0
NETWORK_RETRY_CAP_S = 10.0


def clean_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Scrub secrets from every field that can carry text."""
    return {k: (scrub(v) if k in _SCRUBBED else v) for k, v in kwargs.items()}


@dataclass(order=True)
class _Job:
    priority: int
    order: int
    method: str = field(compare=False)
    kwargs: dict[str, Any] = field(compare=False)
    future: asyncio.Future[Any] = field(compare=False)
    attempts: int = field(default=0, compare=False)


@dataclass
class _Edit:
    ts: str
    order: int
    kwargs: dict[str, Any]
    futures: list[asyncio.Future[Any]]
    final: bool = False
    attempts: int = 0


@dataclass
class _Channel:
    jobs: list[_Job] = field(default_factory=list)
    edits: dict[str, _Edit] = field(default_factory=dict)
    last_edit: dict[str, float] = field(default_factory=dict)
    blocked_until: float = 0.0
    posts: TokenBucket | None = None
    post_slot: ReservedSlot | None = None  # with a shared post budget: the next post's slot
    busy: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def empty(self) -> bool:
        return not self.jobs and not self.edits and not self.busy


class SenderClosed(RuntimeError):
    pass


def _new_future() -> asyncio.Future[Any]:
    """A future whose exception never triggers "never retrieved" noise when nobody awaits it."""
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    fut.add_done_callback(lambda f: f.cancelled() or f.exception())
    return fut


class SlackSender:
    """Queues, prioritises, coalesces and retries Web API writes (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        *,
        edit_interval_s: float = 1.0,
        edits_per_minute: float = 50.0,
        posts_per_minute: float = 60.0,
        post_burst: float = POST_BURST,
        max_attempts: int = 4,
        clock: Callable[[], float] = time.monotonic,
        shared_store: Store | None = None,
    ) -> None:
        self.client = client
        edit_burst = max(5.0, edits_per_minute / 5)
        # With replicas (``shared_store``) the budgets below are kept together, in the store.
        self.shared_posts = self.edit_slot = None
        if shared_store is not None:
            self.shared_posts = SharedRateBudget(
                shared_store, rate_per_min=posts_per_minute, burst=post_burst
            )
            edits = SharedRateBudget(shared_store, rate_per_min=edits_per_minute, burst=edit_burst)
            self.edit_slot = ReservedSlot(edits, "method:chat.update", clock)
        self.edit_interval_s = edit_interval_s
        self.max_attempts = max_attempts
        self.clock = clock
        self.edit_budget = TokenBucket(edits_per_minute, edit_burst, clock)
        self.posts_per_minute = posts_per_minute
        self.post_burst = post_burst
        self._channels: dict[str, _Channel] = {}
        self._order = itertools.count()
        self._closed = False
        self.stats: dict[str, int] = {"rate_limited": 0, "coalesced": 0}

    # ------------------------------------------------------------------ public API
    async def call(
        self, queue: str, method: str, /, *, priority: int = NORMAL, **kwargs: Any
    ) -> Any:
        """Run ``client.<method>(**kwargs)`` in the queue of channel ``queue``; returns the
        response data (raises SlackApiError when Slack says no)."""
        return await self.submit(queue, method, priority=priority, **kwargs)

    def submit(
        self, queue: str, method: str, /, *, priority: int = NORMAL, **kwargs: Any
    ) -> asyncio.Future[Any]:
        """Like :meth:`call` but returns the future at once (fire-and-forget callers)."""
        if self._closed:
            raise SenderClosed("the sender is closed")
        fut = _new_future()
        job = _Job(priority, next(self._order), method, clean_kwargs(kwargs), fut)
        ch = self._channel(queue)
        heapq.heappush(ch.jobs, job)
        self._wake(queue, ch)
        return fut

    def edit(
        self,
        channel: str,
        ts: str,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        final: bool = False,
    ) -> asyncio.Future[Any]:
        """Set the desired content of message ``ts``; coalesced with pending edits.

        ``final`` edits (a turn's closing state, a decided approval card) go at HIGH priority
        and bypass the edit budget, but still respect the per-message interval.
        """
        if self._closed:
            raise SenderClosed("the sender is closed")
        fut = _new_future()
        kwargs = clean_kwargs({"channel": channel, "ts": ts, "text": text, "blocks": blocks or []})
        ch = self._channel(channel)
        slot = ch.edits.get(ts)
        if slot is None:
            ch.edits[ts] = _Edit(ts, next(self._order), kwargs, [fut], final)
        else:
            self.stats["coalesced"] += 1
            slot.kwargs = kwargs
            slot.futures.append(fut)
            slot.final = slot.final or final
        self._wake(channel, ch)
        return fut

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queue is empty. Returns False on timeout."""
        deadline = self.clock() + timeout
        while True:
            pending = [ch for ch in self._channels.values() if not ch.empty()]
            if not pending:
                return True
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(ch.idle.wait() for ch in pending)), remaining
                )
            except TimeoutError:
                return False

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to ``timeout``), then stop the workers."""
        await self.flush(timeout)
        self._closed = True
        for ch in list(self._channels.values()):
            if ch.task is not None:
                ch.task.cancel()
            for job in ch.jobs:
                if not job.future.done():
                    job.future.set_exception(SenderClosed("the sender closed before sending"))
            for slot in ch.edits.values():
                for f in slot.futures:
                    if not f.done():
                        f.set_exception(SenderClosed("the sender closed before sending"))
        tasks = [ch.task for ch in self._channels.values() if ch.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._channels.clear()

    # ------------------------------------------------------------------ workers
    def _channel(self, channel: str) -> _Channel:
        ch = self._channels.get(channel)
        if ch is None:
            ch = self._channels[channel] = _Channel(
                posts=TokenBucket(self.posts_per_minute, self.post_burst, self.clock),
                post_slot=ReservedSlot(self.shared_posts, f"post:{channel}", self.clock)
                if self.shared_posts is not None
                else None,
            )
        return ch

    def _wake(self, channel: str, ch: _Channel) -> None:
        ch.idle.clear()
        ch.wake.set()
        if ch.task is None or ch.task.done():
            ch.task = asyncio.create_task(self._run(channel, ch), name=f"slack-sender:{channel}")

    def _pick(self, ch: _Channel, now: float) -> tuple[_Job | _Edit | None, float]:
        """The next thing to send, or None and how long until something is due."""
        best: tuple[int, int] | None = None
        chosen: _Job | _Edit | None = None
        wait = IDLE_EXIT_S
        if ch.jobs:
            head = ch.jobs[0]
            post_wait = 0.0
            if head.method in POSTING_METHODS and ch.posts is not None:
                post_wait = ch.posts.wait()
                if ch.post_slot is not None:  # None: not reserved yet, _run reserves it
                    post_wait = max(post_wait, ch.post_slot.wait(now) or 0.0)
            if post_wait > 0:
                wait = min(wait, post_wait)  # not yet: edits may go meanwhile
            else:
                best = (head.priority, head.order)
                chosen = head
        budget_wait = self.edit_budget.wait()
        if self.edit_slot is not None:  # no slot held yet: _run reserves one first
            budget_wait = max(budget_wait, self.edit_slot.wait(now) or 0.0)
        for slot in ch.edits.values():
            due = ch.last_edit.get(slot.ts, float("-inf")) + self.edit_interval_s
            priority = HIGH if slot.final else LOW
            if not slot.final and budget_wait > 0:
                due = max(due, now + budget_wait)
            if due > now:
                wait = min(wait, due - now)
                continue
            key = (priority, slot.order)
            if best is None or key < best:
                best, chosen = key, slot
        return chosen, wait

    async def _sleep_or_wake(self, ch: _Channel, seconds: float) -> bool:
        try:
            await asyncio.wait_for(ch.wake.wait(), max(0.0, seconds))
            return True
        except TimeoutError:
            return False

    async def _run(self, channel: str, ch: _Channel) -> None:
        while True:
            ch.wake.clear()
            now = self.clock()
            if ch.blocked_until > now:
                await asyncio.sleep(ch.blocked_until - now)
                continue
            if await self._reserve_slots(ch):
                continue
            item, wait = self._pick(ch, now)
            if item is None:
                if ch.empty():
                    ch.idle.set()
                    woken = await self._sleep_or_wake(ch, IDLE_EXIT_S)
                    if not woken and ch.empty():
                        if self._channels.get(channel) is ch:
                            del self._channels[channel]
                        return
                    continue
                await self._sleep_or_wake(ch, wait)
                continue
            ch.busy = True
            try:
                if isinstance(item, _Job):
                    heapq.heappop(ch.jobs)
                    await self._do_job(ch, item)
                else:
                    del ch.edits[item.ts]
                    await self._do_edit(ch, item)
            finally:
                ch.busy = False
            if ch.empty():
                ch.idle.set()

    async def _reserve_slots(self, ch: _Channel) -> bool:
        """With shared budgets: reserve the slot the next post / progress edit needs (one
        store round trip). True if it did (the caller picks again)."""
        post = ch.post_slot
        if (
            post is not None
            and post.at is None
            and ch.jobs
            and ch.jobs[0].method in POSTING_METHODS
        ):
            await post.ensure()
            return True
        edit = self.edit_slot
        if edit is not None and edit.at is None and any(not e.final for e in ch.edits.values()):
            await edit.ensure()
            return True
        return False

    def _rate_limit_wait(self, exc: SlackApiError, attempts: int) -> float | None:
        """Seconds to pause the channel if ``exc`` is a rate limit, else None."""
        resp = exc.response
        if getattr(resp, "status_code", 0) != 429 and error_code(resp) not in RATE_LIMITED:
            return None
        self.stats["rate_limited"] += 1
        retry_after = retry_after_from_headers(getattr(resp, "headers", None))
        return backoff_delay(
            attempts,
            base=RATE_LIMIT_BASE_S if retry_after is None else 0.0,  # Slack said exactly when
            cap=RATE_LIMIT_CAP_S,
            retry_after=retry_after,
            retry_after_cap=MAX_RETRY_AFTER_S,
            jitter=False,
        )

    @staticmethod
    def _network_wait(attempts: int) -> float:
        return backoff_delay(attempts, base=NETWORK_RETRY_BASE_S, cap=NETWORK_RETRY_CAP_S)

    async def _do_job(self, ch: _Channel, job: _Job) -> None:
        if job.future.done():  # cancelled by the caller
            return
        job.attempts += 1
        if job.method in POSTING_METHODS:
            if ch.post_slot is not None:
                ch.post_slot.take()  # spent: the next post reserves its own
            if ch.posts is not None:
                ch.posts.take()
        result: Any = None
        error: BaseException | None = None
        try:
            response = await getattr(self.client, job.method)(**job.kwargs)
            result = getattr(response, "data", response)
        except SlackApiError as exc:
            wait = self._rate_limit_wait(exc, job.attempts)
            if wait is not None and job.attempts < self.max_attempts:
                log.warning("slack %s rate limited; pausing channel %.1fs", job.method, wait)
                ch.blocked_until = self.clock() + wait
                heapq.heappush(ch.jobs, job)
                return
            error = exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if job.attempts < self.max_attempts and job.method != "files_upload_v2":
                ch.blocked_until = self.clock() + self._network_wait(job.attempts)
                heapq.heappush(ch.jobs, job)
                return
            error = exc
        except Exception as exc:  # a bug or bad arguments: report to the caller
            error = exc
        if job.future.done():  # the caller gave up meanwhile
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    @staticmethod
    def _requeue_edit(ch: _Channel, slot: _Edit) -> None:
        """Put a failed edit back, unless a newer version of the message is already waiting."""
        newer = ch.edits.get(slot.ts)
        if newer is None:
            ch.edits[slot.ts] = slot
        else:
            newer.futures.extend(slot.futures)
            newer.final = newer.final or slot.final

    async def _do_edit(self, ch: _Channel, slot: _Edit) -> None:
        slot.attempts += 1
        if not slot.final:
            self.edit_budget.take()
            if self.edit_slot is not None:
                self.edit_slot.take()
        ch.last_edit[slot.ts] = self.clock()
        if len(ch.last_edit) > 500:
            cutoff = self.clock() - 10 * self.edit_interval_s
            ch.last_edit = {k: v for k, v in ch.last_edit.items() if v >= cutoff}
        result: Any = None
        error: BaseException | None = None
        try:
            response = await self.client.chat_update(**slot.kwargs)
            result = getattr(response, "data", response)
        except SlackApiError as exc:
            wait = self._rate_limit_wait(exc, slot.attempts)
            if wait is not None and slot.attempts < self.max_attempts:
                ch.blocked_until = self.clock() + wait
                self._requeue_edit(ch, slot)
                return
            if error_code(exc.response) in MESSAGE_GONE:
                log.info("edit of %s skipped: %s", slot.ts, error_code(exc.response))
            else:
                log.warning("edit of %s failed: %s", slot.ts, error_code(exc.response))
                error = exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if slot.attempts < self.max_attempts:
                ch.blocked_until = self.clock() + self._network_wait(slot.attempts)
                self._requeue_edit(ch, slot)
                return
            error = exc
        for fut in slot.futures:
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)
