"""Webhook delivery through the durable outbox, against a real local HTTP receiver."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_core.store import Store
from gateways import verify_signature
from gateways.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.gateway_harness import (
    JOB_FINISHED,
    ORIGIN,
    event,
    messaging,
    outbox_rows,
    running_service,
)

SECRET = "whsec-test-0123456789"
NAMES = {1: "alpha", 2: "beta", 3: "gamma"}  # distinct texts: identical errors would collapse


@pytest.fixture
async def hook() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "state.db")
    yield s
    await s.close()


def _hook_dest(url: str, **extra) -> dict:
    return {"provider": "webhook", "url": url, "allow_auto_events": True, **extra}


async def test_signed_webhook_is_verifiable_by_the_receiver(
    store: Store, hook: WebhookReceiver
) -> None:
    section = messaging({"ci": _hook_dest(hook.url("/ci"), secret=SECRET)})
    async with running_service(store, section) as svc:
        await svc.handle_event(event("job_finished", JOB_FINISHED, seq=3), ORIGIN)
        req = await hook.wait_for(1)
    assert req.path == "/ci"
    assert verify_signature(
        SECRET, req.body, req.header(TIMESTAMP_HEADER), req.header(SIGNATURE_HEADER)
    )
    assert not verify_signature(
        "other", req.body, req.header(TIMESTAMP_HEADER), req.header(SIGNATURE_HEADER)
    )
    assert req.header("Idempotency-Key") == "s1:3:ci" == req.header("X-ML-Intern-Delivery")
    assert req.header("X-ML-Intern-Event") == "job_finished"
    doc = req.json()
    assert (doc["event_type"], doc["severity"], doc["title"]) == (
        "job_finished",
        "success",
        "Job completed",
    )
    assert doc["fields"]["Cost"] == "$0.42" and doc["session_id"] == "s1"


async def test_unsigned_webhook_has_no_signature(store: Store, hook: WebhookReceiver) -> None:
    async with running_service(store, messaging({"ci": _hook_dest(hook.url())})) as svc:
        await svc.handle_event(event("error", {"error": "boom"}), ORIGIN)
        req = await hook.wait_for(1)
    assert req.header(SIGNATURE_HEADER) is None and req.json()["severity"] == "error"


async def test_429_with_retry_after_then_success(store: Store, hook: WebhookReceiver) -> None:
    hook.script(Reply(429, "slow down", retry_after=0.4), Reply(503, "busy"), Reply(200))
    async with running_service(store, messaging({"ci": _hook_dest(hook.url())})) as svc:
        await svc.handle_event(event("turn_complete", {"final_response": "done"}), ORIGIN)
        await hook.wait_for(3, answered=True)
        assert await svc.wait_idle(3)
        first, second, third = hook.requests
        assert second.time - first.time >= 0.38  # Retry-After honoured (not the 10 ms backoff)
        assert third.time - second.time < 0.38  # 503 without Retry-After: short backoff
        assert len({r.header("Idempotency-Key") for r in hook.requests}) == 1
    (row,) = await outbox_rows(store)
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert row["last_error"] == "HTTP 503: busy"


async def test_gives_up_after_max_attempts(store: Store, hook: WebhookReceiver) -> None:
    hook.default = Reply(500, "down")
    section = messaging({"ci": _hook_dest(hook.url())}, delivery={"max_attempts": 2})
    async with running_service(store, section) as svc:
        await svc.handle_event(event("error", {"error": "x"}), ORIGIN)
        await hook.wait_for(2, answered=True)
        assert await svc.wait_idle(3, include_future=True)
        (status,) = await svc.status()
    assert (
        status["failed"] == 1 and status["last_error"] == "gave up after 2 attempts: HTTP 500: down"
    )


async def test_permanent_failure_does_not_block_other_destinations(
    store: Store, hook: WebhookReceiver
) -> None:
    async with WebhookReceiver(default=Reply(404, "no such hook")) as broken:
        async with WebhookReceiver() as slow:
            slow.hold()  # a destination stuck mid-request must not hold up the others either
            section = messaging(
                {
                    "broken": _hook_dest(broken.url()),
                    "slow": _hook_dest(slow.url()),
                    "good": _hook_dest(hook.url()),
                }
            )
            async with running_service(store, section) as svc:
                for seq in (1, 2, 3):
                    await svc.handle_event(event("error", {"error": NAMES[seq]}, seq=seq), ORIGIN)
                await hook.wait_for(3, answered=True)
                await broken.wait_for(3, answered=True)
                assert len(slow.requests) == 1  # still in flight, one at a time
                assert [r.json()["message"] for r in hook.requests] == ["alpha", "beta", "gamma"]
                statuses = {s["destination"]: s for s in await svc.status()}
                slow.release()
                assert await svc.wait_idle(3)
    assert len(broken.requests) == 3  # a 404 is not retried
    assert statuses["broken"]["failed"] == 3
    assert statuses["broken"]["last_error"] == "HTTP 404: no such hook"
    assert statuses["good"]["sent"] == 3 and statuses["good"]["last_error"] is None
    assert statuses["slow"]["pending"] == 3


async def test_replayed_event_is_not_sent_twice(store: Store, hook: WebhookReceiver) -> None:
    async with running_service(store, messaging({"ci": _hook_dest(hook.url())})) as svc:
        ev = event("job_finished", JOB_FINISHED, seq=5)
        assert await svc.handle_event(ev, ORIGIN) == ["s1:5:ci"]
        await hook.wait_for(1, answered=True)
        await svc.handle_event(ev, ORIGIN)
        assert await svc.wait_idle(3)
    assert len(hook.requests) == 1 and len(await outbox_rows(store)) == 1


async def test_outbox_survives_restart_mid_delivery(tmp_path: Path, hook: WebhookReceiver) -> None:
    """Close while a delivery is in flight: it completes, the rest wait in the store, a new
    process on the same file sends them — each exactly once."""
    path = tmp_path / "state.db"
    hook.script(Reply(200, delay=0.3))  # the first delivery is slow
    section = messaging({"ci": _hook_dest(hook.url())})
    store = await Store.open(path)
    async with running_service(store, section) as svc:
        for seq in (1, 2, 3):
            await svc.handle_event(event("error", {"error": NAMES[seq]}, seq=seq), ORIGIN)
        await hook.wait_for(1)  # first request in flight → close now
    assert [r.status for r in hook.requests] == [200]
    assert [r["status"] for r in await outbox_rows(store)] == ["sent", "pending", "pending"]
    await store.close()

    store = await Store.open(path)
    try:
        async with running_service(store, section) as svc:
            # the engine may replay events after a restart: still no duplicates
            await svc.handle_event(event("error", {"error": "alpha"}, seq=1), ORIGIN)
            await hook.wait_for(3, answered=True)
            assert await svc.wait_idle(3)
        keys = [r.header("Idempotency-Key") for r in hook.requests]
        assert keys == ["s1:1:ci", "s1:2:ci", "s1:3:ci"]
        assert [r["status"] for r in await outbox_rows(store)] == ["sent"] * 3
    finally:
        await store.close()


async def test_crash_mid_delivery_resends_with_the_same_key(
    tmp_path: Path, hook: WebhookReceiver
) -> None:
    """No drain time (a crash): the row stays 'sending' and is resent on start with the
    same Idempotency-Key, so the receiver can drop the copy it may already have."""
    path = tmp_path / "state.db"
    section = messaging({"ci": _hook_dest(hook.url())}, delivery={"drain_timeout_s": 0})
    store = await Store.open(path)
    hook.hold()
    async with running_service(store, section) as svc:
        await svc.handle_event(event("error", {"error": "e1"}), ORIGIN)
        await hook.wait_for(1)
    assert [r["status"] for r in await outbox_rows(store)] == ["sending"]
    await store.close()
    hook.release()

    store = await Store.open(path)
    try:
        async with running_service(store, section) as svc:
            await hook.wait_for(2, answered=True)
            assert await svc.wait_idle(3)
        assert {r.header("Idempotency-Key") for r in hook.requests} == {"s1:1:ci"}
        (row,) = await outbox_rows(store)
        assert (row["status"], row["attempts"]) == ("sent", 2)
    finally:
        await store.close()


async def test_enqueued_before_start_is_delivered_on_start(
    store: Store, hook: WebhookReceiver
) -> None:
    from gateways import NotificationService

    svc = NotificationService(messaging({"ci": _hook_dest(hook.url())}), store, env={})
    await svc.handle_event(event("error", {"error": "early"}), ORIGIN)  # persisted, not sent
    assert [r["status"] for r in await outbox_rows(store)] == ["pending"]
    t0 = time.monotonic()
    await svc.start()
    try:
        await hook.wait_for(1, answered=True)
        assert time.monotonic() - t0 < 2
    finally:
        await svc.close()


async def test_error_collapsing_survives_a_restart(tmp_path: Path, hook: WebhookReceiver) -> None:
    path = tmp_path / "state.db"
    section = messaging({"ci": _hook_dest(hook.url())}, collapse_window_s=0.6)
    store = await Store.open(path)
    async with running_service(store, section) as svc:
        for seq in (1, 2):
            await svc.handle_event(event("error", {"error": "CUDA OOM"}, seq=seq), ORIGIN)
        await hook.wait_for(1, answered=True)
    await store.close()

    store = await Store.open(path)
    try:
        async with running_service(store, section) as svc:
            await svc.handle_event(event("error", {"error": "CUDA OOM"}, seq=2), ORIGIN)  # replay
            await svc.handle_event(event("error", {"error": "CUDA OOM"}, seq=3), ORIGIN)
            follow_up = await hook.wait_for(2, answered=True)
            assert await svc.wait_idle(3, include_future=True)
        assert len(hook.requests) == 2
        doc = follow_up.json()
        assert doc["repeat_count"] == 3 and doc["title"] == "Agent error (repeated 3×)"
        assert follow_up.header("Idempotency-Key") == "s1:1:ci:repeats"
    finally:
        await store.close()


async def test_events_persisted_before_a_crash_are_replayed_on_start(
    store: Store, hook: WebhookReceiver
) -> None:
    await store.create_session("s1", ORIGIN, "m", {})
    section = messaging({"ci": _hook_dest(hook.url())})
    old = await store.append_event("s1", "error", {"error": "from before notifications"})
    async with running_service(store, section) as svc:  # first start: history is not announced
        seen = await store.append_event("s1", "job_finished", JOB_FINISHED)
        await svc.on_event(seen)
        await hook.wait_for(1, answered=True)
    # the engine persisted this event, then died before any listener saw it
    missed = await store.append_event("s1", "turn_complete", {"final_response": "done"})
    async with running_service(store, section) as svc:
        await hook.wait_for(2, answered=True)
        assert await svc.wait_idle(3)
    keys = [r.header("Idempotency-Key") for r in hook.requests]
    assert keys == [f"s1:{seen.seq}:ci", f"s1:{missed.seq}:ci"]
    assert f"s1:{old.seq}:ci" not in keys
