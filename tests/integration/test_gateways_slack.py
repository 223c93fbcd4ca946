"""Slack destinations against the Slack emulator: what people actually see, and when."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_core.store import Store
from gateways import format_status
from tests.fakes.fake_slack import FakeSlack
from tests.gateway_harness import (
    APPROVAL,
    JOB_FINISHED,
    ORIGIN,
    ORIGIN_CHANNEL,
    REQUESTER,
    THREAD_TS,
    event,
    messaging,
    outbox_rows,
    running_service,
)

OPS = "C0OPS"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_channel(ORIGIN_CHANNEL, "ml-team")
        slack.add_channel(OPS, "ml-ops")
        # the session's thread exists, so chat.getPermalink can answer for it
        slack.add_message(ORIGIN_CHANNEL, REQUESTER, "<@U0BOT> train bert", ts=THREAD_TS)
        yield slack


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "state.db")
    yield s
    await s.close()


def slack_dest(channel: str = OPS, **extra: Any) -> dict[str, Any]:
    return {"provider": "slack", "channel": channel, "allow_auto_events": True, **extra}


def service(store: Store, fake: FakeSlack, section: dict[str, Any]):
    return running_service(store, section, bot_token=fake.bot_token, slack_base_url=fake.base_url)


def blocks_text(msg) -> str:
    return json.dumps(msg.blocks, ensure_ascii=False)


async def test_each_event_type_reaches_the_channel(store: Store, fake: FakeSlack) -> None:
    section = messaging(
        {"slack.ml-ops": slack_dest()},
        auto_event_types=[
            "turn_complete",
            "error",
            "approval_required",
            "job_finished",
            "job_progress",
        ],
    )
    events = [
        event(
            "turn_complete", {"history_size": 4, "final_response": "Fine-tuned. Eval acc 0.93."}, 1
        ),
        event("error", {"error": "HF token lacks write access"}, 2),
        event("approval_required", APPROVAL, 3),
        event("job_finished", JOB_FINISHED, 4),
        event(
            "job_progress",
            {"job_id": "6650abc123", "stage": "RUNNING", "warning": "loss is NaN"},
            5,
        ),
        event(
            "job_progress", {"job_id": "6650abc123", "stage": "RUNNING", "log_tail": "step 9"}, 6
        ),
        event("tool_call", {"tool": "hf_jobs"}, 7),
    ]
    async with service(store, fake, section) as svc:
        for ev in events:
            await svc.handle_event(ev, ORIGIN)
        await fake.wait_for(lambda: len(fake.messages(OPS)) >= 5)
        assert await svc.wait_idle(3)
    texts = [m.text for m in fake.messages(OPS)]
    assert texts == [
        ":white_check_mark: Task complete: Fine-tuned. Eval acc 0.93.",
        ":x: Agent error: HF token lacks write access",
        ":warning: Approval needed (1 tool call): The agent is waiting for approval to run:",
        ":white_check_mark: Job completed: job 6650abc123, stage COMPLETED, hardware a10g-small,"
        " wall time 1h 2m 3s, cost $0.42",
        ":warning: Job needs attention: loss is NaN",
    ]
    assert all(not m.is_reply for m in fake.messages(OPS))  # top-level in the destination
    assert fake.thread_messages(ORIGIN_CHANNEL, THREAD_TS, include_root=False) == []
    post = fake.calls_for("chat.postMessage")[0]
    assert post.args["unfurl_links"] is False
    assert post.args["metadata"]["event_payload"] == {"key": "s1:1:slack.ml-ops"}


async def test_requester_is_mentioned_and_thread_permalink_is_linked(
    store: Store, fake: FakeSlack
) -> None:
    section = messaging({"slack.ml-ops": slack_dest(mention_requester=True)})
    async with service(store, fake, section) as svc:
        await svc.handle_event(event("job_finished", JOB_FINISHED, 1), ORIGIN)
        await svc.handle_event(event("error", {"error": "disk full"}, 2), ORIGIN)
        await fake.wait_for(lambda: len(fake.messages(OPS)) == 2)
    first = fake.messages(OPS)[0]
    assert first.text.startswith(f"<@{REQUESTER}> :white_check_mark: Job completed")
    assert first.blocks[0]["text"]["text"] == f"<@{REQUESTER}> :white_check_mark: *Job completed*"
    link = fake.permalink(ORIGIN_CHANNEL, THREAD_TS)
    assert f"<{link}|Open thread>" in blocks_text(first)
    assert f"<{link}|Open thread>" in blocks_text(fake.messages(OPS)[1])
    # built from auth.test's workspace URL (asked once), not a chat.getPermalink per thread
    assert len(fake.calls_for("auth.test")) == 1
    assert not fake.calls_for("chat.getPermalink")


async def test_dm_to_requester_and_to_a_user_destination(store: Store, fake: FakeSlack) -> None:
    section = messaging(
        {"slack.bob": slack_dest("U2", mention_requester=True)},
        rules=[
            {
                "events": ["job_finished"],
                "destinations": ["dm:requester"],
                "mention_requester": True,
            },
            {"events": ["job_finished"], "destinations": ["slack.bob"]},
        ],
    )
    async with service(store, fake, section) as svc:
        await svc.handle_event(event("job_finished", JOB_FINISHED, 1), ORIGIN)
        assert await svc.wait_idle(3)
        status = {s["destination"]: s for s in await svc.status()}
    opened = sorted(c.args["users"] for c in fake.calls_for("conversations.open"))
    assert opened == ["U1", "U2"]
    (mine,) = fake.messages(fake.dm_channel(REQUESTER))
    assert mine.text.startswith(":white_check_mark: Job completed")  # no self-mention in a DM
    (bobs,) = fake.messages(fake.dm_channel("U2"))
    assert bobs.text.startswith(f"<@{REQUESTER}> :white_check_mark:")  # bob learns whose job
    assert status["dm:requester"]["sent"] == 1 and status["slack.bob"]["sent"] == 1


async def test_http_429_retry_after_is_honoured(store: Store, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    async with service(store, fake, messaging({"slack.ml-ops": slack_dest()})) as svc:
        await svc.handle_event(event("error", {"error": "boom"}), ORIGIN)
        await fake.wait_for_message(OPS)
        first, second = fake.calls_for("chat.postMessage")
        assert first.status == 429 and second.ok
        assert second.time - first.time >= 0.95  # not the 10 ms backoff
        assert await svc.wait_idle(3)
        (status,) = await svc.status()
    (row,) = await outbox_rows(store)
    assert (row["status"], row["attempts"], row["last_error"]) == (
        "sent",
        2,
        "rate limited (ratelimited)",
    )
    assert status["last_error"] is None and status["sent"] == 1


async def test_ok_false_ratelimited_counts_as_a_rate_limit(store: Store, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", "ratelimited", status=200, count=2)
    async with service(store, fake, messaging({"slack.ml-ops": slack_dest()})) as svc:
        await svc.handle_event(event("error", {"error": "boom"}), ORIGIN)
        await fake.wait_for_message(OPS)
    calls = fake.calls_for("chat.postMessage")
    assert [c.error for c in calls] == ["ratelimited", "ratelimited", None]
    (row,) = await outbox_rows(store)
    assert (row["status"], row["attempts"]) == ("sent", 3)


async def test_permanent_slack_failures_are_reported_and_do_not_block(
    store: Store, fake: FakeSlack
) -> None:
    fake.fail_next(
        "chat.postMessage", "channel_not_found", match=lambda a: a["channel"] == "C0GONE", count=9
    )
    section = messaging(
        {
            "slack.bad-token": slack_dest(token="xoxb-revoked"),
            "slack.gone": slack_dest("C0GONE"),
            "slack.ml-ops": slack_dest(),
        }
    )
    async with service(store, fake, section) as svc:
        await svc.handle_event(event("job_finished", JOB_FINISHED, 1), ORIGIN)
        await svc.handle_event(event("turn_complete", {"final_response": "ok"}, 2), ORIGIN)
        assert await svc.wait_idle(3)
        status = {s["destination"]: s for s in await svc.status()}
        text = format_status(list(status.values()))
    assert len(fake.messages(OPS)) == 2
    assert (status["slack.bad-token"]["failed"], status["slack.bad-token"]["last_error"]) == (
        2,
        "invalid_auth",
    )
    assert (status["slack.gone"]["failed"], status["slack.gone"]["last_error"]) == (
        2,
        "channel_not_found",
    )
    assert status["slack.ml-ops"]["sent"] == 2
    assert "• slack.gone (slack): 0 sent, 0 pending, 2 failed — last error" in text
    assert text.rstrip().endswith("channel_not_found") or "channel_not_found" in text
    # invalid_auth / channel_not_found are not retried
    assert (
        len([c for c in fake.calls_for("chat.postMessage") if c.args["channel"] == "C0GONE"]) == 2
    )


async def test_rejected_blocks_fall_back_to_text(store: Store, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", "invalid_blocks")
    async with service(store, fake, messaging({"slack.ml-ops": slack_dest()})) as svc:
        await svc.handle_event(event("error", {"error": "boom"}), ORIGIN)
        msg = await fake.wait_for_message(OPS)
    assert msg.blocks is None and msg.text.startswith(":x: Agent error: boom\nboom")


async def test_no_duplicate_into_the_origin_thread_unless_broadcast(
    store: Store, fake: FakeSlack
) -> None:
    section = messaging(
        {"slack.here": slack_dest(ORIGIN_CHANNEL), "slack.ml-ops": slack_dest()},
        rules=[
            {
                "events": ["turn_complete", "job_finished"],
                "destinations": ["slack.here", "slack.ml-ops"],
            },
            {
                "events": ["job_finished"],
                "severity": ["error"],
                "destinations": ["slack.here"],
                "broadcast": True,
            },
        ],
    )
    async with service(store, fake, section) as svc:
        await svc.handle_event(event("turn_complete", {"final_response": "done"}, 1), ORIGIN)
        failed = {**JOB_FINISHED, "stage": "ERROR", "error": "OOM"}
        await svc.handle_event(event("job_finished", failed, 2), ORIGIN)
        await fake.wait_for(lambda: len(fake.messages(OPS)) == 2)
        assert await svc.wait_idle(3)
    here = [m for m in fake.messages(ORIGIN_CHANNEL) if m.is_bot]
    assert len(here) == 1 and not here[0].is_reply  # only the broadcast, top level
    assert here[0].text == ":x: Job failed: OOM"


async def test_slack_incoming_webhook(store: Store, fake: FakeSlack) -> None:
    url = fake.add_webhook("T111/B222/hooksecret", channel="C0HOOK")
    fake.fail_next("webhook", status=429, retry_after=0)
    section = messaging(
        {
            "hook": {
                "provider": "slack_webhook",
                "url": url,
                "allow_auto_events": True,
                "mention_requester": True,
            }
        }
    )
    async with service(store, fake, section) as svc:
        await svc.handle_event(event("approval_required", APPROVAL), ORIGIN)
        msg = await fake.wait_for_message("C0HOOK")
    assert [p.status for p in fake.webhook_posts] == [429, 200]
    assert msg.text.startswith(f"<@{REQUESTER}> :warning: Approval needed (1 tool call)")
    assert "GPU job on a10g-large (est. $1.20)" in blocks_text(msg)
    assert f"<{fake.permalink(ORIGIN_CHANNEL, THREAD_TS)}|Open thread>" in blocks_text(msg)


async def test_repeated_errors_collapse_into_one_follow_up(store: Store, fake: FakeSlack) -> None:
    section = messaging({"slack.ml-ops": slack_dest()}, collapse_window_s=0.4)
    async with service(store, fake, section) as svc:
        for seq, secs in enumerate((30.1, 30.4, 31.0), start=1):
            await svc.handle_event(
                event("error", {"error": f"LLM timed out after {secs}s"}, seq), ORIGIN
            )
        await svc.handle_event(event("error", {"error": "a different error"}, 4), ORIGIN)
        follow_up = await fake.wait_for_message(OPS, lambda m: "repeated" in m.text)
        assert await svc.wait_idle(3, include_future=True)
        # after the window closed, the same error is news again
        await svc.handle_event(event("error", {"error": "LLM timed out after 29s"}, 5), ORIGIN)
        await fake.wait_for(lambda: len(fake.messages(OPS)) == 4)
    texts = [m.text for m in fake.messages(OPS)]
    assert texts[:2] == [
        ":x: Agent error: LLM timed out after 30.1s",
        ":x: Agent error: a different error",
    ]
    assert follow_up.text == ":x: Agent error (repeated 3×): LLM timed out after 31.0s"
    assert "Seen 3× in this session within 0.4s; only the first was sent right away." in (
        blocks_text(follow_up)
    )
    assert texts[3] == ":x: Agent error: LLM timed out after 29s"


async def test_listener_wiring_reads_origin_from_the_store(store: Store, fake: FakeSlack) -> None:
    await store.create_session("s1", ORIGIN, "m", {})
    section = messaging({"slack.ml-ops": slack_dest(mention_requester=True)})
    async with service(store, fake, section) as svc:
        ev = await store.append_event("s1", "job_finished", JOB_FINISHED)
        await svc.on_event(ev)
        await svc.on_event(await store.append_event("s1", "assistant_chunk", {"content": "x"}))
        msg = await fake.wait_for_message(OPS)
    assert msg.text.startswith(f"<@{REQUESTER}> :white_check_mark: Job completed")
    assert [r["idempotency_key"] for r in await outbox_rows(store)] == [f"s1:{ev.seq}:slack.ml-ops"]
