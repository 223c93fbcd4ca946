"""The gateways read the event log from a durable cursor: in order, each event once, no gaps.

No sockets: the service is not started (nothing is delivered); what matters is which outbox
rows exist, and in which order, after the listener calls arrive in whatever order they do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_core.store import Store
from gateways import NotificationService
from gateways.service import EVENT_CONSUMER
from tests.gateway_harness import JOB_FINISHED, ORIGIN, messaging, outbox_rows

WEBHOOK = {"provider": "webhook", "url": "http://127.0.0.1:9/hook", "allow_auto_events": True}


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(tmp_path / "state.db")
    await s.create_session("s1", ORIGIN, "m", {})
    try:
        yield s
    finally:
        await s.close()


def service(store: Store) -> NotificationService:
    return NotificationService(messaging({"ci": WEBHOOK}), store, env={})


async def test_listener_calls_out_of_order_still_route_in_order_and_once(store: Store) -> None:
    """A turn and the job watcher emit for one session concurrently: the later event's
    listener can run first. The earlier event must neither be lost nor routed twice."""
    svc = service(store)
    first = await store.append_event("s1", "error", {"error": "CUDA OOM"})
    second = await store.append_event("s1", "job_finished", JOB_FINISHED)
    await svc.on_event(second)  # arrives first
    await svc.on_event(first)  # arrives late: already routed
    keys = [r["idempotency_key"] for r in await outbox_rows(store)]
    assert keys == [f"s1:{first.seq}:ci", f"s1:{second.seq}:ci"]
    cursor = await store.cursor(EVENT_CONSUMER, "s1")
    assert cursor is not None and cursor.seq == second.seq


async def test_an_event_that_breaks_composition_is_skipped_not_retried_forever(
    store: Store,
) -> None:
    """A poison event (one whose handling raises) must not block the session's later
    notifications, nor be re-tried on every later event."""
    svc = service(store)
    calls: list[int] = []
    real = svc.handle_event

    async def flaky(event, origin):  # type: ignore[no-untyped-def]
        calls.append(event.seq)
        if event.seq == 1:
            raise RuntimeError("composition bug")
        return await real(event, origin)

    svc.feed.handle = flaky
    bad = await store.append_event("s1", "error", {"error": "first"})
    await svc.on_event(bad)
    good = await store.append_event("s1", "error", {"error": "second"})
    await svc.on_event(good)
    assert calls == [bad.seq, good.seq]
    assert [r["idempotency_key"] for r in await outbox_rows(store)] == [f"s1:{good.seq}:ci"]


async def test_unwanted_events_move_the_cursor_on_replay(store: Store) -> None:
    """Chunks and tool logs are never notified; after a restart they must not keep a session
    "behind" (and re-read) forever."""
    svc = service(store)
    assert await svc.replay_missed() == 0  # first start: registers, replays nothing
    for _ in range(3):
        await store.append_event("s1", "assistant_chunk", {"text": "x"})
    assert await store.sessions_behind(EVENT_CONSUMER, untracked=True) == ["s1"]
    assert await service(store).replay_missed() == 0
    assert await store.sessions_behind(EVENT_CONSUMER, untracked=True) == []
