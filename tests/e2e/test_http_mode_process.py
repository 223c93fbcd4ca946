"""``ml-intern-slack serve --http`` as a real process: the emulator (in the test's loop) sends
signed HTTP requests to its request URL; a mention is answered, a retried delivery is
answered once, an approval click runs the job on the fake Hub, the ops endpoints answer on
the same port, and SIGTERM stops it cleanly with no secret in its output."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp

from tests.e2e.test_slack_process import _base_env, _line_with, _spawn, _stop
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub
from tests.fakes.fake_llm import FakeLLM, call, text, tool_calls
from tests.fakes.fake_slack import FakeSlack
from tests.postgres_harness import free_port
from tests.slack_harness import SIGNING_SECRET, all_text

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-http-process-secret-token-31"
GPU_RUN = {
    "operation": "run",
    "script": "print('train distilbert on imdb')\n",
    "hardware_flavor": "a10g-small",
    "timeout": "1h",
}


def bot_replies(slack: FakeSlack, ts: str) -> list:
    return [m for m in slack.thread_messages("C1", ts, include_root=False) if m.is_bot]


async def test_serve_http_process_answers_retries_once_and_takes_approvals(tmp_path) -> None:
    async with (
        FakeSlack(bot_token=BOT_TOKEN) as slack,
        FakeLLM(default="Hello from HTTP mode.") as llm,
        FakeHub() as hub,
    ):
        port = free_port()
        config = tmp_path / "config.json"
        config.write_text(
            json.dumps(
                {
                    "http": {"host": "127.0.0.1"},
                    "slack": {"progress_delay_s": 0, "posts_per_minute": 6000},
                }
            )
        )
        env = _base_env(tmp_path)
        env.update(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_BASE_URL=slack.base_url,
            OPENAI_API_BASE=llm.base_url,
            OPENAI_API_KEY="sk-fake-http-process-key",
            ML_INTERN_MODEL="openai/fake",
            ML_INTERN_CONFIG=str(config),
            HF_ENDPOINT=hub.url,
            HF_TOKEN=ALICE_TOKEN,
            PORT=str(port),
        )
        bot = await _spawn("-m", "bot", "serve", "--http", env=env, cwd=tmp_path)
        logs: list[str] = []
        try:
            await _line_with(bot.stderr, "connected to Slack (http)", logs, 60)
            base = f"http://127.0.0.1:{port}"
            slack.deliver_over_http(f"{base}/slack/events", SIGNING_SECRET, response_timeout=30)
            async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as r:
                assert r.status == 200, await r.text()

            ts, ack = await slack.mention("hello over http")
            await slack.redeliver(ack, retry_attempt=1, retry_reason="http_timeout")
            await slack.wait_for_message(
                "C1",
                lambda m: m.is_bot and "Hello from HTTP mode." in all_text(m),
                thread_ts=ts,
                timeout=60,
            )

            llm.push(tool_calls(call("hf_jobs", GPU_RUN)), text("Submitted the job."))
            ts2, _ = await slack.mention("train distilbert on imdb")
            card = await slack.wait_for_message(
                "C1",
                lambda m: m.is_bot and "ml_approval:approve:0" in all_text(m),
                thread_ts=ts2,
                timeout=60,
            )
            await slack.click_button("C1", card.ts, "ml_approval:approve:0", user="U1")
            await slack.wait_for_message(
                "C1",
                lambda m: m.is_bot and "Submitted the job." in all_text(m),
                thread_ts=ts2,
                timeout=60,
            )
            assert len(hub.jobs.jobs) == 1

            async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as r:
                page = await r.text()
            retried = (
                'ml_intern_slack_requests_total{retry="yes",transport="http",'
                'type="event:app_mention"} 1.0'
            )
            assert retried in page
            answers = [m for m in bot_replies(slack, ts) if "Hello from HTTP mode." in all_text(m)]
            assert len(answers) == 1  # the retried delivery did not start a second turn

            bot.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(bot.wait(), 30)
            output = "".join(logs) + (await bot.stderr.read()).decode(errors="replace")
            assert code == 0, output
            assert "stopped cleanly" in output
            for secret in (BOT_TOKEN, SIGNING_SECRET, ALICE_TOKEN, "sk-fake-http-process-key"):
                assert secret not in output
        finally:
            await _stop(bot)


async def test_serve_http_without_signing_secret_fails_fast_with_instructions(tmp_path) -> None:
    env = _base_env(tmp_path)
    env.update(ML_INTERN_MODEL="openai/fake", SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=" ")
    proc = await _spawn("-m", "bot", "serve", "--http", env=env, cwd=tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    message = err.decode()
    assert "SLACK_SIGNING_SECRET is not set" in message and "Signing Secret" in message
    assert "SLACK_APP_TOKEN" not in message  # HTTP mode does not need the app token
    assert BOT_TOKEN not in message
