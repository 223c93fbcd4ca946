"""The background worker that drains the outbox.

One scheduler task picks due rows and starts one delivery task per destination at a time:
deliveries to a destination stay sequential (Slack allows ~1 message/s per channel) while
destinations never wait on each other — a destination that is rate-limited, slow or broken
holds up only itself. After a Retry-After the whole destination is paused for that long, not
just the row that got the 429.

With several replicas each running a dispatcher on one store, the store decides who delivers
a row (:meth:`Outbox.claim`); each pass also puts back rows whose claimant died mid-delivery
(:meth:`Outbox.reclaim_expired`) and the scheduler wakes when the next claim runs out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from agent_core.retry import backoff_delay

from .config import DeliveryConfig
from .notification import Envelope
from .outbox import Outbox, OutboxRow
from .providers.base import DeliveryContext, PermanentError, Provider, RetryableError

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY_S = 3600.0


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        senders: Mapping[str, Provider],
        cfg: DeliveryConfig,
        *,
        on_settled: Callable[[], None] | None = None,
        housekeeping: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.senders = senders
        self.cfg = cfg
        self.clock = clock
        self.on_settled = on_settled
        self.housekeeping = housekeeping
        self._next_housekeeping = 0.0
        self.busy: set[str] = set()
        self.paused_until: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run(), name="gateways-outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, drain_timeout_s: float) -> None:
        """Stop taking rows; let in-flight deliveries finish (bounded), then cancel the rest.

        A cancelled delivery leaves its row ``sending``; the next start puts it back to pending.
        """
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=drain_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # ------------------------------------------------------------------ scheduling
    def _blocked(self, now: float) -> set[str]:
        return self.busy | {d for d, t in self.paused_until.items() if t > now}

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._housekeep()
                await self._dispatch_due()
                timeout = await self._next_wait()
            except Exception:  # a store hiccup must not kill the worker
                log.exception("outbox scheduler error; retrying shortly")
                timeout = min(1.0, self.cfg.poll_max_s)
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                pass

    async def _housekeep(self) -> None:
        """Prune old rows now and then (hourly), so a long-running process stays small."""
        now = self.clock()
        if self.housekeeping is not None and now >= self._next_housekeeping:
            self._next_housekeeping = now + HOUSEKEEPING_EVERY_S
            await self.housekeeping()

    async def _dispatch_due(self) -> None:
        reclaimed = await self.outbox.reclaim_expired()
        if reclaimed:
            log.warning(
                "outbox: %d delivery claim(s) expired (a worker died); resending", reclaimed
            )
        now = self.clock()
        blocked = self._blocked(now)
        for row in await self.outbox.due_heads(now, exclude=blocked):
            if self._stopping:
                return
            if row.destination in blocked:
                continue
            if not await self.outbox.claim(row.id):
                continue
            blocked.add(row.destination)
            self.busy.add(row.destination)
            task = asyncio.create_task(self._deliver(row), name=f"notify:{row.destination}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _next_wait(self) -> float:
        now = self.clock()
        waits = [self.cfg.poll_max_s]
        for dest, due in (await self.outbox.next_due_by_destination()).items():
            if dest in self.busy:
                continue  # its task wakes us when done
            waits.append(max(due, self.paused_until.get(dest, 0.0)) - now)
        expiry = await self.outbox.next_claim_expiry()
        if expiry is not None:  # another worker's claim: look again when it may have died
            waits.append(expiry - time.time())
        return min(max(min(waits), 0.0), self.cfg.poll_max_s)

    # ------------------------------------------------------------------ one delivery
    async def _deliver(self, row: OutboxRow) -> None:
        dest = row.destination
        try:
            await self._attempt(row)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox: bookkeeping failed for row %s (%s)", row.id, dest)
        finally:
            self.busy.discard(dest)
            self._wake.set()
            if self.on_settled is not None:
                self.on_settled()

    async def _attempt(self, row: OutboxRow) -> None:
        dest = row.destination
        attempt = row.attempts + 1  # claim() counted it in the store
        sender = self.senders.get(dest)
        if sender is None:
            await self.outbox.mark_failed(row.id, f"destination {dest!r} is no longer configured")
            log.warning("notification %s dropped: destination %r is not configured", row.key, dest)
            return
        ctx = DeliveryContext(key=row.key, destination=dest, attempt=attempt)
        try:
            envelope = Envelope.model_validate(row.payload)
            # Providers bound each HTTP call; this is only a backstop against a hung lookup chain.
            external_id = await asyncio.wait_for(
                sender.deliver(envelope, ctx), timeout=self.cfg.timeout_s * 4
            )
        except RetryableError as exc:
            await self._retry_or_fail(row, attempt, exc.reason, exc.retry_after)
            return
        except PermanentError as exc:
            await self.outbox.mark_failed(row.id, exc.reason)
            log.warning(
                "notification to destination %r failed permanently (%s): %s",
                dest,
                row.event_type,
                exc.reason,
            )
            return
        except TimeoutError:
            await self._retry_or_fail(row, attempt, "timed out", None)
            return
        except Exception as exc:  # a bug or an unexpected library error: retry, bounded
            log.exception("notification to destination %r raised", dest)
            await self._retry_or_fail(row, attempt, f"unexpected error: {exc!r}", None)
            return
        await self.outbox.mark_sent(row.id, external_id)
        log.debug("notification %s delivered to %r (%s)", row.key, dest, external_id)

    async def _retry_or_fail(
        self, row: OutboxRow, attempt: int, reason: str, retry_after: float | None
    ) -> None:
        dest = row.destination
        if attempt >= self.cfg.max_attempts:
            await self.outbox.mark_failed(row.id, f"gave up after {attempt} attempts: {reason}")
            log.warning(
                "notification to destination %r failed after %d attempts: %s", dest, attempt, reason
            )
            return
        delay = backoff_delay(
            attempt,
            base=self.cfg.backoff_base_s,
            cap=self.cfg.backoff_max_s,
            retry_after=retry_after,
            retry_after_cap=self.cfg.retry_after_cap_s,
        )
        now = self.clock()
        if retry_after is not None:
            self.paused_until[dest] = now + min(retry_after, self.cfg.retry_after_cap_s)
        await self.outbox.mark_retry(row.id, reason, now + delay)
        log.info(
            "notification to destination %r will retry in %.2fs (attempt %d/%d): %s",
            dest,
            delay,
            attempt,
            self.cfg.max_attempts,
            reason,
        )
