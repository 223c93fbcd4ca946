"""Restart benchmark: ``kill -9`` the bot with pending approvals and watched jobs, start it again
on the same database, and time until everything is served; count lost and duplicated posts.

Set-up (one bot process, fake Hub with jobs that run until the driver finishes them):

* ``n`` sessions end their turn on an approval card (an ``hf_jobs`` run on GPU hardware);
* ``n`` sessions submit a CPU job (``confirm_cpu_jobs`` off, so no approval) that the
  JobWatcher follows; the turn ends with "Job submitted".

Then ``kill -9`` (no shutdown path runs), start a new process on the same SQLite file, and as
soon as its socket is up: click *Approve* on every old card and finish every running job on
the Hub. Served = the approved job's "Job submitted" answer is in its thread, and each
watched job's card shows "completed". Afterwards every thread is audited: each expected post
(approval card, job card, answer) exactly once — by the bot's render ledger metadata
(``{session, seq, part}``) and by content.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench.bench_bot import (
    bot_log_figures,
    mention,
    new_channel,
    quiesce,
    run_turn,
    wait_answer,
    wait_text,
)
from bench.stack import Stack, now, open_stack
from bench.stats import summary

APPROVE = "ml_approval:approve:0"
CONFIG: dict[str, Any] = {
    "confirm_cpu_jobs": False,  # CPU jobs run without a card: they become watched jobs
    # Default backoff, capped at 5 s so "finished → card updated" is bounded in a short run.
    "jobs": {"poll_max_s": 5.0},
}


def _parts(msgs: list[dict[str, Any]], root_ts: str) -> list[tuple[str, str]]:
    """``(seq, part)`` of every bot post in the thread — the render ledger's identity of a
    post, so the same pair twice is a double post (two progress messages of two turns are
    not)."""
    out = []
    for m in msgs:
        if not m.get("bot_id") or m["ts"] == root_ts:
            continue
        payload = (m.get("metadata") or {}).get("event_payload") or {}
        out.append((str(payload.get("seq", "?")), str(payload.get("part", "?"))))
    return out


async def _audit(stack: Stack, turn: dict[str, Any], expect: dict[str, int]) -> dict[str, int]:
    """Lost/duplicated posts in one thread against the expected ``{part kind: count}``."""
    msgs = await stack.ctl.messages(turn["channel"], turn["ts"])
    parts = _parts(msgs, turn["ts"])
    kinds: dict[str, int] = {}
    for _, p in parts:
        kind = p.split(":", 1)[0]  # answer:0 -> answer, job:<id> -> job
        kinds[kind] = kinds.get(kind, 0) + 1
    lost = sum(max(0, want - kinds.get(k, 0)) for k, want in expect.items())
    # A double post is the same ledger entry (seq, part) twice. A second post of an expected
    # kind under another seq is not one: e.g. the answer to the "job finished" note that
    # resumes the thread's turn is an answer of its own (``answer_copies`` checks the first).
    duplicated = sum(c - 1 for c in Counter(parts).values() if c > 1)
    bot_texts = [m.get("text", "") for m in msgs if m.get("bot_id") and m["ts"] != turn["ts"]]
    answers = sum(
        1 for t in bot_texts if f"for {turn['tok']}" in t and t.startswith("Job submitted")
    )
    return {
        "thread": f"{turn['channel']}/{turn['ts']}",
        "parts": [f"{seq}:{part}" for seq, part in parts],
        "lost": lost,
        "duplicated": duplicated,
        "answer_copies": answers,
        "other_posts": sum(v for k, v in kinds.items() if k not in expect),
    }


async def run_restart(exits: AsyncExitStack, dirs: dict[str, Path], quick: bool) -> dict[str, Any]:
    n = 10 if quick else 50
    stack = await open_stack(exits, dirs["logs"] / "restart", dirs["work"] / "restart", hub=True)
    assert stack.hub_ctl is not None
    db = stack.workdir / "restart.db"
    first, _ = await stack.start_bot("bot-restart-before", CONFIG, db_path=db)
    await run_turn(stack, "plain")  # warm-up

    gpu = list(await asyncio.gather(*(mention(stack, "gpu", new_channel()) for _ in range(n))))
    cpu = list(await asyncio.gather(*(mention(stack, "cpujob", new_channel()) for _ in range(n))))
    await asyncio.gather(
        *(wait_text(stack, t, APPROVE, "card", 120.0) for t in gpu),
        *(wait_answer(stack, t, 120.0) for t in cpu),
    )
    jobs_before = [j for j in await stack.hub_ctl.jobs() if j["stage"] not in ("COMPLETED",)]
    await quiesce(stack, quiet_s=0.5, limit_s=5.0)
    cards = {}
    for t in gpu:
        msgs = await stack.ctl.messages(t["channel"], t["ts"])
        cards[t["tok"]] = next(
            m["ts"] for m in msgs if APPROVE in json.dumps(m.get("blocks") or [])
        )

    killed_at = now()
    await first.kill9()
    second, connected_at = await stack.start_bot("bot-restart-after", CONFIG, db_path=db)
    restarted_at = second.started_at

    clicks = await asyncio.gather(
        *(stack.ctl.click(t["channel"], cards[t["tok"]], APPROVE) for t in gpu),
        return_exceptions=True,
    )
    finished = await stack.hub_ctl.finish_jobs()
    finished_at = float(finished["at"])
    results = await asyncio.gather(
        *(wait_answer(stack, t, 120.0) for t in gpu),
        *(wait_text(stack, t, "completed", "completed", 120.0) for t in cpu),
        return_exceptions=True,
    )
    await quiesce(stack, quiet_s=1.0, limit_s=10.0)
    second_log = bot_log_figures(second)

    approvals_served = [t["answered_at"] - restarted_at for t in gpu if t.get("answered_at")]
    jobs_served = [t["completed_at"] - restarted_at for t in cpu if t.get("completed_at")]
    job_lag = [t["completed_at"] - finished_at for t in cpu if t.get("completed_at")]
    audits_gpu = [await _audit(stack, t, {"card": 1, "job": 1, "answer": 1}) for t in gpu]
    audits_cpu = [await _audit(stack, t, {"job": 1, "answer": 1}) for t in cpu]
    audits = audits_gpu + audits_cpu
    served = approvals_served + jobs_served
    return {
        "pending_approvals": n,
        "watched_jobs": n,
        "jobs_running_at_kill": len(jobs_before),
        "config": CONFIG,
        "restart_connect_ms": (connected_at - restarted_at) * 1000,
        "llm_client_ready_after_restart_s": second_log.get("llm_client_ready_s"),
        "kill_to_connected_ms": (connected_at - killed_at) * 1000,
        "click_errors": sum(1 for c in clicks if isinstance(c, BaseException)),
        "click_ack_ms": summary(
            c["ack"]["latency_s"] for c in clicks if not isinstance(c, BaseException)
        ),
        "approvals_served": len(approvals_served),
        "approval_served_after_restart_ms": summary(approvals_served),
        "jobs_served": len(jobs_served),
        "job_served_after_restart_ms": summary(jobs_served),
        "job_finish_to_card_ms": summary(job_lag),
        "all_served_after_restart_s": max(served) if len(served) == 2 * n else None,
        "unserved": 2 * n - len(served),
        "wait_errors": sum(1 for r in results if isinstance(r, BaseException)),
        "lost_posts": sum(a["lost"] for a in audits),
        "duplicated_posts": sum(a["duplicated"] for a in audits),
        "answers_not_exactly_once": sum(
            1 for a in audits_gpu + audits_cpu if a["answer_copies"] != 1
        ),
        "other_posts": sum(a["other_posts"] for a in audits),
        # the first few threads that are not exactly as expected, to look at by hand
        "examples": [a for a in audits if a["lost"] or a["duplicated"]][:5],
    }
