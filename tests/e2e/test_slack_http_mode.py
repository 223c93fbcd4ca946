"""HTTP mode in-process: the real runtime behind Bolt's aiohttp adapter, the emulator sending
signed Events API and interactivity requests to its request URL, as Slack does."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp

from bot.ops.settings import HttpSettings
from bot.slack.transport import HttpTransport, TransportError
from tests.e2e.test_slack_approvals import gpu_job, tool_messages, wait_card
from tests.fakes.fake_llm import text, tool_calls
from tests.slack_harness import SIGNING_SECRET, all_text, bot_env


async def until(predicate, timeout: float = 30.0) -> None:
    """Wait for bot-side state (the emulator's waits wake only on Slack-side changes)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_url_verification_is_answered_with_the_challenge(tmp_path) -> None:
    async with bot_env(tmp_path, http=True) as env:
        delivery = await env.slack.http_events.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY")
        assert delivery.status == 200
        assert "3eZbrw1aBm2rZgRNFdxV2595E9CY" in delivery.body


async def test_a_mention_over_http_is_answered_in_its_thread(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="Hello over HTTP.") as env:
        ts, _ = await env.slack.mention("hi there")
        await env.wait_answer("C1", ts, "Hello over HTTP.")
        (first,) = env.slack.http_events.deliveries
        assert first.kind == "event_callback" and first.status == 200 and first.retry_num == 0


async def test_a_retried_event_is_answered_once(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="Only once.") as env:
        ts, ack = await env.slack.mention("do the thing")
        again = await env.slack.redeliver(ack, retry_attempt=1, retry_reason="http_timeout")
        third = await env.slack.redeliver(ack, retry_attempt=2, retry_reason="http_error")
        assert again.payload is None and third.payload is None  # acked (200), nothing to say
        await env.wait_answer("C1", ts, "Only once.")
        await env.settle()
        answers = [m for m in env.bot_replies("C1", ts) if "Only once." in all_text(m)]
        assert len(answers) == 1
        assert len(env.llm.requests) == 1
        event_id = ack.envelope["payload"]["event_id"]
        retries = [d.retry_num for d in env.slack.http_events.answered(event_id)]
        assert retries == [0, 1, 2]


async def test_approve_and_reject_clicks_arrive_as_signed_form_posts(tmp_path) -> None:
    async with bot_env(tmp_path, http=True) as env:
        env.llm.push(tool_calls(gpu_job()), text("Training submitted."))
        ts, _ = await env.slack.mention("train it on a GPU")
        card = await wait_card(env, ts)
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U1")
        click = env.slack.http_events.deliveries[-1]
        assert (click.kind, click.status) == ("block_actions", 200)
        await env.wait_answer("C1", ts, "Training submitted")
        assert len(env.hf_jobs.calls) == 1

        env.llm.push(tool_calls(gpu_job(hardware_flavor="h100")), text("OK, smaller GPU then."))
        ts2, _ = await env.slack.mention("now train it on an h100")
        card2 = await wait_card(env, ts2)
        await env.slack.click_button("C1", card2.ts, "ml_approval:reject:0", user="U1")
        await env.slack.wait_for(lambda: env.slack.open_views("U1"))
        await env.slack.submit_view("ml_reject", {"reason": "too expensive"}, user="U1")
        assert env.slack.http_events.deliveries[-1].kind == "view_submission"
        await env.wait_answer("C1", ts2, "smaller GPU")
        assert len(env.hf_jobs.calls) == 1
        assert "too expensive" in tool_messages(env, 3)[0]


async def test_health_readiness_and_metrics_share_the_request_port(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="Counted.") as env:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{env.http_url}/healthz") as r:
                assert r.status == 200 and (await r.json()) == {"alive": True}
            async with http.get(f"{env.http_url}/readyz") as r:
                body = await r.json()
                assert r.status == 200, body
                assert body == {
                    "ready": True,
                    "checks": {"store": "ok", "slack": "ok", "engine": "ok"},
                }
            ts, _ = await env.slack.mention("count me")
            await env.wait_answer("C1", ts, "Counted.")
            await env.settle()
            async with http.get(f"{env.http_url}/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                page = await r.text()
        assert "ml_intern_turns_started_total 1.0" in page
        assert 'ml_intern_turns_finished_total{outcome="completed"} 1.0' in page
        assert (
            'ml_intern_slack_requests_total{retry="no",transport="http",type="event:app_mention"} 1.0'
            in page
        )
        assert 'ml_intern_slack_api_seconds_count{method="chat.postMessage"}' in page
        assert 'ml_intern_llm_call_seconds_count{model="openai/fake"} 1.0' in page
        assert "ml_intern_queued_operations 0.0" in page


async def test_a_busy_port_is_a_clear_startup_error(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        transport = HttpTransport(SIGNING_SECRET, HttpSettings(host="127.0.0.1", port=port))
        app = AsyncApp(token="xoxb-unused", signing_secret=SIGNING_SECRET)
        with pytest.raises(TransportError, match=f"cannot listen on 127.0.0.1:{port}.*PORT"):
            await transport.start(app, None)
        assert transport.port is None


async def test_the_slash_command_arrives_as_a_signed_form_and_starts_a_thread(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="on it") as env:
        envelope = {
            "envelope_id": "unused-over-http",
            "type": "slash_commands",
            "payload": {  # the fields of docs.slack.dev's slash command example
                "token": "fake-verification-token",
                "team_id": "T111",
                "team_domain": "example",
                "channel_id": "C1",
                "channel_name": "c1",
                "user_id": "U1",
                "user_name": "alice",
                "command": "/ml-intern",
                "text": "train bert on imdb",
                "api_app_id": "A111",
                "response_url": env.slack.new_response_url(channel="C1", user="U1"),
                "trigger_id": env.slack.new_trigger("U1"),
            },
        }
        await env.slack.push_envelope(envelope)
        sent = env.slack.http_events.deliveries[-1]
        assert (sent.kind, sent.status) == ("slash_commands", 200)
        root = await env.slack.wait_for_message(
            "C1", lambda m: m.is_bot and "asked: train bert on imdb" in m.text
        )
        await env.wait_answer("C1", root.ts, "on it")


async def test_the_http_answer_goes_out_before_the_turn_runs(tmp_path) -> None:
    """Slack's 3-second rule: the 200 is the ack, never the end of the turn."""
    async with bot_env(tmp_path, http=True) as env:
        release = asyncio.Event()
        env.llm.push(text("Finally done.", gate=release))
        ts, _ = await env.slack.mention("a long question")
        first = env.slack.http_events.deliveries[-1]
        assert first.status == 200
        await env.llm.wait_for_requests(1)  # the turn is running, held inside the model call
        assert not [m for m in env.bot_replies("C1", ts) if "Finally done." in all_text(m)]
        release.set()
        await env.wait_answer("C1", ts, "Finally done.")


async def test_an_approval_click_is_answered_before_the_approved_call_runs(tmp_path) -> None:
    async with bot_env(tmp_path, http=True) as env:
        env.hf_jobs.gate = asyncio.Event()  # the approved job submission will hang
        env.llm.push(tool_calls(gpu_job()), text("Training submitted."))
        ts, _ = await env.slack.mention("train it on a GPU")
        card = await wait_card(env, ts)
        async with aiohttp.ClientSession() as http, http.get(f"{env.http_url}/metrics") as r:
            assert "ml_intern_approvals_pending 1.0" in await r.text()
        await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U1")
        assert env.slack.http_events.deliveries[-1].status == 200
        await until(lambda: env.hf_jobs.calls)  # running, and still held
        env.hf_jobs.gate.set()
        await env.wait_answer("C1", ts, "Training submitted")
        async with aiohttp.ClientSession() as http, http.get(f"{env.http_url}/metrics") as r:
            assert "ml_intern_approvals_pending 0.0" in await r.text()
