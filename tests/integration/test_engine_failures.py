"""When things go wrong: LLM errors, context overflow, interrupts, secrets, crashes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agent_core.events import STOPPED_BY_SHUTDOWN, UserInput
from agent_core.llm_errors import AUTH, CONTEXT_OVERFLOW, RATE_LIMIT, TRANSIENT, classify
from tests.engine_harness import ORIGIN, make_config, run_engine, tool
from tests.fakes.fake_llm import FakeLLM, call, error, text, tool_calls

OVERFLOW = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens."


@pytest.fixture
async def llm():
    async with FakeLLM() as fake:
        yield fake


async def test_rate_limit_then_success_honours_retry_after(tmp_path: Path, llm: FakeLLM) -> None:
    llm.push(error(status=429, message="Rate limit reached", retry_after=0.15), text("finally"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        started = time.monotonic()
        await eng.manager.submit("s", UserInput(text="hi"), origin=ORIGIN)
        done = await eng.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "finally"
        assert time.monotonic() - started >= 0.15
        logs = [e.data["log"] for e in eng.events.of("s", "tool_log")]
        assert len(logs) == 1 and "rate limit" in logs[0] and "in 0.1s" in logs[0]
        assert not eng.events.of("s", "error")


async def test_persistent_server_error_is_one_error_event(tmp_path: Path, llm: FakeLLM) -> None:
    llm.default = error(status=500, message="upstream exploded")
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="hi"), origin=ORIGIN)
        err = await eng.events.wait_for("error", "s")
        await eng.manager.submit("s", UserInput(text="again"))  # the session keeps working
        await eng.events.wait_for("error", "s", count=2)
        assert len(llm.requests) == 2 * (1 + eng.config.llm_max_retries)
        assert err.data["kind"] == "transient"
        assert "Traceback" not in err.data["error"] and "unavailable" in err.data["error"]
        assert len(eng.events.of("s", "tool_log")) == 2 * eng.config.llm_max_retries
        assert not eng.events.of("s", "turn_complete")


async def test_auth_error_is_not_retried_and_says_what_to_fix(tmp_path: Path, llm: FakeLLM) -> None:
    llm.push(error(status=401, message="Incorrect API key provided"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="hi"), origin=ORIGIN)
        err = await eng.events.wait_for("error", "s")
        assert err.data["kind"] == "auth" and "API key" in err.data["error"]
        assert len(llm.requests) == 1


async def test_context_overflow_forces_one_compaction_then_succeeds(
    tmp_path: Path, llm: FakeLLM
) -> None:
    llm.push(text("a1"), text("a2"), text("a3"))
    cfg = make_config(compaction_tail_messages=2)
    async with run_engine(tmp_path / "db", llm.base_url, config=cfg) as eng:
        for i in range(3):
            await eng.manager.submit("s", UserInput(text=f"q{i}"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s", count=3)
        llm.push(
            error(status=400, message=OVERFLOW, code="context_length_exceeded"),
            text("SUMMARY"),
            text("ok now"),
        )
        await eng.manager.submit("s", UserInput(text="q3"))
        done = await eng.events.wait_for("turn_complete", "s", count=4)
        assert done.data["final_response"] == "ok now"
        assert eng.events.of("s", "compacted")


async def test_context_overflow_that_persists_ends_with_one_error(
    tmp_path: Path, llm: FakeLLM
) -> None:
    llm.default = error(status=400, message=OVERFLOW, code="context_length_exceeded")
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="hi"), origin=ORIGIN)
        err = await eng.events.wait_for("error", "s")
        assert err.data["kind"] == CONTEXT_OVERFLOW
        assert "context window" in err.data["error"]
        assert len(llm.requests) == 2  # the original call and one retry after compaction
        assert len(eng.events.of("s", "error")) == 1


async def test_compaction_on_small_window_keeps_task_and_tail(tmp_path: Path, llm: FakeLLM) -> None:
    cfg = make_config(context_window=2000, compaction_tail_messages=2)
    big = "word " * 300

    def responder(body):
        if body["messages"][0]["content"].startswith("You are compacting"):
            return text("compact summary")
        return text(f"reply {len(body['messages'])} " + big)

    llm.responder = responder
    async with run_engine(tmp_path / "db", llm.base_url, config=cfg) as eng:
        await eng.manager.submit("s", UserInput(text="THE TASK: train a model"), origin=ORIGIN)
        for i in range(6):
            await eng.manager.submit("s", UserInput(text=f"follow-up {i}"))
        await eng.events.wait_for("turn_complete", "s", count=7, timeout=20)
        assert eng.events.of("s", "compacted")
        history = await eng.store.load_messages("s")
        assert history[0]["content"] == "THE TASK: train a model"
        assert any("compact summary" in str(m.get("content")) for m in history)
        assert history[-2]["content"] == "follow-up 5"


async def test_interrupt_mid_stream_stops_within_a_second(tmp_path: Path, llm: FakeLLM) -> None:
    llm.push(text("partial answer that never ends", chunk_size=3, stall_after_chunks=2))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="long"), origin=ORIGIN)
        await eng.events.wait_for("assistant_chunk", "s", count=2)
        t0 = time.monotonic()
        assert await eng.manager.interrupt("s", by="U_STOP") == "interrupted"
        stopped = await eng.events.wait_for("interrupted", "s", timeout=2)
        assert time.monotonic() - t0 < 1.0
        assert stopped.data["stopped_by"] == "U_STOP"
        await llm.wait_for_disconnects(1)
        assert not eng.events.of("s", "turn_complete")
        llm.push(text("next turn works"))
        await eng.manager.submit("s", UserInput(text="hello?"))
        done = await eng.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "next turn works"


@asynccontextmanager
async def _stuck_in_a_tool(
    tmp_path: Path, llm: FakeLLM
) -> AsyncIterator[tuple[Any, asyncio.Event]]:
    """An engine whose turn is inside a tool that never returns; yields (engine, cleaned):
    ``cleaned`` is set by the cleanup hook the tool registered."""
    started = asyncio.Event()
    cleaned = asyncio.Event()

    async def forever(args, ctx):
        async def cleanup():
            cleaned.set()

        ctx.register_cleanup("forever", cleanup)
        started.set()
        await asyncio.Event().wait()

    llm.push(tool_calls(call("forever", {})))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[tool("forever", forever)]) as eng:
        await eng.manager.submit("s", UserInput(text="run"), origin=ORIGIN)
        await asyncio.wait_for(started.wait(), 5)
        yield eng, cleaned


async def test_interrupt_mid_tool_cancels_and_runs_cleanup(tmp_path: Path, llm: FakeLLM) -> None:
    async with _stuck_in_a_tool(tmp_path, llm) as (eng, cleaned):
        t0 = time.monotonic()
        await eng.manager.interrupt("s")
        await eng.events.wait_for("interrupted", "s", timeout=2)
        assert time.monotonic() - t0 < 1.0
        assert cleaned.is_set()
        assert eng.events.of("s", "tool_state_change")[0].data["state"] == "cancelled"
        history = await eng.store.load_messages("s")
        assert history[-1]["role"] == "tool" and "not executed" in history[-1]["content"]
        assert eng.events.of("s", "interrupted")[0].data["stopped_by"] is None


async def test_closing_the_engine_interrupts_a_running_turn_as_shutdown(
    tmp_path: Path, llm: FakeLLM
) -> None:
    async with _stuck_in_a_tool(tmp_path, llm) as (eng, cleaned):
        await eng.manager.close(grace_s=0.05)
        stopped = await eng.events.wait_for("interrupted", "s", timeout=5)
        assert stopped.data["stopped_by"] == STOPPED_BY_SHUTDOWN
        assert cleaned.is_set()
        assert not eng.events.of("s", "turn_complete")


async def test_secrets_are_redacted_from_events_and_history(tmp_path: Path, llm: FakeLLM) -> None:
    hf = "hf_" + "A1b2C3d4" * 5
    gh = "ghp_" + "x" * 36
    leak = tool("leak", lambda a, c: (f"env says HF_TOKEN={hf} and github {gh}", True))
    llm.push(tool_calls(call("leak", {})), text(f"Your token is {hf}"))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[leak]) as eng:
        await eng.manager.submit(
            "s", UserInput(text=f"my token is {hf}, keep it safe"), origin=ORIGIN
        )
        await eng.events.wait_for("turn_complete", "s")
        stored_events = await eng.store.fetchall("SELECT data FROM events")
        stored_msgs = await eng.store.fetchall("SELECT message FROM messages")
        ops = await eng.store.fetchall("SELECT data FROM ops")
        blob = json.dumps([list(r) for r in stored_events + stored_msgs + ops])
        assert hf not in blob and gh not in blob
        assert "[REDACTED" in blob
        assert all(hf not in json.dumps(e.data) for e in eng.events.events)
        assert hf not in json.dumps(llm.requests[1])  # the model never sees it either


async def test_crash_mid_turn_is_reported_and_queued_work_resumes(
    tmp_path: Path, llm: FakeLLM
) -> None:
    db = tmp_path / "db"
    gate = asyncio.Event()
    llm.push(text("never finishes", gate=gate))
    async with run_engine(db, llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="first"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        await eng.manager.submit("s", UserInput(text="second"))
        # Simulate a crash: the op row stays 'running' and nothing else gets written.
        eng.manager._closing = True
        for task in list(eng.manager._workers.values()):
            task.cancel()
        await asyncio.gather(*eng.manager._workers.values(), return_exceptions=True)
    llm.clear()
    llm.push(text("answer to second"))
    async with run_engine(db, llm.base_url) as eng2:
        err = await eng2.events.wait_for("error", "s")
        assert err.data["kind"] == "restart"
        done = await eng2.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "answer to second"


def test_classification_prefers_classes_then_text() -> None:
    import litellm

    rl = litellm.RateLimitError("slow down", llm_provider="openai", model="m")
    assert classify(rl).kind == RATE_LIMIT
    assert classify(Exception("Error 503: service unavailable")).kind == TRANSIENT
    assert classify(Exception("prompt is too long: 300000 tokens")).kind == CONTEXT_OVERFLOW
    assert classify(Exception("401 Unauthorized")).kind == AUTH
    wrapped = litellm.InternalServerError(
        "too many requests, please retry", llm_provider="x", model="m"
    )
    assert classify(wrapped).kind == RATE_LIMIT
    assert classify(ValueError("weird")).retryable is False
