"""Three bot replicas on one Postgres database: a mention burst spread over them by Slack, one
replica SIGKILLed mid-turn, an approval clicked on another replica after the kill, a job whose
end is reported once — and every post exactly once.

The replicas are real ``ml-intern-slack run`` processes (``tests/replica_harness.py``); the
Slack emulator delivers each envelope to one of their three Socket Mode connections, as Slack
does. Leases are short (``LEASE_TTL_S``) so the takeover of the killed replica's sessions
happens within seconds. Nothing sleeps: every wait is on the emulator's, the LLM's or the
database's state, with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

from agent_core.store import Store
from tests.postgres_harness import PostgresCluster
from tests.replica_harness import (
    RESTARTED,
    ReplicaSet,
    Turn,
    answers,
    bot_replies,
    duplicate_posts,
    eventually,
    mention,
    ops_of,
    posts_of_part,
    replica_config,
    replica_set,
    session_of,
    wait_until,
)

LEASE_TTL_S = 3.0  # renewed every 0.75 s: a replica may stall 2 s (load, GC) and keep its leases
# The 200 mentions (~15 s for the test at load 9 on 2 cores). This burst found two
# faults, fixed in i19-owner 6f5ba62: a finished turn reported as cut off (killed between its
# answer and its op's 'done'), and live replicas losing leases under load (one renewal per
# lease). ML_INTERN_REPLICA_BURST=30 for a lighter local run.
BURST = int(os.environ.get("ML_INTERN_REPLICA_BURST", "200"))
HELD = 6  # turns held in the LLM while the kill happens: two per replica
APPROVE = "ml_approval:approve:0"
WAIT_S = 60.0
TOKEN_RE = re.compile(r"tk[0-9a-f]{10}")


async def test_three_replicas_kill_one_mid_turn_everything_exactly_once(
    tmp_path: Path, postgres_server: PostgresCluster
) -> None:
    db_url = await postgres_server.create_database()
    config = replica_config(LEASE_TTL_S)
    async with replica_set(db_url, tmp_path, config) as rs:
        store = await Store.open(db_url)
        try:
            await _scenario(rs, store)
        finally:
            await store.close()


async def _scenario(rs: ReplicaSet, store: Store) -> None:
    slack, llm = rs.slack, rs.llm
    replicas = await rs.start(3)
    assert slack.ws_connections == 3

    # 1. Turns held in the LLM, spread over the replicas, and a GPU job waiting for approval.
    held = [await mention(rs, "hold") for _ in range(HELD)]
    gpu = await mention(rs, "gpu")
    await llm.wait_for_tokens([t.tok for t in held], WAIT_S)
    card = await wait_until(
        slack,
        lambda: next(
            (m for m in bot_replies(slack, gpu.channel, gpu.ts) if APPROVE in json.dumps(m.blocks)),
            None,
        ),
        WAIT_S,
        "the approval card",
    )
    # Who drew the card (the gpu thread's render lease) and who runs each held turn (its
    # session's lease, live while the turn waits for the LLM).
    card_owner = await rs.holder_of(store, "render:" + await session_of(store, gpu.tok))
    runner = {t.tok: await rs.holder_of(store, await session_of(store, t.tok)) for t in held}
    victim = next(
        r for r in replicas if r is not card_owner and any(v is r for v in runner.values())
    )
    (third,) = [r for r in replicas if r is not victim and r is not card_owner]
    cut_off = [t for t in held if runner[t.tok] is victim]
    survived = [t for t in held if runner[t.tok] is not victim]

    # 2. Follow-ups queued behind the victim's running turns, and the mention burst.
    follow_ups = {
        t.tok: await mention(rs, "plain", channel=t.channel, thread_ts=t.ts) for t in cut_off
    }
    burst = list(await asyncio.gather(*(mention(rs, "plain") for _ in range(BURST))))
    per_replica = {r.replica_id: 0 for r in replicas}
    for turn in burst:
        per_replica[rs.receiver_of(turn.event_id).replica_id] += 1
    assert all(n >= BURST // 3 - 1 for n in per_replica.values()), per_replica  # spread
    for turn in [*follow_ups.values(), *burst]:  # durably queued before the kill
        await eventually(lambda t=turn: ops_of(store, t.tok), WAIT_S, f"op of {turn.tok}")

    # 3. SIGKILL mid-turn; the approval is clicked on the third replica's connection.
    await rs.kill(victim)
    # The sessions it held when it died (a lease row keeps its owner until taken over, which
    # happens only once it expired, seconds from now): the only ones it may have cut off.
    rows = await store.fetchall(
        "SELECT session_id FROM session_leases WHERE owner=?", (victim.replica_id,)
    )
    held_by_victim = {r[0] for r in rows}
    click = await slack.click_button(
        gpu.channel, card.ts, APPROVE, user=gpu.user, connection=third.connection
    )
    (delivery,) = [d for d in slack.deliveries if d.envelope_id == click.envelope_id]
    assert rs.by_connection(delivery.connection) is third
    await wait_until(
        slack,
        lambda: answers(rs, gpu, f"Job submitted for {gpu.tok}"),
        WAIT_S,
        "the approved job's answer",
    )
    job = rs.hub.jobs.last
    assert job is not None and len(rs.hub.jobs.all()) == 1
    rs.hub.jobs.set_stage(job.id, "COMPLETED")
    llm.release.set()

    # 4. Everything is served: each burst turn answered — or, if the kill cut it off, told so —
    # and the killed replica's held turns told, their queued follow-ups answered, by survivors.
    def unserved() -> list[str]:
        return [
            *(
                f"answer {t.tok} (got by {rs.receiver_of(t.event_id).replica_id}; thread: "
                f"{[m.text[:50] for m in bot_replies(slack, t.channel, t.ts)]})"
                for t in survived + burst
                if not answers(rs, t, f"Answer for {t.tok}")
                and not (t in burst and answers(rs, t, RESTARTED))
            ),
            *(f"restart notice {t.tok}" for t in cut_off if not answers(rs, t, RESTARTED)),
            *(
                f"follow-up {f.tok}"
                for f in follow_ups.values()
                if not answers(rs, f, f"Answer for {f.tok}")
            ),
            *(["job finished"] if not posts_of_part(rs, gpu, f"job_done:{job.id}") else []),
        ]

    await wait_until(slack, lambda: not unserved(), WAIT_S, "every thread to be served", unserved)
    codes = await rs.stop_all()  # nothing can post after this: the audit below is final
    assert all(code == 0 for code in codes.values()), codes

    # 5. Exactly once, everywhere; the outcome of each turn is the one its durable op records.
    outcome = {t.tok: await ops_of(store, t.tok) for t in [*held, *burst, *follow_ups.values()]}

    def seen(t: Turn) -> tuple[Turn, list[str], list[str]]:
        return t, outcome[t.tok], [m.text[:60] for m in bot_replies(slack, t.channel, t.ts)]

    for t in survived + burst:
        if outcome[t.tok] == ["interrupted"]:  # running on the victim when it was killed
            assert answers(rs, t, RESTARTED) == 1, seen(t)
            assert answers(rs, t, f"Answer for {t.tok}") == 0, seen(t)
        else:
            assert outcome[t.tok] == ["done"], seen(t)
            assert answers(rs, t, f"Answer for {t.tok}") == 1, seen(t)
            assert answers(rs, t, RESTARTED) == 0, seen(t)
    for t in [*burst, *cut_off]:
        if outcome[t.tok] == ["interrupted"]:
            sid = await session_of(store, t.tok)
            assert sid in held_by_victim, (t, "cut off, but not on the killed replica")
    for t in cut_off:
        assert outcome[t.tok] == ["interrupted"], (t, outcome[t.tok])
        assert answers(rs, t, RESTARTED) == 1, t
        assert answers(rs, t, f"Answer for {t.tok}") == 0, t  # a cut-off call is never re-run
        follow = follow_ups[t.tok]
        assert outcome[follow.tok] == ["done"], (follow, outcome[follow.tok])
        assert answers(rs, follow, f"Answer for {follow.tok}") == 1, follow
    assert answers(rs, gpu, f"Job submitted for {gpu.tok}") == 1
    assert posts_of_part(rs, gpu, f"job_done:{job.id}") == 1
    assert answers(rs, gpu, f"your job `{job.id}` completed") == 1
    assert len(rs.hub.jobs.all()) == 1  # one click, one job
    channels = {t.channel for t in [*held, *burst, gpu]}
    assert duplicate_posts(slack, channels) == {}
    for t in [*held, *burst, gpu]:  # no thread shows another session's token
        own = {t.tok} | ({follow_ups[t.tok].tok} if t.tok in follow_ups else set())
        for m in bot_replies(slack, t.channel, t.ts):
            assert set(TOKEN_RE.findall(m.text)) <= own, (t, m.text)
