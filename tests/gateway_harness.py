"""Shared helpers for the gateways tests: a store on disk, fast delivery settings, events.

Delivery timings are shrunk (milliseconds of backoff) so retries run for real without making
the suite slow; tests wait on conditions (outbox state, fake-side recordings), never on sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from agent_core.events import Event
from agent_core.store import Store
from gateways import NotificationService

ORIGIN_CHANNEL = "C0ORIGIN"
THREAD_TS = "1700000000.000100"
REQUESTER = "U1"
ORIGIN = {
    "platform": "slack",
    "team": "T111",
    "channel": ORIGIN_CHANNEL,
    "thread_ts": THREAD_TS,
    "requester": REQUESTER,
}

FAST_DELIVERY: dict[str, Any] = {
    "max_attempts": 4,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "timeout_s": 3,
    "drain_timeout_s": 3,
    "tool_wait_s": 3,
    "poll_max_s": 0.5,
}


def messaging(destinations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A messaging section with fast delivery; ``extra`` overrides top-level keys."""
    delivery = {**FAST_DELIVERY, **extra.pop("delivery", {})}
    return {"enabled": True, "destinations": destinations, "delivery": delivery, **extra}


def event(type_: str, data: dict[str, Any], seq: int = 1, session_id: str = "s1") -> Event:
    return Event(session_id=session_id, seq=seq, type=type_, data=data, ts=1_700_000_000.0)


JOB_FINISHED = {
    "job_id": "6650abc123",
    "stage": "COMPLETED",
    "wall_time_s": 3723.4,
    "cost_usd": 0.42,
    "url": "https://huggingface.co/jobs/alice/6650abc123",
    "log_tail": "epoch 3/3\neval_loss=0.21\nsaved model to alice/distilbert-imdb",
    "flavor": "a10g-small",
}
APPROVAL = {
    "tools": [
        {
            "tool": "hf_jobs",
            "arguments": {"operation": "run", "hardware_flavor": "a10g-large"},
            "tool_call_id": "call_1",
            "approval_class": "gpu_job",
            "reason": "GPU job on a10g-large",
            "estimated_cost_usd": 1.2,
        }
    ],
    "count": 1,
    "batch_id": "b1",
}


async def open_store(path: Path) -> Store:
    return await Store.open(path)


@asynccontextmanager
async def running_service(
    store: Store, section: dict[str, Any], **kwargs: Any
) -> AsyncIterator[NotificationService]:
    kwargs.setdefault("env", {})
    service = NotificationService(section, store, **kwargs)
    await service.start()
    try:
        yield service
    finally:
        await service.close()


async def outbox_rows(store: Store) -> list[dict[str, Any]]:
    rows = await store.fetchall("SELECT * FROM outbox ORDER BY id")
    return [dict(r) for r in rows]
