"""Slack's rate budgets shared by replicas, against the Slack emulator's enforced tiers.

Slack allows about one ``chat.postMessage`` a second per channel (short bursts tolerated) and
``chat.update`` is a per-app tier; the emulator enforces both as token buckets and answers
429 beyond them. Here the tiers are scaled up so a test takes a second or two, and every
replica's sender keeps the same budget a little under the tier (as in production). Three
replicas sending at once must stay inside it together; without the shared budget they would
not (the control cases, which show the emulator catches it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from agent_core.store import Store
from bot.slack.client import build_web_client
from bot.slack.sender import SlackSender
from bot.slack.tables import SLACK_SCHEMA
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.slack_limits import RateLimit

REPLICAS = 3
# chat.postMessage: the emulator's tier scaled 10× (10 a second, bursts of 3); we keep a little
# under it, so network jitter (a post a few ms early) never tips the server's bucket over.
POST_TIER = RateLimit(per_minute=600.0, burst=3, per_channel=True)
POSTS_PER_MINUTE, POST_BURST = 540.0, 2
POSTS_EACH = 8
# chat.update: the sender's edit bucket holds 12 s of edits (per_minute / 5) and Slack's tier 3
# is 50/min with bursts of 10 — scaled: 9 edits a second, a burst of 108; the tier takes 112.
EDITS_PER_MINUTE = 540.0
EDIT_TIER = RateLimit(per_minute=600.0, burst=112)
EDITS_EACH = 39  # 117 together: one replica's burst plus a second's worth, more than the tier


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.enable_rate_limits(
            ["chat.postMessage", "chat.update"],
            {"chat.postMessage": POST_TIER, "chat.update": EDIT_TIER},
        )
        yield fake


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[list[Store]]:
    opened = [await Store.open(store_url, schemas=[SLACK_SCHEMA]) for _ in range(REPLICAS)]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


def _senders(slack: FakeSlack, stores: list[Store] | list[None]) -> list[SlackSender]:
    return [
        SlackSender(
            build_web_client("xoxb-test", slack.base_url),
            edit_interval_s=0.0,
            edits_per_minute=EDITS_PER_MINUTE,
            posts_per_minute=POSTS_PER_MINUTE,
            post_burst=POST_BURST,
            shared_store=store,
        )
        for store in stores
    ]


async def _from_replicas(
    slack: FakeSlack,
    stores: list[Store] | list[None],
    count: int,
    send: Callable[[SlackSender, int, int], Awaitable[object]],
) -> None:
    """``count`` sends from each replica's sender at once (``send(sender, replica, i)``)."""
    senders = _senders(slack, stores)
    try:
        calls = [send(sender, r, i) for i in range(count) for r, sender in enumerate(senders)]
        await asyncio.wait_for(asyncio.gather(*calls), 30)
    finally:
        for sender in senders:
            await sender.close()


async def _post_from_replicas(slack: FakeSlack, stores: list[Store] | list[None]) -> None:
    await _from_replicas(
        slack,
        stores,
        POSTS_EACH,
        lambda sender, r, i: sender.call(
            "C0CHAN", "chat_postMessage", channel="C0CHAN", text=f"r{r} answer {i}"
        ),
    )


async def _edit_from_replicas(
    slack: FakeSlack, stores: list[Store] | list[None], each: int = EDITS_EACH
) -> None:
    """Progress edits of many messages in many threads, as busy replicas stream them (the
    messages need not exist: the tier counts every call)."""
    await _from_replicas(
        slack,
        stores,
        each,
        lambda sender, r, i: sender.edit(
            f"C{i % 5}CHAN", f"1712.{r}{i:04d}", text=f"working… step {i}"
        ),
    )


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


async def test_three_replicas_posting_to_one_channel_keep_its_budget_together(
    stores: list[Store], slack: FakeSlack
) -> None:
    await _post_from_replicas(slack, stores)
    posts = slack.calls_for("chat.postMessage")
    assert len(posts) == REPLICAS * POSTS_EACH  # nothing had to be retried
    assert slack.rate_limited["chat.postMessage"] == 0
    # the combined rate as Slack saw it: a burst, then one post per ~0.11 s
    assert _max_in_window([c.time for c in posts], 1.0) <= POST_BURST + 10


async def test_control_without_the_shared_budget_replicas_multiply_the_post_rate(
    slack: FakeSlack,
) -> None:
    """Each replica alone keeps the budget, yet three together exceed it: Slack says 429."""
    await _post_from_replicas(slack, [None] * REPLICAS)
    assert slack.rate_limited["chat.postMessage"] > 0


async def test_three_replicas_streaming_progress_edits_keep_the_apps_update_tier(
    stores: list[Store], slack: FakeSlack
) -> None:
    await _edit_from_replicas(slack, stores)
    assert len(slack.calls_for("chat.update")) == REPLICAS * EDITS_EACH
    assert slack.rate_limited["chat.update"] == 0


async def test_control_without_the_shared_budget_replicas_multiply_the_edit_rate(
    slack: FakeSlack,
) -> None:
    # 180 edits: 68 past the tier's burst, so only sends spread over > 7 s would escape a
    # 429 — the control holds on a loaded machine too (117 edits needed only 0.6 s).
    await _edit_from_replicas(slack, [None] * REPLICAS, each=60)
    assert slack.rate_limited["chat.update"] > 0
