"""NotificationService: engine events in, durable notifications out.

Wiring (done once at startup)::

    service = NotificationService.from_config(config, store)    # ConfigError on a bad section
    await service.start()                                      # resumes pending outbox rows
    manager.add_listener(service.on_event)                     # every persisted event
    services.notifier = service                                # the notify tool finds it here
    ...
    await service.close()                                      # drains in-flight deliveries

``on_event`` only composes, routes and writes outbox rows (milliseconds); delivery happens in
the background :class:`~gateways.dispatcher.Dispatcher`, so a slow webhook never slows a turn.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from agent_core.durations import format_duration
from agent_core.events import Event

from .collapse import ErrorCollapser
from .compose import compose, compose_agent_message, error_fingerprint
from .config import DM_REQUESTER, MessagingConfig, Severity, parse_messaging_config
from .dispatcher import Dispatcher
from .event_feed import EventFeed
from .notification import Envelope, Notification
from .outbox import FAILED, PENDING, SENT, Outbox, OutboxItem, OutboxRow
from .providers.base import Provider, Shared
from .providers.registry import build_sender, requester_dm_sender
from .providers.slack import DEFAULT_API_BASE_URL, SlackDirectory
from .routing import Route, route_event

if TYPE_CHECKING:
    from agent_core.config import Config
    from agent_core.store import Store

log = logging.getLogger(__name__)

# Our name for the store's event-log cursors: per session, "events up to here are routed".
EVENT_CONSUMER = "gateways"


@dataclass(frozen=True)
class SendResult:
    """Outcome of one destination for the notify tool."""

    destination: str
    status: str  # "sent" | "failed" | "pending" (still retrying when we stopped waiting)
    error: str | None = None

    def line(self) -> str:
        if self.status == SENT:
            return f"{self.destination}: sent"
        if self.status == FAILED:
            return f"{self.destination}: failed ({self.error})"
        detail = f"; last error: {self.error}" if self.error else ""
        return f"{self.destination}: queued, will keep retrying{detail}"


class NotificationService:
    """Routes engine events to destinations through the durable outbox."""

    def __init__(
        self,
        config: MessagingConfig | Mapping[str, Any] | None,
        store: Store,
        *,
        slack_base_url: str | None = None,
        bot_token: str | None = None,
        env: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        replica_id: str | None = None,
    ) -> None:
        environ = os.environ if env is None else env
        if not isinstance(config, MessagingConfig):
            config = parse_messaging_config(config, env=environ, bot_token=bot_token)
        self.config = config
        self.store = store
        # A claim outlives the longest delivery: its backstop (timeout × 4) plus bookkeeping.
        delivery = config.delivery
        claim_ttl_s = delivery.claim_ttl_s or delivery.timeout_s * 4 + 60.0
        self.outbox = Outbox(store, claimant=replica_id, claim_ttl_s=claim_ttl_s)
        self.collapser = ErrorCollapser(store, config.collapse_window_s)
        self.slack_base_url = (
            slack_base_url or environ.get("SLACK_API_BASE_URL") or DEFAULT_API_BASE_URL
        )
        self._external_http = http
        self._shared: Shared | None = None
        self._dispatcher: Dispatcher | None = None
        self._progress = asyncio.Event()  # replaced (after being set) on every attempt
        self._started = False
        # Every event type some rule (or the automatic routing) may notify about.
        self.event_types = frozenset(
            {t for r in config.rules for t in r.events} if config.rules else config.auto_event_types
        )
        self.feed = EventFeed(store, EVENT_CONSUMER, self.event_types, self.handle_event)

    @classmethod
    def from_config(cls, config: Config, store: Store, **kwargs: Any) -> NotificationService:
        # The replica's name on its outbox claims (``replicas.replica_id`` once configured).
        replicas = getattr(config, "replicas", None)
        kwargs.setdefault("replica_id", getattr(replicas, "replica_id", None))
        return cls(config.messaging, store, **kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def agent_destinations(self) -> list[str]:
        """Destination names the ``notify`` tool may use."""
        return [n for n, d in self.config.destinations.items() if d.allow_agent_tool]

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open HTTP clients, put interrupted rows back in the queue, start the worker."""
        if self._started or not self.enabled:
            return
        delivery = self.config.delivery
        http = self._external_http or httpx.AsyncClient(
            timeout=delivery.timeout_s, follow_redirects=False
        )
        slack = SlackDirectory(
            base_url=self.slack_base_url,
            bot_token=self.config.bot_token,
            timeout_s=delivery.timeout_s,
        )
        self._shared = Shared(http=http, slack=slack, delivery=delivery)
        senders: dict[str, Provider] = {
            name: build_sender(self._shared, dest)
            for name, dest in self.config.destinations.items()
        }
        if self.config.bot_token:
            senders[DM_REQUESTER] = requester_dm_sender(self._shared)
        await self.replay_missed()
        recovered = await self.outbox.recover_interrupted()
        if recovered:
            log.warning(
                "outbox: %d notification(s) were interrupted mid-delivery; resending", recovered
            )
        self._dispatcher = Dispatcher(
            self.outbox,
            senders,
            delivery,
            on_settled=self._notify_progress,
            housekeeping=self._housekeeping,
        )
        self._dispatcher.start()
        self._started = True

    async def _housekeeping(self) -> None:
        """Forget sent rows past their retention and long-closed collapse windows."""
        now = time.time()
        await self.outbox.prune_sent(now - self.config.delivery.sent_retention_days * 86400)
        await self.collapser.prune(now - 86400)

    async def close(self) -> None:
        """Stop the worker, letting in-flight deliveries finish (``delivery.drain_timeout_s``)."""
        if not self._started:
            return
        self._started = False
        if self._dispatcher is not None:
            await self._dispatcher.stop(self.config.delivery.drain_timeout_s)
        if self._shared is not None:
            await self._shared.slack.close()
            if self._external_http is None:
                await self._shared.http.aclose()
        self._dispatcher = None
        self._shared = None

    async def __aenter__(self) -> NotificationService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _notify_progress(self) -> None:
        """Wake everyone waiting on delivery outcomes (called after every attempt)."""
        done, self._progress = self._progress, asyncio.Event()
        done.set()

    @staticmethod
    async def _wait_on(progress: asyncio.Event, timeout_s: float) -> None:
        """Wait for an attempt to settle. Callers grab ``progress`` *before* reading the store,
        so an attempt that settles in between is never missed."""
        try:
            await asyncio.wait_for(progress.wait(), timeout=timeout_s)
        except TimeoutError:
            pass

    def _wake(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.wake()

    # ------------------------------------------------------------------ events in
    def wants(self, event: Event) -> bool:
        """Cheap pre-filter: could this event type ever produce a notification?"""
        return self.enabled and event.type in self.event_types

    async def on_event(self, event: Event) -> None:
        """Manager listener: route the session's events up to this one. Never raises.

        Reading from our cursor rather than handling ``event`` alone keeps the order and
        closes gaps: an event whose listener call is still on its way (another emitter of the
        same session) is routed now, and its own call later finds nothing left to do.
        """
        if not self.wants(event):
            return
        try:
            await self.feed.catch_up(event.session_id, upto=event.seq)
        except Exception:
            log.exception(
                "notifications: could not enqueue %s #%s of session %s",
                event.type,
                event.seq,
                event.session_id,
            )

    async def replay_missed(self) -> int:
        """Route events persisted but not routed before the last stop; returns how many.

        Closes the gap between "the engine persisted an event" and "its outbox rows exist": a
        crash in between would otherwise lose the notification. Replays are harmless because
        outbox keys are idempotent. On the very first start nothing is replayed — history from
        before notifications were configured is not announced.
        """
        return await self.feed.replay_missed()

    async def handle_event(self, event: Event, origin: dict[str, Any] | None) -> list[str]:
        """Compose, route and persist notifications for one event. Returns the outbox keys.

        Idempotent: the same (session, seq) enqueues nothing new the second time.
        """
        if not self.wants(event):
            return []
        origin = dict(origin or {})
        note = compose(event, origin)
        if note is None:
            return []
        routes, skipped = route_event(
            self.config, event.type, note.severity, origin, note.requester
        )
        for s in skipped:
            log.debug(
                "not notifying %s of %s #%s: %s", s.destination, event.type, event.seq, s.reason
            )
        if not routes:
            return []
        if event.type == "error":
            handled = await self._collapse(event, note, routes)
            if handled is not None:
                return handled
        items = [
            self._item(f"{event.session_id}:{event.seq}:{r.destination}", r, note) for r in routes
        ]
        rows = await self.outbox.enqueue(items)
        self._wake()
        return list(rows)

    def _item(
        self, key: str, route: Route, note: Notification, due_at: float | None = None
    ) -> OutboxItem:
        envelope = Envelope(notification=note, mention_requester=route.mention_requester)
        return OutboxItem(
            key=key,
            destination=route.destination,
            event_type=note.event_type,
            session_id=note.session_id,
            payload=envelope.model_dump(mode="json"),
            due_at=time.time() if due_at is None else due_at,
        )

    async def _collapse(
        self, event: Event, note: Notification, routes: list[Route]
    ) -> list[str] | None:
        """None → send normally (first in its window); else the keys of the follow-up rows."""
        fingerprint = error_fingerprint(event.data or {})
        seen = await self.collapser.observe(event.session_id, fingerprint, event.seq, time.time())
        if seen.first:
            return None
        window = format_duration(self.config.collapse_window_s, "exact") or "the window"
        follow_up = note.model_copy(
            update={
                "title": f"Agent error (repeated {seen.count}×)",
                "message": (
                    f"{note.message}\n\nSeen {seen.count}× in this session within {window};"
                    " only the first was sent right away."
                ),
                "repeat_count": seen.count,
            }
        )
        keys = []
        for r in routes:
            key = f"{event.session_id}:{seen.first_seq}:{r.destination}:repeats"
            row = await self.outbox.upsert_pending(self._item(key, r, follow_up, seen.window_end))
            if row is None:  # the follow-up already went out: this error opens a new window
                await self.collapser.restart_window(
                    event.session_id, fingerprint, event.seq, time.time()
                )
                return None
            keys.append(key)
        self._wake()
        return keys

    # ------------------------------------------------------------------ the notify tool
    async def send(
        self,
        destinations: Sequence[str],
        message: str,
        *,
        title: str | None = None,
        severity: Severity = "info",
        session_id: str | None = None,
        origin: dict[str, Any] | None = None,
        request_id: str | None = None,
        wait_s: float | None = None,
    ) -> list[SendResult]:
        """Send an explicit message (the agent's ``notify``), waiting briefly for the outcome.

        ``request_id`` (the tool call id) makes a retried call idempotent. Destinations must
        exist and allow the agent tool — callers check first (see :meth:`check_agent_destinations`).
        """
        note = compose_agent_message(
            title=title, message=message, severity=severity, session_id=session_id, origin=origin
        )
        rid = request_id or f"{time.time_ns()}"
        items = [
            self._item(f"notify:{session_id or '-'}:{rid}:{name}", Route(name), note)
            for name in dict.fromkeys(destinations)
        ]
        rows = await self.outbox.enqueue(items)
        self._wake()
        ids = {it.destination: rows[it.key].id for it in items if it.key in rows}
        final = await self.wait_for_rows(
            list(ids.values()), self.config.delivery.tool_wait_s if wait_s is None else wait_s
        )
        results = []
        for name, row_id in ids.items():
            row = final.get(row_id)
            status = row.status if row else PENDING
            if status not in (SENT, FAILED):
                status = PENDING
            results.append(SendResult(name, status, row.last_error if row else None))
        return results

    def check_agent_destinations(self, names: Sequence[str]) -> str | None:
        """An error message for unknown or disallowed destinations, or None if all are fine."""
        unknown = [n for n in names if n not in self.config.destinations]
        blocked = [
            n
            for n in names
            if n in self.config.destinations and not self.config.destinations[n].allow_agent_tool
        ]
        allowed = ", ".join(self.agent_destinations()) or "none"
        parts = []
        if unknown:
            parts.append(f"unknown destination(s): {', '.join(unknown)}")
        if blocked:
            parts.append(
                f"not available to the notify tool (allow_agent_tool is false): {', '.join(blocked)}"
            )
        if parts:
            return "; ".join(parts) + f". Destinations you may use: {allowed}."
        return None

    async def wait_for_rows(self, row_ids: Sequence[int], timeout_s: float) -> dict[int, OutboxRow]:
        """Wait until the rows are sent or failed, or the timeout passes; return their state."""
        deadline = time.monotonic() + timeout_s
        while True:
            progress = self._progress
            rows = {rid: row for rid in row_ids if (row := await self.outbox.get(rid)) is not None}
            if all(r.status in (SENT, FAILED) for r in rows.values()):
                return rows
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._started:
                return rows
            await self._wait_on(progress, min(remaining, 1.0))

    async def wait_idle(self, timeout_s: float = 5.0, *, include_future: bool = False) -> bool:
        """True once no row is due or in flight (tests, graceful shutdown checks).

        Rows scheduled for later (a backoff, a collapse window) count only with
        ``include_future``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            progress = self._progress
            if await self.outbox.unsettled(time.time(), include_future=include_future) == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await self._wait_on(progress, min(remaining, 0.05))

    # ------------------------------------------------------------------ status
    async def status(self) -> list[dict[str, Any]]:
        """Per destination: provider, pending/failed/sent counts, latest unresolved error.

        Feeds the bot's ``status`` command; see :func:`format_status` for the text form.
        """
        stats = await self.outbox.stats()
        names = list(self.config.destinations)
        if self.config.bot_token and (self.config.uses_requester_dm() or DM_REQUESTER in stats):
            names.append(DM_REQUESTER)
        names += [n for n in stats if n not in names]
        paused = self._dispatcher.paused_until if self._dispatcher else {}
        now = time.time()
        out = []
        for name in names:
            s = stats.get(name, {"counts": {}})
            dest = self.config.destinations.get(name)
            provider = (
                dest.provider if dest else ("slack" if name == DM_REQUESTER else "unconfigured")
            )
            counts = s.get("counts", {})
            out.append(
                {
                    "destination": name,
                    "provider": provider,
                    "pending": counts.get(PENDING, 0) + counts.get("sending", 0),
                    "failed": counts.get(FAILED, 0),
                    "sent": counts.get(SENT, 0),
                    "last_error": s.get("last_error"),
                    "last_error_at": s.get("last_error_at"),
                    "last_sent_at": s.get("last_sent_at"),
                    "paused_until": paused.get(name) if paused.get(name, 0) > now else None,
                }
            )
        return out
