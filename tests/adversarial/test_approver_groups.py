"""Who may decide is re-read, not remembered: a person removed from an approver group stops
approving within a short TTL, and a group Slack will not list counts as empty (fail closed).

Attack observed: a user removed from an approver group kept approving while the 5-minute cache
was stale, and indefinitely when the refresh failed (the stale list was cached again).
Real ``AsyncWebClient`` against the Slack emulator; a settable clock instead of waiting.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Access
from bot.settings import SlackSettings
from tests.fakes.fake_slack import FakeSlack

SHORT_TTL_PASSED = 31.0  # past bot.access.DECISION_MAX_AGE_S (30 s), far inside the 300 s cache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings() -> SlackSettings:
    return SlackSettings.model_validate(
        {"approvers": {"gpu_job": ["S0ML"]}, "usergroup_cache_s": 300}
    )


async def test_removed_group_member_keeps_approving_while_cache_is_stale() -> None:
    async with FakeSlack() as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.base_url)
        clock = Clock()
        access = Access(settings(), client, clock=clock)
        fake.set_usergroup("S0ML", ["U0MALLORY", "U0ALICE"])
        assert await access.may_decide("U0MALLORY", requester="U0REQ", approval_class="gpu_job")
        fake.set_usergroup("S0ML", ["U0ALICE"])  # Mallory is removed from the group
        clock.now += SHORT_TTL_PASSED  # well inside the 300 s cache
        assert not await access.may_decide("U0MALLORY", requester="U0REQ", approval_class="gpu_job")
        assert await access.may_decide("U0ALICE", requester="U0REQ", approval_class="gpu_job")


async def test_group_refresh_failure_keeps_stale_members_approving() -> None:
    async with FakeSlack() as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.base_url)
        clock = Clock()
        access = Access(settings(), client, clock=clock)
        fake.set_usergroup("S0ML", ["U0MALLORY"])
        assert await access.may_decide("U0MALLORY", requester="U0REQ", approval_class="gpu_job")
        for _ in range(3):  # the refresh keeps failing: never a pass on the stale list
            clock.now += SHORT_TTL_PASSED
            fake.fail_next("usergroups.users.list", "missing_scope")
            assert not await access.may_decide(
                "U0MALLORY", requester="U0REQ", approval_class="gpu_job"
            )
        # the requester is not affected: deciding their own call needs no group lookup
        assert await access.may_decide("U0REQ", requester="U0REQ", approval_class="gpu_job")
