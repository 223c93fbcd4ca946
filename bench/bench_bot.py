"""The bot as its real process (``ml-intern-slack``) against the loopback fakes.

    python -m bench.bench_bot [--quick] [--only cold,steady,calls,restart]

Scenarios (each on a fresh stack of fakes, see ``bench/stack.py``):

``cold``     process start → Socket Mode connected → first event acked (and first answer).
``steady``   one warm bot: sequential plain and two-tool turns (turn overhead next to the LLM's
             own time, ack latency at concurrency 1), a 50-mention burst, then 200 sessions
             active at once (ack latency, all answered, no cross-talk, RSS before/peak/after
             and after idling).
``calls``    Web API calls per turn by method, short vs long (10k chars in 2,000 chunks)
             answers, with rate limits off and on (429s, added latency) — for the bot and for
             the naive edit-per-chunk baseline (``bench/naive_bot.py``).
``restart``  ``kill -9`` with pending approvals and watched jobs; time until all are served
             again; lost and duplicated posts.
``long``     100 turns in one thread: the bot's CPU per turn over turns 1–10 vs 91–100
             (``bench/long_session.py``).

Rate limits are off except in ``calls``/limits-on: with Slack's tiers enforced, 200 sessions
would spend minutes queueing reactions (Tier 3: 50/min workspace-wide), and the other figures
would measure the emulator's token buckets instead of the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.control import ControlError, calls_by_method, channel_of  # noqa: E402
from bench.procs import Proc, install_signal_exit  # noqa: E402
from bench.stack import Stack, now, open_stack  # noqa: E402
from bench.stats import median, summary  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN_RE = re.compile(r"tk[0-9a-f]{10}")
ANSWER_MARK = {
    "plain": "Answer for {tok}",
    "tools": "Planned and done for {tok}",
    "long": "End of answer for {tok}",
    "gpu": "Job submitted for {tok}",
    "cpujob": "Job submitted for {tok}",
    "bash": "Ran the command for {tok}",
}
# The bot in ``calls`` also notifies a channel of every finished turn (messaging, as deployed
# by a team that wants a feed); that channel's calls count in the turn's.
NOTIFY_CHANNEL = "C0NOTIFY1"
NOTIFY_CONFIG = {
    "messaging": {
        "enabled": True,
        "destinations": {
            "slack.feed": {
                "provider": "slack",
                "channel": NOTIFY_CHANNEL,
                "allow_auto_events": True,
            }
        },
    }
}
LONG_PACE_MS = 2.0  # 2,000 chunks × 2 ms ≈ a 4–5 s stream


def new_token() -> str:
    return "tk" + secrets.token_hex(5)


_channel_seq = iter(range(1, 1_000_000))


def new_channel(prefix: str = "C") -> str:
    """A fresh channel id (the emulator accepts any well-formed id outside strict mode)."""
    return f"{prefix}{next(_channel_seq):06d}"


# ------------------------------------------------------------------------------ one turn


async def mention(
    stack: Stack,
    kind: str,
    channel: str,
    *,
    extra: str = "",
    tok: str | None = None,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """Mention the bot with a ``bench kind=… tok=…`` directive; returns timing of the ack."""
    tok = tok or new_token()
    text = f"bench kind={kind} tok={tok} {extra}".strip()
    resp = await stack.ctl.mention(text, channel, thread_ts=thread_ts)
    ack = resp["ack"]
    return {
        "kind": kind,
        "tok": tok,
        "channel": channel,
        "ts": resp["ts"],
        "sent_at": ack["sent_at"],
        "acked_at": ack["acked_at"],
        "ack_s": ack["latency_s"],
    }


class AnswerPoller:
    """Waits for many thread messages with one ``find_messages`` request per tick.

    The time recorded is the emulator's record of when the text first appeared, so the
    polling interval does not enter the figures; it only bounds how soon the driver moves on.
    One batched poll keeps the harness's own CPU use flat however many sessions are waiting
    (a blocking wait per session would be re-checked on every emulator state change).
    """

    def __init__(self, stack: Stack, interval: float = 0.05) -> None:
        self.stack = stack
        self.interval = interval
        self._pending: dict[int, tuple[dict[str, Any], str, str, asyncio.Future[None], float]] = {}
        self._keys = iter(range(1 << 62))
        self._task: asyncio.Task[None] | None = None

    async def wait(
        self, turn: dict[str, Any], needle: str, label: str, timeout: float = 120.0
    ) -> dict[str, Any]:
        """Wait until a bot reply in the turn's thread contains ``needle``; sets
        ``turn[label + "_at"]`` (first appearance) and ``turn[label + "_copies"]``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[next(self._keys)] = (turn, needle, label, fut, now() + timeout)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        await fut
        return turn

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for _, _, _, fut, _ in self._pending.values():
            fut.cancel()
        self._pending.clear()

    async def _loop(self) -> None:
        while self._pending:
            items = list(self._pending.items())
            queries = [
                {"channel": t["channel"], "thread_ts": t["ts"], "contains": needle}
                for _, (t, needle, _, _, _) in items
            ]
            try:
                found = await self.stack.ctl.find_messages(queries)
            except ControlError as exc:
                for key, (_, _, _, fut, _) in items:
                    self._pending.pop(key, None)
                    if not fut.done():
                        fut.set_exception(exc)
                return
            for (key, (turn, needle, label, fut, deadline)), hit in zip(items, found, strict=True):
                if hit is None and now() < deadline:
                    continue
                self._pending.pop(key, None)
                if fut.done():
                    continue
                if hit is None:
                    fut.set_exception(TimeoutError(f"no {needle!r} in the thread of {turn['tok']}"))
                    continue
                turn[f"{label}_at"] = hit["at"]
                turn[f"{label}_copies"] = hit["count"]
                fut.set_result(None)
            await asyncio.sleep(self.interval)


async def wait_text(
    stack: Stack, turn: dict[str, Any], needle: str, label: str, timeout: float = 120.0
) -> dict[str, Any]:
    if stack.poller is None:
        stack.poller = AnswerPoller(stack)
    return await stack.poller.wait(turn, needle, label, timeout)


async def wait_answer(stack: Stack, turn: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    """Wait for the turn's final answer in its thread; adds ``answered_at`` and ``total_s``."""
    needle = ANSWER_MARK[turn["kind"]].format(tok=turn["tok"])
    await wait_text(stack, turn, needle, "answered", timeout)
    turn["total_s"] = turn["answered_at"] - turn["sent_at"]
    return turn


async def run_turn(
    stack: Stack, kind: str, channel: str | None = None, *, extra: str = "", timeout: float = 120.0
) -> dict[str, Any]:
    turn = await mention(stack, kind, channel or new_channel(), extra=extra)
    return await wait_answer(stack, turn, timeout)


async def attach_llm_time(stack: Stack, turns: list[dict[str, Any]]) -> None:
    """Per turn, the LLM server's own time (sum over the turn's requests) and request count."""
    by_tok: dict[str, list[dict[str, Any]]] = {}
    for rec in await stack.llm_ctl.records():
        if rec.get("token"):
            by_tok.setdefault(rec["token"], []).append(rec)
    for turn in turns:
        recs = by_tok.get(turn["tok"], [])
        turn["llm_s"] = sum(r["end"] - r["start"] for r in recs)
        turn["llm_calls"] = len(recs)
        if "total_s" in turn:
            turn["bot_s"] = turn["total_s"] - turn["llm_s"]


async def quiesce(stack: Stack, quiet_s: float = 1.0, limit_s: float = 10.0) -> int:
    """Wait until the emulator saw no new Web API call for ``quiet_s`` (bounded); returns the
    call count. Trailing calls (final reactions, status clears) belong to the turn too."""
    deadline = now() + limit_s
    _, total = await stack.ctl.calls(since=1 << 30)
    last_change = now()
    while now() < deadline:
        await asyncio.sleep(0.2)
        _, current = await stack.ctl.calls(since=1 << 30)
        if current != total:
            total, last_change = current, now()
        elif now() - last_change >= quiet_s:
            break
    return total


def _sample_rss(proc: Proc, into: list[int], stop: asyncio.Event) -> asyncio.Task[None]:
    async def loop() -> None:
        while not stop.is_set():
            rss = proc.rss_bytes()
            if rss:
                into.append(rss)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)

    return asyncio.create_task(loop())


_CONNECTED_LOG = re.compile(r"connected to Slack .*\(([\d.]+)s after start\)")
_LLM_READY_LOG = re.compile(r"LLM client ready \(([\d.]+)s\)")


def bot_log_figures(proc: Proc) -> dict[str, float | None]:
    """What the bot says about its own start (its log lines), next to what we measured."""
    try:
        text = proc.log_path.read_text(errors="replace")
    except OSError:
        return {}
    connected = _CONNECTED_LOG.search(text)
    llm = _LLM_READY_LOG.search(text)
    return {
        "self_reported_connect_s": float(connected.group(1)) if connected else None,
        "llm_client_ready_s": float(llm.group(1)) if llm else None,
    }


def _mb(value: float | None) -> float | None:
    return None if value is None else value / (1024 * 1024)


# ------------------------------------------------------------------------------ scenarios


async def scenario_cold(exits: AsyncExitStack, dirs: dict[str, Path], runs: int) -> dict[str, Any]:
    """Item 1: spawn → Socket Mode connected → first event acked, ``runs`` times."""
    stack = await open_stack(exits, dirs["logs"] / "cold", dirs["work"] / "cold")
    samples = []
    for i in range(runs):
        proc, connected_at = await stack.start_bot(f"bot-cold-{i}")
        turn = await mention(stack, "plain", new_channel())
        await wait_answer(stack, turn)
        samples.append(
            {
                "connect_s": connected_at - proc.started_at,
                "first_ack_s": turn["acked_at"] - proc.started_at,
                "ack_s": turn["ack_s"],
                "first_answer_s": turn["total_s"],
                "rss_mb": _mb(proc.rss_bytes()),
            }
        )
        await stack.stop_bot(proc)
        samples[-1].update(bot_log_figures(proc))
    return {
        "runs": runs,
        "connect_ms": summary(s["connect_s"] for s in samples),
        "first_ack_ms": summary(s["first_ack_s"] for s in samples),
        "first_event_ack_ms": summary(s["ack_s"] for s in samples),
        "first_answer_ms": summary(s["first_answer_s"] for s in samples),
        "rss_mb_after_first_turn": median(s["rss_mb"] for s in samples if s["rss_mb"]),
        "self_reported_connect_s": median(
            s["self_reported_connect_s"]
            for s in samples
            if s.get("self_reported_connect_s") is not None
        ),
        "llm_client_ready_s": median(
            s["llm_client_ready_s"] for s in samples if s.get("llm_client_ready_s") is not None
        ),
        "samples": samples,
    }


async def _burst(
    stack: Stack, n: int, kind: str = "plain", extra: str = "", timeout: float = 180.0
) -> list[dict[str, Any]]:
    """``n`` mentions at once, each in its own channel; wait for every answer."""
    turns = await asyncio.gather(
        *(mention(stack, kind, new_channel(), extra=extra) for _ in range(n))
    )
    results = await asyncio.gather(
        *(wait_answer(stack, t, timeout) for t in turns), return_exceptions=True
    )
    for t, r in zip(turns, results, strict=True):
        if not isinstance(r, dict):  # unanswered: kept, without total_s, and counted as such
            t["error"] = f"{type(r).__name__}: {r}"
    return list(turns)


async def _cross_talk(stack: Stack, turns: list[dict[str, Any]]) -> dict[str, int]:
    """Each thread must hold its own answer exactly once and no other session's token."""
    foreign = missing = duplicated = 0
    for t in turns:
        msgs = await stack.ctl.messages(t["channel"], t["ts"])
        bot = [m for m in msgs if m.get("bot_id") and m["ts"] != t["ts"]]
        blob = " ".join(m.get("text", "") + json.dumps(m.get("blocks") or []) for m in bot)
        if set(TOKEN_RE.findall(blob)) - {t["tok"]}:
            foreign += 1
        needle = ANSWER_MARK[t["kind"]].format(tok=t["tok"])
        hits = sum(1 for m in bot if needle in m.get("text", ""))
        missing += hits == 0
        duplicated += hits > 1
        # and nothing of this session leaked into another channel
    return {
        "threads": len(turns),
        "foreign_tokens": foreign,
        "missing": missing,
        "duplicated": duplicated,
    }


async def scenario_steady(
    exits: AsyncExitStack, dirs: dict[str, Path], quick: bool
) -> dict[str, Any]:
    """Items 2, 3 and 5 on one warm bot process."""
    seq_turns = 10 if quick else 30
    idle_s = 5.0 if quick else 35.0
    stack = await open_stack(exits, dirs["logs"] / "steady", dirs["work"] / "steady")
    proc, _ = await stack.start_bot("bot-steady")
    for _ in range(3):  # warm-up: litellm import, first-call costs, SQLite pages
        await run_turn(stack, "plain")
    await stack.llm_ctl.reset()

    cpu: dict[str, dict[str, float]] = {}
    mark = stack.cpu_seconds()
    plain = [await run_turn(stack, "plain") for _ in range(seq_turns)]
    cpu["plain_turns"], mark = _cpu_delta(mark, stack.cpu_seconds(), seq_turns), stack.cpu_seconds()
    tools = [await run_turn(stack, "tools") for _ in range(seq_turns)]
    cpu["two_tool_turns"], mark = (
        _cpu_delta(mark, stack.cpu_seconds(), seq_turns),
        stack.cpu_seconds(),
    )
    await attach_llm_time(stack, plain + tools)

    rss_before = proc.rss_bytes()
    burst50 = await _burst(stack, 50)
    cpu["burst50"], mark = _cpu_delta(mark, stack.cpu_seconds(), 50), stack.cpu_seconds()

    # 200 sessions active at once: every LLM reply waits 1 s, so all 200 turns are in flight
    # together (acked, persisted, waiting on the model) before the first one finishes.
    peak: list[int] = []
    stop = asyncio.Event()
    sampler = _sample_rss(proc, peak, stop)
    t0 = now()
    burst200 = await _burst(stack, 200, extra="delay_ms=1000", timeout=240.0)
    all_answered_s = now() - t0
    cpu["burst200"] = _cpu_delta(mark, stack.cpu_seconds(), 200)
    stop.set()
    await sampler
    rss_after = proc.rss_bytes()
    cross = await _cross_talk(stack, burst200)
    await asyncio.sleep(idle_s)
    rss_idle = proc.rss_bytes()
    answered = sum(1 for t in burst200 if "total_s" in t)
    await stack.stop_bot(proc)
    naive = await _naive_bursts(stack)
    return {
        "naive": naive,
        "plain_turn": _turn_summary(plain),
        "two_tool_turn": _turn_summary(tools),
        "ack_ms": {
            "1": summary(t["ack_s"] for t in plain + tools),
            "50": summary(t["ack_s"] for t in burst50),
            "200": summary(t["ack_s"] for t in burst200),
        },
        "burst50_answer_ms": summary(t["total_s"] for t in burst50 if "total_s" in t),
        "cpu_ms_per_turn": cpu,
        "concurrency200": {
            "sessions": 200,
            "answered": answered,
            "all_answered_s": all_answered_s,
            "answer_ms": summary(t["total_s"] for t in burst200 if "total_s" in t),
            "llm_delay_ms": 1000,
            **cross,
            "rss_mb_before": _mb(rss_before),
            "rss_mb_peak": _mb(max(peak) if peak else None),
            "rss_mb_after": _mb(rss_after),
            "rss_mb_after_idle": _mb(rss_idle),
            "idle_wait_s": idle_s,
            "rss_kb_per_idle_session": (
                (rss_idle - rss_before) / 1024 / 200 if rss_idle and rss_before else None
            ),
        },
        "raw": {
            "ack_s": {
                "1": [t["ack_s"] for t in plain + tools],
                "50": [t["ack_s"] for t in burst50],
                "200": [t["ack_s"] for t in burst200],
            },
            "plain_total_s": [t["total_s"] for t in plain],
            "plain_llm_s": [t["llm_s"] for t in plain],
            "tools_total_s": [t["total_s"] for t in tools],
            "tools_llm_s": [t["llm_s"] for t in tools],
            "burst50_total_s": [t["total_s"] for t in burst50 if "total_s" in t],
            "burst200_total_s": [t["total_s"] for t in burst200 if "total_s" in t],
        },
    }


async def _naive_bursts(stack: Stack) -> dict[str, Any]:
    """The same 50 and 200 bursts against the naive Bolt + litellm bot (posting each answer
    once, its fastest mode) on the same stack, right after the bot's: like with like."""
    proc, _ = await stack.start_naive("naive-steady", stream="final")
    for _ in range(3):  # warm-up, as for the bot
        await run_turn(stack, "plain")
    mark = stack.cpu_seconds()
    burst50 = await _burst(stack, 50)
    cpu50, mark = _cpu_delta(mark, stack.cpu_seconds(), 50), stack.cpu_seconds()
    rss_before = proc.rss_bytes()
    t0 = now()
    burst200 = await _burst(stack, 200, extra="delay_ms=1000", timeout=240.0)
    all_answered_s = now() - t0
    cpu200 = _cpu_delta(mark, stack.cpu_seconds(), 200)
    cross = await _cross_talk(stack, burst200)
    rss_after = proc.rss_bytes()
    await stack.stop_bot(proc)
    return {
        "ack_ms": {
            "50": summary(t["ack_s"] for t in burst50),
            "200": summary(t["ack_s"] for t in burst200),
        },
        "burst50_answer_ms": summary(t["total_s"] for t in burst50 if "total_s" in t),
        "burst200_answer_ms": summary(t["total_s"] for t in burst200 if "total_s" in t),
        "all_answered_s": all_answered_s,
        "answered": sum(1 for t in burst200 if "total_s" in t),
        **cross,
        "cpu_ms_per_turn": {"burst50": cpu50, "burst200": cpu200},
        "rss_mb_before": _mb(rss_before),
        "rss_mb_after": _mb(rss_after),
    }


def _cpu_delta(before: dict[str, float], after: dict[str, float], turns: int) -> dict[str, float]:
    """CPU milliseconds per turn, by process, between two ``Stack.cpu_seconds`` readings."""
    return {k: (after[k] - before[k]) * 1000 / turns for k in after if k in before}


def _turn_summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "turns": len(turns),
        "llm_calls_per_turn": median(t["llm_calls"] for t in turns),
        "total_ms": summary(t["total_s"] for t in turns),
        "llm_ms": summary(t["llm_s"] for t in turns),
        "bot_ms": summary(t["bot_s"] for t in turns),
    }


# --- calls per turn and rate limits ---------------------------------------------------


async def _measured_turn(stack: Stack, kind: str, extra: str = "") -> dict[str, Any]:
    """One turn alone on the wire: its calls (by the turn's channel) and 429s."""
    await quiesce(stack, quiet_s=0.5, limit_s=5.0)
    _, since = await stack.ctl.calls(since=1 << 30)
    turn = await run_turn(stack, kind, extra=extra, timeout=60.0)
    await quiesce(stack)
    calls, _ = await stack.ctl.calls(since=since)
    mine = [c for c in calls if channel_of(c) in (turn["channel"], NOTIFY_CHANNEL)]
    turn["calls"] = calls_by_method(mine)
    turn["calls_total"] = len(mine)
    turn["r429"] = calls_by_method([c for c in mine if c["status"] == 429])
    turn["r429_total"] = sum(turn["r429"].values())
    return turn


async def _same_channel_burst(stack: Stack, n: int) -> dict[str, Any]:
    """``n`` people mention the bot in one channel at once: Slack's per-channel posting limit
    (~1 message/s) is what the bot has to queue behind."""
    await quiesce(stack, quiet_s=0.5, limit_s=5.0)
    _, since = await stack.ctl.calls(since=1 << 30)
    channel = new_channel()
    turns = await asyncio.gather(*(mention(stack, "plain", channel) for _ in range(n)))
    await asyncio.gather(*(wait_answer(stack, t, 15.0) for t in turns), return_exceptions=True)
    await quiesce(stack)
    calls, _ = await stack.ctl.calls(since=since)
    mine = [c for c in calls if channel_of(c) == channel]
    answered = [t for t in turns if "answered_at" in t]
    return {
        "mentions": n,
        "answered": len(answered),
        "answer_ms": summary(t["total_s"] for t in answered),
        "last_answer_s": (
            max(t["answered_at"] for t in answered) - min(t["sent_at"] for t in turns)
            if answered
            else None
        ),
        "calls": calls_by_method(mine),
        "calls_total": len(mine),
        "r429_total": sum(1 for c in mine if c["status"] == 429),
    }


async def _calls_run(
    exits: AsyncExitStack, dirs: dict[str, Path], who: str, limits: bool, quick: bool
) -> dict[str, Any]:
    name = f"calls-{who}-{'limits' if limits else 'nolimits'}"
    stack = await open_stack(exits, dirs["logs"] / name, dirs["work"] / name, rate_limits=limits)
    if who == "bot":  # with a notification channel, as issue 18's "≤ 4 calls" target says
        proc, _ = await stack.start_bot(f"bot-{name}", NOTIFY_CONFIG)
    else:
        proc, _ = await stack.start_naive(f"naive-{name}")
    await run_turn(stack, "plain")  # warm-up (litellm import in the bot)
    n_short, n_long = (2, 1) if quick else (4, 2)
    long_extra = f"chunks=2000 pace_ms={LONG_PACE_MS}"
    short = [await _measured_turn(stack, "plain") for _ in range(n_short)]
    long = [await _measured_turn(stack, "long", long_extra) for _ in range(n_long)]
    # Same text, same stream duration, 10× fewer chunks: the bot's count must not move.
    long200_extra = f"chunks=200 pace_ms={LONG_PACE_MS * 10}"
    long200 = [await _measured_turn(stack, "long", long200_extra)]
    # the naive baseline has no tools: a tool-call reply would leave it with nothing to say
    tools = [await _measured_turn(stack, "tools") for _ in range(n_short)] if who == "bot" else []
    await attach_llm_time(stack, short + long + long200 + tools)
    result: dict[str, Any] = {
        "short": _calls_summary(short),
        "long": _calls_summary(long),
        "long_200_chunks": _calls_summary(long200),
    }
    if tools:
        result["two_tools"] = _calls_summary(tools)
    if limits:
        result["same_channel_burst"] = await _same_channel_burst(stack, 5 if quick else 10)
    stats = await stack.ctl.stats()
    result["rate_limited_by_method"] = stats.get("rate_limited", {})
    await stack.stop_bot(proc)
    return result


def _calls_summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    methods = sorted({m for t in turns for m in t["calls"]})
    return {
        "turns": len(turns),
        "calls_per_turn": median(t["calls_total"] for t in turns),
        "by_method": {m: median(t["calls"].get(m, 0) for t in turns) for m in methods},
        "r429_per_turn": median(t["r429_total"] for t in turns),
        "latency_ms": summary(t["total_s"] for t in turns),
        "llm_ms": summary(t["llm_s"] for t in turns),
    }


async def scenario_calls(
    exits: AsyncExitStack, dirs: dict[str, Path], quick: bool
) -> dict[str, Any]:
    """Items 4 and 7, bot and naive baseline, rate limits off and on."""
    out: dict[str, Any] = {
        "long_answer": {"chars": 10_000, "chunks": 2000, "pace_ms": LONG_PACE_MS}
    }
    for who in ("bot", "naive"):
        for limits in (False, True):
            key = f"{who}_{'limits' if limits else 'nolimits'}"
            try:
                async with AsyncExitStack() as inner:  # stop each stack before the next starts
                    out[key] = await _calls_run(inner, dirs, who, limits, quick)
            except Exception as exc:  # recorded; the other runs still go
                out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    for who in ("bot", "naive"):
        off, on = out[f"{who}_nolimits"], out[f"{who}_limits"]
        if "error" in off or "error" in on:
            continue
        out[f"{who}_added_latency_ms"] = {
            kind: _diff(on[kind]["latency_ms"].get("p50"), off[kind]["latency_ms"].get("p50"))
            for kind in ("short", "long")
        }
    return out


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# --- restart -----------------------------------------------------------------------------


async def scenario_restart(
    exits: AsyncExitStack, dirs: dict[str, Path], quick: bool
) -> dict[str, Any]:
    """Item 6 (see ``bench/restart.py``)."""
    from bench.restart import run_restart

    return await run_restart(exits, dirs, quick)


SCENARIOS = {
    "cold": lambda exits, dirs, quick: scenario_cold(exits, dirs, 2 if quick else 5),
    "steady": scenario_steady,
    "calls": scenario_calls,
    "restart": scenario_restart,
    "long": lambda exits, dirs, quick: _scenario_long(exits, dirs, quick),
}
BUDGET_S = {"cold": 120.0, "steady": 300.0, "calls": 240.0, "restart": 180.0, "long": 180.0}


async def _scenario_long(
    exits: AsyncExitStack, dirs: dict[str, Path], quick: bool
) -> dict[str, Any]:
    """One thread, 100 turns (see ``bench/long_session.py``)."""
    from bench.long_session import scenario_long

    return await scenario_long(exits, dirs, quick)


async def run_all(only: list[str], quick: bool, out_dir: Path = RESULTS) -> dict[str, Any]:
    """Run the selected scenarios, each bounded in time; a failure is recorded, not raised."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dirs = {
        "logs": out_dir / "logs" / stamp,
        "work": Path(tempfile.mkdtemp(prefix="ml-intern-bench-")),
    }
    results: dict[str, Any] = {"quick": quick, "logs": str(dirs["logs"])}
    for name in only:
        t0 = now()
        try:
            async with AsyncExitStack() as exits, asyncio.timeout(BUDGET_S[name]):
                results[name] = await SCENARIOS[name](exits, dirs, quick)
        except Exception as exc:  # recorded in the results; the other scenarios still run
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name]["elapsed_s"] = now() - t0
        print(f"  {name}: {results[name]['elapsed_s']:.1f}s", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--out", default=str(RESULTS / "bot.json"))
    args = parser.parse_args(argv)
    only = [s for s in args.only.split(",") if s]

    async def go() -> dict[str, Any]:
        task = asyncio.current_task()
        assert task is not None
        install_signal_exit(asyncio.get_running_loop(), task)
        return await run_all(only, args.quick)

    results = asyncio.run(go())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "raw"}, indent=1)[:4000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
