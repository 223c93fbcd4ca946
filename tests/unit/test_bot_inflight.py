"""Listener work tracked for shutdown (:class:`bot.slack.inflight.InFlight`) and the LLM warm-up
gate (:class:`bot.llm_warmup.LlmWarmup`): no Slack, no sockets, no timed sleeps."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.llm_warmup import LlmWarmup
from bot.slack.inflight import InFlight


async def _let_others_run(turns: int = 20) -> None:
    """Give every ready task a chance to run (no timed sleep)."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def test_shutdown_waits_for_work_acked_but_not_finished() -> None:
    inflight = InFlight()
    release = asyncio.Event()
    done: list[str] = []

    async def listener_work() -> None:
        async with inflight.track():
            await release.wait()
            done.append("handed to the engine")

    task = asyncio.create_task(listener_work())
    waiter = asyncio.create_task(inflight.wait(timeout=5))
    await _let_others_run()
    assert not waiter.done()  # still waiting: the work is in flight
    release.set()
    await asyncio.wait_for(waiter, 5)
    assert task.done() and done == ["handed to the engine"]


async def test_a_failing_background_task_is_logged_not_raised(caplog: Any) -> None:
    inflight = InFlight()

    async def boom() -> None:
        raise RuntimeError("Slack said no")

    with caplog.at_level(logging.ERROR, logger="bot.slack.inflight"):
        task = inflight.spawn(boom())
        await inflight.wait(timeout=5)
    assert task.done() and task.exception() is None
    assert "background Slack task failed" in caplog.text


async def test_a_button_is_acked_before_its_work_runs() -> None:
    inflight = InFlight()
    order: list[str] = []

    async def ack() -> None:
        order.append("ack")

    async def handler(body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        order.append(f"work:{action['action_id']}")

    listener = inflight.button(handler)
    await listener(ack=ack, body={}, action={"action_id": "ml_stop"}, respond=None)
    assert order == ["ack", "work:ml_stop"]


async def test_turns_wait_for_the_llm_client_only_until_it_is_ready() -> None:
    warmup = LlmWarmup()
    waiting = asyncio.create_task(warmup.wait(timeout=5))
    await _let_others_run()
    assert not waiting.done()
    warmup.ready.set()
    await asyncio.wait_for(waiting, 5)


async def test_a_slow_warm_up_does_not_hold_a_turn_forever(caplog: Any) -> None:
    warmup = LlmWarmup()
    with caplog.at_level(logging.WARNING, logger="bot.llm_warmup"):
        await warmup.wait(timeout=0.01)
    assert "slow" in caplog.text and not warmup.ready.is_set()
