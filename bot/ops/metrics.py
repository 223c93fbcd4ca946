"""Every Prometheus metric the bot exposes on ``/metrics``, defined here and nowhere else.

Fed from three places only, so counters are never sprinkled through the code:

* the engine's event stream (:meth:`BotMetrics.on_event`, a manager listener): turns, errors,
  LLM latency, tokens and spend, job spend;
* the Web API client (:meth:`BotMetrics.observe_slack_call`, the hook of
  :func:`bot.slack.client.build_web_client`): latency and errors per Slack method;
* a Bolt middleware (:meth:`BotMetrics.count_requests`): what Slack delivered, per transport.

Gauges that are facts about the store (queued operations, pending approvals) are read at
scrape time (:meth:`BotMetrics.refresh`), so several replicas report the same truth instead
of each its own drifting count. Each runtime owns a :class:`CollectorRegistry`: tests run
several runtimes in one process, and the process-global default registry would mix them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from agent_core.events import Event, EventType

if TYPE_CHECKING:
    from agent_core.approvals import ApprovalBook
    from agent_core.store import Store

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Model calls take seconds to minutes; Slack calls milliseconds to seconds.
LLM_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
SLACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TOKEN_KINDS = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens")
# Error events that answer a command (a refused approval, model switch or manual compaction)
# rather than end a turn: counted as errors, not as failed turns.
COMMAND_ERROR_KINDS = frozenset({"approval", "model", "compaction"})


class BotMetrics:
    """The bot's metrics on a private registry; ``render()`` is the ``/metrics`` body."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        r = self.registry = CollectorRegistry()
        self.turns_started = Counter(
            "ml_intern_turns_started", "Turns the engine started", registry=r
        )
        self.turns_finished = Counter(
            "ml_intern_turns_finished",
            "Turns that ended, by outcome (completed, failed, interrupted)",
            ["outcome"],
            registry=r,
        )
        self.errors = Counter("ml_intern_errors", "Error events, by kind", ["kind"], registry=r)
        self.llm_latency = Histogram(
            "ml_intern_llm_call_seconds",
            "Model call latency, by model",
            ["model"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.llm_tokens = Counter(
            "ml_intern_llm_tokens",
            "Tokens reported by the provider, by model and kind",
            ["model", "kind"],
            registry=r,
        )
        self.llm_spend = Counter(
            "ml_intern_llm_spend_usd", "Priced model spend in USD, by model", ["model"], registry=r
        )
        self.job_spend = Counter(
            "ml_intern_job_spend_usd", "Cost of finished Hugging Face jobs in USD", registry=r
        )
        self.slack_latency = Histogram(
            "ml_intern_slack_api_seconds",
            "Slack Web API call latency (retries included), by method",
            ["method"],
            buckets=SLACK_BUCKETS,
            registry=r,
        )
        self.slack_errors = Counter(
            "ml_intern_slack_api_errors",
            "Slack Web API calls that failed, by method and error code",
            ["method", "error"],
            registry=r,
        )
        self.slack_requests = Counter(
            "ml_intern_slack_requests",
            "Requests Slack delivered (Socket Mode envelopes or HTTP requests), by transport, "
            "payload type and whether Slack marked it as a retry",
            ["transport", "type", "retry"],
            registry=r,
        )
        self.queued_ops = Gauge(
            "ml_intern_queued_operations", "Operations waiting in the sessions' queues", registry=r
        )
        self.approvals_pending = Gauge(
            "ml_intern_approvals_pending", "Tool calls waiting for a person's decision", registry=r
        )
        # Sessions with a turn started and not ended (one waiting for an approval included):
        # an error ends a turn only if one is running.
        self._open_turns: set[str] = set()

    # ------------------------------------------------------------------ feeds
    async def on_event(self, event: Event) -> None:
        """Manager listener: turn and LLM numbers from the events that already carry them."""
        kind, data, sid = event.type, event.data or {}, event.session_id
        if kind == EventType.PROCESSING:
            self._open_turns.add(sid)
            self.turns_started.inc()
        elif kind == EventType.TURN_COMPLETE:
            self._open_turns.discard(sid)
            self.turns_finished.labels("completed").inc()
        elif kind == EventType.INTERRUPTED:
            self._end_open_turn(sid, "interrupted")
        elif kind == EventType.ERROR:
            error_kind = str(data.get("kind") or "unknown")
            self.errors.labels(error_kind).inc()
            if error_kind not in COMMAND_ERROR_KINDS:
                self._end_open_turn(sid, "failed")
        elif kind == EventType.LLM_CALL:
            self._llm_call(data)
        elif kind == EventType.JOB_FINISHED and _number(data.get("cost_usd")):
            self.job_spend.inc(_number(data.get("cost_usd")))

    def _end_open_turn(self, session_id: str, outcome: str) -> None:
        if session_id in self._open_turns:
            self._open_turns.discard(session_id)
            self.turns_finished.labels(outcome).inc()

    def _llm_call(self, data: dict[str, Any]) -> None:
        model = str(data.get("model") or "unknown")
        if (latency_ms := _number(data.get("latency_ms"))) is not None:
            self.llm_latency.labels(model).observe(latency_ms / 1000.0)
        for token_kind in TOKEN_KINDS:
            if count := _number(data.get(token_kind)):
                self.llm_tokens.labels(model, token_kind.removesuffix("_tokens")).inc(count)
        if cost := _number(data.get("cost_usd")):
            self.llm_spend.labels(model).inc(cost)

    def observe_slack_call(self, method: str, seconds: float, error: str | None) -> None:
        """Web API client hook: one finished call (``error`` is Slack's code, or the
        exception's class name for a transport failure)."""
        self.slack_latency.labels(method).observe(seconds)
        if error:
            self.slack_errors.labels(method, error).inc()

    async def count_requests(self, body: dict[str, Any], request: Any, next: Any) -> Any:
        """Bolt middleware (first in the chain): what Slack delivered, before any filtering."""
        payload_type = str(body.get("type") or "unknown")
        if payload_type == "event_callback":
            payload_type = f"event:{(body.get('event') or {}).get('type') or 'unknown'}"
        retry_num = (getattr(request, "headers", None) or {}).get("x-slack-retry-num") or ["0"]
        # Bolt's headers are lists; Socket Mode envelopes map ``retry_attempt: 0`` to "0".
        first = retry_num[0] if isinstance(retry_num, list | tuple) else retry_num
        retry = "no" if str(first or "0") == "0" else "yes"
        self.slack_requests.labels(self.transport, payload_type, retry).inc()
        return await next()

    async def refresh(self, store: Store, approvals: ApprovalBook) -> None:
        """Read the store-backed gauges (called before each scrape)."""
        self.queued_ops.set(await store.count_all_queued_ops())
        self.approvals_pending.set(await approvals.count_pending())

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
