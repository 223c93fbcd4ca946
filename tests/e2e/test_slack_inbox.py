"""The durable inbox end to end: ``ml-intern-slack run`` as a real process against the Slack
emulator, killed (``kill -9``) after it acked a mention and before it enqueued the op
(:mod:`tests.inbox_crash` explains how that window is held open without sleeps). After a
restart the message is answered exactly once — on SQLite and on the real Postgres.

Without the inbox this message is lost: Slack does not redeliver an acked envelope, and the
dedupe key would call a redelivery a duplicate anyway.
"""

from __future__ import annotations

from pathlib import Path

from tests.inbox_crash import assert_answered_once, kill_after_ack_before_enqueue
from tests.replica_harness import replica_config, replica_set

LEASE_TTL_S = 2.0  # a dead process's inbox claims expire this long after the ack


async def test_bot_killed_between_the_ack_and_the_enqueue_answers_once_after_restart(
    tmp_path: Path, store_url: str
) -> None:
    async with replica_set(store_url, tmp_path, replica_config(LEASE_TTL_S)) as rs:
        (first,) = await rs.start(1)
        acked = await kill_after_ack_before_enqueue(
            rs, first, "tkinbox0001", "C0INBOX01", "U0INBOX01"
        )
        await rs.start(1)  # a new process (another replica id): it replays the row
        await assert_answered_once(rs, acked)
