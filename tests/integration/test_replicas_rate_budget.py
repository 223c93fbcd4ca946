"""The per-channel post budget shared by replicas, against the Slack emulator's rate limits.

Slack allows about one ``chat.postMessage`` a second per channel with short bursts; the
emulator enforces that tier as a token bucket and answers 429 beyond it. Here the tier is
scaled up (10 a second, bursts of 3) so a test takes seconds, and every replica's sender is
configured with the same budget. Three replicas posting to one channel at once must stay
inside it together; without the shared budget they would not (the control case).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent_core.store import Store
from bot.slack.client import build_web_client
from bot.slack.rate_budget import SharedRateBudget
from bot.slack.sender import SlackSender
from bot.slack.tables import SLACK_SCHEMA
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.slack_limits import RateLimit

PER_MINUTE, BURST = 600.0, 3  # the emulator's chat.postMessage tier, scaled 10×
# What the bot keeps to: a little under the tier, as in production, so network jitter (a post
# arriving a few ms before its predecessor's spacing) never tips the server's bucket over.
OUR_PER_MINUTE, OUR_BURST = PER_MINUTE * 0.9, BURST - 1
REPLICAS, POSTS_EACH = 3, 8


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.enable_rate_limits(
            ["chat.postMessage"],
            {"chat.postMessage": RateLimit(per_minute=PER_MINUTE, burst=BURST, per_channel=True)},
        )
        yield fake


async def _post_from_replicas(slack: FakeSlack, budgets: list[SharedRateBudget | None]) -> None:
    senders = [
        SlackSender(
            build_web_client("xoxb-test", slack.base_url),
            posts_per_minute=OUR_PER_MINUTE,
            post_burst=OUR_BURST,
            shared_posts=budget,
        )
        for budget in budgets
    ]
    try:
        posts = [
            sender.call("C0CHAN", "chat_postMessage", channel="C0CHAN", text=f"r{r} answer {i}")
            for i in range(POSTS_EACH)
            for r, sender in enumerate(senders)
        ]
        await asyncio.wait_for(asyncio.gather(*posts), 30)
    finally:
        for sender in senders:
            await sender.close()


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


async def test_three_replicas_posting_to_one_channel_keep_its_budget_together(
    store_url: str, slack: FakeSlack
) -> None:
    stores = [await Store.open(store_url, schemas=[SLACK_SCHEMA]) for _ in range(REPLICAS)]
    try:
        budgets = [
            SharedRateBudget(s, rate_per_min=OUR_PER_MINUTE, burst=OUR_BURST) for s in stores
        ]
        await _post_from_replicas(slack, budgets)
    finally:
        for store in stores:
            await store.close()
    posts = slack.calls_for("chat.postMessage")
    assert len(posts) == REPLICAS * POSTS_EACH  # nothing had to be retried
    assert slack.rate_limited["chat.postMessage"] == 0
    # the combined rate, as Slack saw it: a burst, then one post per 0.1 s (± scheduling)
    assert _max_in_window([c.time for c in posts], 1.0) <= BURST + 10 + 1


async def test_control_without_the_shared_budget_replicas_multiply_the_rate(
    slack: FakeSlack,
) -> None:
    """Each replica alone keeps the budget, yet three together exceed it: Slack says 429."""
    await _post_from_replicas(slack, [None] * REPLICAS)
    assert slack.rate_limited["chat.postMessage"] > 0
