"""HTTP mode in-process: the real runtime behind Bolt's aiohttp adapter, the emulator sending
signed Events API and interactivity requests to its request URL, as Slack does."""

from __future__ import annotations

import aiohttp

from tests.e2e.test_slack_approvals import gpu_job, tool_messages, wait_card
from tests.fakes.fake_llm import text, tool_calls
from tests.slack_harness import all_text, bot_env


async def test_url_verification_is_answered_with_the_challenge(tmp_path) -> None:
    async with bot_env(tmp_path, http=True) as env:
        delivery = await env.slack.http_events.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY")
        assert delivery.status == 200
        assert "3eZbrw1aBm2rZgRNFdxV2595E9CY" in delivery.body


async def test_a_mention_over_http_is_answered_in_its_thread(tmp_path) -> None:
    async with bot_env(tmp_path, http=True, default_reply="Hello over HTTP.") as env:
        ts, ack = await env.slack.mention("hi there")
        assert ack.latency_s < env.slack.http_events.response_timeout
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
        ack = await env.slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U1")
        assert env.slack.http_events.deliveries[-1].kind == "block_actions"
        assert ack.latency_s < env.slack.http_events.response_timeout
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
