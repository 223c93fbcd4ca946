"""Two HTTP-mode replicas on one Postgres store behind a load balancer (the emulator sends each
request, retries included, to the next replica in turn): Slack's retry of an event that
replica A took lands on replica B, which must recognise it through the shared dedupe table
and answer 200 without starting a second turn."""

from __future__ import annotations

from contextlib import AsyncExitStack

from agent_core.config import Config
from tests.fakes.fake_llm import FakeLLM
from tests.fakes.fake_slack import FakeSlack
from tests.postgres_harness import PostgresCluster
from tests.slack_harness import SIGNING_SECRET, BotEnv, all_text


def replica(slack: FakeSlack, llm: FakeLLM, tmp_path, name: str, store_url: str) -> BotEnv:
    overrides = {}
    if "replicas" in Config.model_fields:  # replica identity, once the leases are in
        overrides["replicas"] = {"replica_id": f"http-{name}"}
    env = BotEnv(slack, llm, tmp_path / name / "bot.db", http=True, config_overrides=overrides)
    env.db = store_url  # type: ignore[assignment]
    return env


async def test_a_retry_landing_on_another_replica_is_answered_once(
    tmp_path, postgres_server: PostgresCluster
) -> None:
    postgres_url = await postgres_server.create_database()
    async with AsyncExitStack() as stack:
        slack = await stack.enter_async_context(FakeSlack())
        llm = await stack.enter_async_context(FakeLLM(default="Answered by one replica."))
        a = replica(slack, llm, tmp_path, "a", postgres_url)
        b = replica(slack, llm, tmp_path, "b", postgres_url)
        for env in (a, b):
            await env.start_bot()
            stack.push_async_callback(env.stop_bot)
        urls = [f"{env.http_url}/slack/events" for env in (a, b)]
        events = slack.deliver_over_http(urls, SIGNING_SECRET, response_timeout=30.0)

        ts, ack = await slack.mention("which replica answers?")
        await slack.redeliver(ack, retry_attempt=1, retry_reason="http_timeout")
        first, retry = events.deliveries
        assert (first.url, retry.url) == (urls[0], urls[1])
        assert (first.status, retry.status) == (200, 200)

        await a.wait_answer("C1", ts, "Answered by one replica.")
        await a.settle()
        answers = [m for m in a.bot_replies("C1", ts) if "Answered by one replica." in all_text(m)]
        assert len(answers) == 1
        assert len(llm.requests) == 1
