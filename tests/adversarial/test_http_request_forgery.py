"""Forged, replayed, altered, unsigned and oversized requests to HTTP mode's request URL.

Someone who finds the bot's public URL can POST anything to it. Only requests signed with
the app's signing secret, within five minutes of their timestamp, with the body that was
signed, may reach the middleware; none of the others may mark an event as seen, start a
session or decide an approval. Each test ends with a genuine request that must still work,
so "nothing happened" is observed, not slept on.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlparse

from tests.e2e.test_slack_approvals import gpu_job, wait_card
from tests.fakes.fake_llm import text, tool_calls
from tests.fakes.slack import payloads
from tests.fakes.slack.http_events import sign
from tests.slack_harness import BOT_USER_ID, BotEnv, bot_env

FIVE_MINUTES_S = 300


def mention_envelope(env: BotEnv, words: str) -> dict:
    ts = env.slack.add_message("C1", "U1", f"<@{BOT_USER_ID}> {words}")
    event = payloads.message_event(env.slack, "app_mention", "C1", "U1", ts)
    return payloads.event_envelope(event, fallback_ts=ts)


async def assert_genuine_delivery_still_processed(env: BotEnv, envelope: dict) -> None:
    """The same event, properly signed, is taken (the refused copy marked nothing as seen)."""
    await env.slack.push_envelope(envelope)
    ts = envelope["payload"]["event"]["ts"]
    await env.wait_answer("C1", ts, "genuine answer")
    assert len(env.llm.requests) == 1


async def test_forged_signature_is_refused_and_nothing_is_enqueued(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="genuine answer") as env:
        events = env.slack.http_events
        envelope = mention_envelope(env, "delete every model")
        body = json.dumps(envelope["payload"]).encode()
        headers = events.headers(body, "application/json")
        headers["X-Slack-Signature"] = sign(
            "not-the-secret", headers["X-Slack-Request-Timestamp"], body
        )
        refused = await events.post(body, headers)
        assert refused.status == 401
        assert await env.runtime.store.count_all_queued_ops() == 0
        assert (await env.runtime.store.fetchone("SELECT COUNT(*) FROM sessions"))[0] == 0
        await assert_genuine_delivery_still_processed(env, envelope)


async def test_replayed_request_older_than_five_minutes_is_refused(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="genuine answer") as env:
        events = env.slack.http_events
        envelope = mention_envelope(env, "run it again")
        body = json.dumps(envelope["payload"]).encode()
        # Correctly signed, by someone who captured it five minutes and a bit ago.
        old = str(int(events.clock()) - FIVE_MINUTES_S - 5)
        refused = await events.post(body, events.headers(body, "application/json", timestamp=old))
        assert refused.status == 401
        await assert_genuine_delivery_still_processed(env, envelope)


async def test_body_altered_after_signing_is_refused(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="genuine answer") as env:
        events = env.slack.http_events
        envelope = mention_envelope(env, "train a small model")
        body = json.dumps(envelope["payload"]).encode()
        headers = events.headers(body, "application/json")
        altered = body.replace(b"train a small model", b"push to prod, now!!")
        assert altered != body and len(altered) == len(body)
        refused = await events.post(altered, headers)
        assert refused.status == 401
        await assert_genuine_delivery_still_processed(env, envelope)


async def test_request_without_signing_headers_is_refused(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="genuine answer") as env:
        events = env.slack.http_events
        envelope = mention_envelope(env, "hello")
        body = json.dumps(envelope["payload"]).encode()
        for missing in ("X-Slack-Signature", "X-Slack-Request-Timestamp"):
            headers = events.headers(body, "application/json")
            del headers[missing]
            assert (await events.post(body, headers)).status == 401, missing
        assert (await events.post(body, {"Content-Type": "application/json"})).status == 401
        await assert_genuine_delivery_still_processed(env, envelope)


async def test_forged_approval_click_does_not_approve(tmp_path) -> None:
    async with bot_env(tmp_path, http=True) as env:
        env.llm.push(tool_calls(gpu_job()), text("Training submitted."))
        ts, _ = await env.slack.mention("train it on a GPU")
        card = await wait_card(env, ts)
        events = env.slack.http_events
        real_secret = events.signing_secret
        events.signing_secret = "guessed-secret"
        try:
            forged = await env.slack.click_button("C1", card.ts, "ml_approval:approve:0")
        except Exception as exc:  # the emulator gives up: Slack would show the person an error
            assert "401" in str(exc)
        else:
            raise AssertionError(f"a forged click was accepted: {forged}")
        finally:
            events.signing_secret = real_secret
        assert env.hf_jobs.calls == []
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0")
        await env.wait_answer("C1", ts, "Training submitted")
        assert len(env.hf_jobs.calls) == 1


async def test_huge_body_is_refused_without_reading_it_all(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="genuine answer") as env:
        url = urlparse(f"{env.http_url}/slack/events")
        declared = 200 * 1024 * 1024  # 200 MB announced; only 1 KB is ever sent
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            writer.write(
                (
                    f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                    "Content-Type: application/json\r\nX-Slack-Request-Timestamp: 1\r\n"
                    f"X-Slack-Signature: v0=00\r\nContent-Length: {declared}\r\n\r\n"
                ).encode()
                + b"{" * 1024
            )
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 10)
            assert status_line.startswith(b"HTTP/1.1 413"), status_line
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert b"connection: close" in head.lower()
        finally:
            writer.close()
        envelope = mention_envelope(env, "still listening?")
        await assert_genuine_delivery_still_processed(env, envelope)


async def test_malformed_timestamp_is_refused_not_an_error(tmp_path) -> None:
    """slack_sdk's verifier raises on a non-numeric timestamp: that must be a 401, not a 500
    with a traceback in the log for every request an attacker sends."""
    async with bot_env(tmp_path, http=True, default_reply="genuine answer") as env:
        events = env.slack.http_events
        envelope = mention_envelope(env, "hello")
        body = json.dumps(envelope["payload"]).encode()
        for timestamp in ("abc", "1e3", "", "1.5", "0x10", "١٢٣٤٥٦٧٨٩٠"):
            headers = events.headers(body, "application/json", timestamp=timestamp)
            refused = await events.post(body, headers)
            assert refused.status == 401, (timestamp, refused.status)
        await assert_genuine_delivery_still_processed(env, envelope)


async def test_replayed_approval_click_within_the_window_runs_the_job_once(tmp_path) -> None:
    """A captured, still-fresh click passes the signature check; the claim must hold."""
    async with bot_env(tmp_path, http=True) as env:
        env.llm.push(tool_calls(gpu_job()), text("Training submitted."))
        ts, _ = await env.slack.mention("train it on a GPU")
        card = await wait_card(env, ts)
        events = env.slack.http_events
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0")
        captured = events.deliveries[-1]
        assert captured.kind == "block_actions"
        replays = await asyncio.gather(*(events.post(*captured.sent) for _ in range(3)))
        assert all(r.status in (200, 401) for r in replays)  # acked or refused, never an error
        await env.wait_answer("C1", ts, "Training submitted")
        await env.settle()
        assert len(env.hf_jobs.calls) == 1
        assert len(env.llm.requests) == 2  # the approved call's result, reported once
