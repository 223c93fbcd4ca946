"""Two bot runtimes (replicas) on one Postgres store and one Slack workspace: a thread is
rendered by one replica at a time, and every event exactly once.

The turn of a follow-up runs on replica B while replica A still renders the thread (it holds
the thread's render lease): B's renderer hands over to A, which catches up from the store and
posts B's answer — once. When A goes away, B renders the next turn itself. Assertions are on
Slack-side state (the emulator) and the shared lease rows.
(The three-process SIGKILL proof is tests/e2e/test_replicas.py.)
"""

from __future__ import annotations

from pathlib import Path

from agent_core.events import UserInput
from agent_core.store import SessionLeases
from agent_core.tools import plan_tool
from agent_core.tools.base import Services
from agent_core.tools.router import ToolRouter
from bot.settings import Tokens, load_slack_settings
from bot.startup import BotRuntime
from tests.engine_harness import EventRecorder, make_config
from tests.fakes.fake_llm import FakeLLM, text
from tests.fakes.fake_slack import FakeSlack
from tests.slack_harness import FAST_SLACK, has_markdown

LEASES = {"lease_ttl_s": 60.0, "renew_every_s": 5.0}  # nobody dies here


async def start_replica(
    slack: FakeSlack,
    llm: FakeLLM,
    url: str,
    name: str,
    tmp_path: Path,
    leases: dict[str, float] = LEASES,
) -> BotRuntime:
    import os

    os.environ["OPENAI_API_BASE"] = llm.base_url
    os.environ["OPENAI_API_KEY"] = "sk-fake-test-key"
    config = make_config(
        slack={**FAST_SLACK, "progress_delay_s": 30}, replicas={**leases, "replica_id": name}
    )
    runtime = BotRuntime(
        config,
        load_slack_settings(config),
        Tokens(bot_token=slack.bot_token, app_token=slack.app_token, api_base_url=slack.base_url),
        store_path=url,
        router=ToolRouter([*plan_tool.tools(None)]),  # type: ignore[arg-type]
        warm_llm=False,
        services=Services(state_dir=tmp_path / name),
    )
    await runtime.start()
    return runtime


def answers(slack: FakeSlack, ts: str, text_: str) -> int:
    replies = slack.thread_messages("C1", ts, include_root=False)
    return sum(1 for m in replies if m.is_bot and has_markdown(m, text_))


async def test_a_turn_run_on_b_is_rendered_once_by_a_that_renders_the_thread(
    tmp_path: Path, postgres_url: str
) -> None:
    async with FakeSlack() as slack, FakeLLM() as llm:
        a: BotRuntime | None = await start_replica(slack, llm, postgres_url, "A", tmp_path)
        b: BotRuntime | None = None
        try:
            assert a.renderer is not None and a.manager is not None
            a.renderer._idle_s = 60.0  # A keeps rendering the thread (holds its lease)
            llm.push(text("answer one"))
            ts, _ = await slack.mention("first question")
            await slack.wait_for(lambda: answers(slack, ts, "answer one") == 1, timeout=30)
            (row,) = await a.store.fetchall("SELECT id FROM sessions")  # type: ignore[union-attr]
            sid = row["id"]
            leases = SessionLeases(a.store)  # type: ignore[arg-type]
            render = await leases.holder(f"render:{sid}")
            assert render is not None and render.owner == "A"

            b = await start_replica(slack, llm, postgres_url, "B", tmp_path)
            assert b.manager is not None and b.renderer is not None
            on_b = EventRecorder()
            b.manager.add_listener(on_b)
            llm.push(text("answer two"))
            await b.manager.submit(sid, UserInput(text="second question", user="U1"))
            await on_b.wait_for("turn_complete", sid)  # the turn ran on B ...
            # ... and A rendered it, from the store: B never took the thread's render lease.
            await slack.wait_for(lambda: answers(slack, ts, "answer two") == 1, timeout=30)
            render = await leases.holder(f"render:{sid}")
            assert render is not None and (render.owner, render.generation) == ("A", 1)

            await a.stop(grace_s=2)  # A goes away: its render lease is given back
            a = None
            llm.push(text("answer three"))
            await b.manager.submit(sid, UserInput(text="third question", user="U1"))
            await slack.wait_for(lambda: answers(slack, ts, "answer three") == 1, timeout=30)
            assert await b.renderer.drain(10) and b.sender is not None
            assert await b.sender.flush(10)
            render = await SessionLeases(b.store).holder(f"render:{sid}")  # type: ignore[arg-type]
            assert render is not None and render.owner == "B"
            # Every answer exactly once, in order, nothing else doubled.
            bot = [m for m in slack.thread_messages("C1", ts, include_root=False) if m.is_bot]
            texts = [
                t
                for m in bot
                for t in ("answer one", "answer two", "answer three")
                if has_markdown(m, t)
            ]
            assert texts == ["answer one", "answer two", "answer three"]
            assert len(llm.requests) == 3
        finally:
            for runtime in (b, a):
                if runtime is not None:
                    await runtime.stop(grace_s=2)


async def test_a_thread_whose_renderer_died_is_drawn_by_another_replica_after_expiry(
    tmp_path: Path, postgres_url: str
) -> None:
    """A renders the thread, then its process loses the database (dead for the others: its
    render lease is never renewed nor released). B's turn waits for the lease to expire; B's
    patrol then takes the thread over and draws the answer, once."""
    short = {"lease_ttl_s": 3.0, "renew_every_s": 0.5}
    async with FakeSlack() as slack, FakeLLM() as llm:
        a: BotRuntime | None = await start_replica(slack, llm, postgres_url, "A", tmp_path, short)
        b: BotRuntime | None = None
        try:
            assert a is not None and a.renderer is not None and a.store is not None
            a.renderer._idle_s = 60.0
            llm.push(text("answer one"))
            ts, _ = await slack.mention("first question")
            await slack.wait_for(lambda: answers(slack, ts, "answer one") == 1, timeout=30)
            (row,) = await a.store.fetchall("SELECT id FROM sessions")
            sid = row["id"]

            b = await start_replica(slack, llm, postgres_url, "B", tmp_path, short)
            assert b.manager is not None and b.store is not None
            a.store.backend.pool.terminate()  # type: ignore[attr-defined]  # A is gone
            llm.push(text("answer two"))
            await b.manager.submit(sid, UserInput(text="second question", user="U1"))
            await slack.wait_for(lambda: answers(slack, ts, "answer two") == 1, timeout=30)
            render = await SessionLeases(b.store).holder(f"render:{sid}")
            assert render is not None and (render.owner, render.generation) == ("B", 2)
            assert answers(slack, ts, "answer one") == 1
        finally:
            if b is not None:
                await b.stop(grace_s=2)
            if a is not None:
                try:
                    await a.stop(grace_s=1)
                except Exception:  # its store is gone, as planned
                    pass
