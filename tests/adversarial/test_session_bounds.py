"""One person cannot fan out unbounded concurrent work: a new thread from someone who already
has ``max_active_sessions_per_user`` threads working is refused (ephemerally), while their
existing threads keep working and other people are unaffected. Real sockets."""

from __future__ import annotations

import asyncio

from tests.fakes.fake_llm import text
from tests.slack_harness import bot_env


async def test_one_user_starts_unbounded_concurrent_sessions(tmp_path) -> None:
    async with bot_env(tmp_path, config_overrides={"max_active_sessions_per_user": 2}) as env:
        hold = asyncio.Event()
        env.llm.push(*(text("done", gate=hold) for _ in range(3)))
        ts1, _ = await env.slack.mention("task one", user="U1")
        ts2, _ = await env.slack.mention("task two", user="U1")
        await env.llm.wait_for_requests(2, timeout=60)
        ts3, _ = await env.slack.mention("task three", user="U1")
        await env.slack.wait_for(
            lambda: any(
                e["user"] == "U1" and "already have the most" in e["text"]
                for e in env.slack.ephemerals
            ),
            timeout=30,
        )
        ts4, _ = await env.slack.mention("someone else's task", user="U2")  # not limited
        await env.llm.wait_for_requests(3, timeout=60)
        hold.set()
        for ts in (ts1, ts2, ts4):
            await env.wait_answer("C1", ts, "done")
        await env.settle()
        assert len(env.llm.requests) == 3
        assert not env.bot_replies("C1", ts3)
