"""The agentic loop end to end: real SessionManager, real SQLite, real litellm, FakeLLM."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent_core.events import Compact, SetModel, Undo, UserInput
from tests.engine_harness import ORIGIN, make_config, run_engine, tool
from tests.fakes.fake_llm import FakeLLM, call, text, tool_calls


@pytest.fixture
async def llm():
    async with FakeLLM() as fake:
        yield fake


def _tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


async def test_plain_turn_streams_and_completes(tmp_path: Path, llm: FakeLLM) -> None:
    llm.push(text("Hello! I can help with that.", chunk_size=4))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="hi", user="U1"), origin=ORIGIN)
        done = await eng.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "Hello! I can help with that."
        types = eng.events.types("s")
        assert types[0] == "processing"
        # a short answer arrives as one chunk: redact.StreamScrubber coalesces and holds the
        # last words until they cannot be part of a secret
        assert types.count("assistant_chunk") >= 1
        assert "assistant_stream_end" in types and "assistant_message" in types
        # the deltas (and the end-of-stream mark) reach listeners but not the log (issue 18);
        # persisted events stay gapless
        transient = {"assistant_chunk", "assistant_stream_end"}
        seqs = [e.seq for e in eng.events.of("s") if e.type not in transient]
        assert seqs == list(range(1, len(seqs) + 1))
        assert {e.seq for e in eng.events.of("s") if e.type in transient} == {0}
        logged = await eng.store.events_after("s", 0)
        assert [e.seq for e in logged] == seqs
        assert not transient & {e.type for e in logged}
        history = await eng.store.load_messages("s")
        assert [m["role"] for m in history] == ["user", "assistant"]
        body = llm.requests[0]
        assert body["messages"][0]["role"] == "system"
        assert body["stream"] is True
        assert not any(k.startswith("_") for m in body["messages"] for k in m)


async def test_tool_turn_runs_tool_and_feeds_result_back(tmp_path: Path, llm: FakeLLM) -> None:
    echo = tool("echo", lambda a, c: (f"echo:{a['x']}", True))
    llm.push(tool_calls(call("echo", {"x": "42"})), text("The tool said 42."))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[echo]) as eng:
        await eng.manager.submit("s", UserInput(text="use echo"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        out = eng.events.of("s", "tool_output")[0]
        assert out.data == {
            "tool": "echo",
            "tool_call_id": out.data["tool_call_id"],
            "output": "echo:42",
            "success": True,
        }
        second = llm.requests[1]
        assert _tool_messages(second)[0]["content"] == "echo:42"
        assert any(t["function"]["name"] == "echo" for t in second["tools"])


async def test_non_gated_calls_run_in_parallel(tmp_path: Path, llm: FakeLLM) -> None:
    barrier = asyncio.Barrier(2)

    async def meet(args, ctx):
        await asyncio.wait_for(barrier.wait(), timeout=5)  # deadlocks if run one by one
        return f"met {args['n']}", True

    spec = tool("meet", meet)
    llm.push(tool_calls(call("meet", {"n": 1}), call("meet", {"n": 2})), text("both met"))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec]) as eng:
        await eng.manager.submit("s", UserInput(text="go"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        outs = eng.events.of("s", "tool_output")
        assert [o.data["output"] for o in outs] == ["met 1", "met 2"]
        assert all(o.data["success"] for o in outs)


async def test_malformed_arguments_are_not_executed(tmp_path: Path, llm: FakeLLM) -> None:
    ran = []
    spec = tool("write", lambda a, c: (ran.append(a) or "ok", True))
    llm.push(
        tool_calls(call("write", raw_arguments='{"path": "a.py", "content": "unterminated')),
        text("sorry"),
    )
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec]) as eng:
        await eng.manager.submit("s", UserInput(text="write it"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        assert ran == []
        out = eng.events.of("s", "tool_output")[0].data
        assert out["success"] is False and "malformed JSON" in out["output"]
        sent = llm.requests[1]["messages"]
        assistant = [m for m in sent if m["role"] == "assistant"][0]
        assert assistant["tool_calls"][0]["function"]["arguments"] == "{}"


async def test_repeated_malformed_calls_get_a_nudge(tmp_path: Path, llm: FakeLLM) -> None:
    spec = tool("write", lambda a, c: ("ok", True))
    bad = call("write", raw_arguments='{"content": ')
    llm.push(tool_calls(bad), tool_calls(call("write", raw_arguments="{oops")), text("ok"))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec]) as eng:
        await eng.manager.submit("s", UserInput(text="w"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        last = llm.requests[2]["messages"][-1]
        assert last["role"] == "user" and "Repeated malformed" in last["content"]


async def test_dangling_tool_calls_are_patched_before_the_next_call(
    tmp_path: Path, llm: FakeLLM
) -> None:
    llm.push(text("fine"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.ensure_session("s", ORIGIN)
        await eng.store.append_messages(
            "s",
            0,
            [
                {"role": "user", "content": "earlier"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "x", "arguments": "{}"},
                        },
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "y", "arguments": "{}"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "name": "x", "content": "done"},
            ],
        )
        await eng.manager.submit("s", UserInput(text="and now?"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        tool_msgs = _tool_messages(llm.requests[0])
        assert [m["tool_call_id"] for m in tool_msgs] == ["c1", "c2"]
        assert "not executed" in tool_msgs[1]["content"]
        roles = [m["role"] for m in llm.requests[0]["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "tool", "user"]


async def test_doom_loop_identical_calls_inject_guard_once(tmp_path: Path, llm: FakeLLM) -> None:
    spec = tool("check", lambda a, c: ("same result", True))
    for _ in range(4):
        llm.push(tool_calls(call("check", {"id": "job1"})))
    llm.push(text("giving up"))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec]) as eng:
        await eng.manager.submit("s", UserInput(text="poll"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        guards = [
            i
            for i, r in enumerate(llm.requests)
            if any("REPETITION GUARD" in str(m.get("content")) for m in r["messages"][-1:])
        ]
        assert guards == [3], "fires right after the third identical call, and only once"


async def test_doom_loop_polling_with_changing_results_is_exempt(
    tmp_path: Path, llm: FakeLLM
) -> None:
    counter = iter(range(100))
    spec = tool("status", lambda a, c: (f"step {next(counter)}", True))
    for _ in range(5):
        llm.push(tool_calls(call("status", {"job": "j"})))
    llm.push(text("finished"))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec]) as eng:
        await eng.manager.submit("s", UserInput(text="poll"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        assert not any(
            "REPETITION GUARD" in str(m.get("content")) for r in llm.requests for m in r["messages"]
        )


async def test_doom_loop_cycle_is_detected(tmp_path: Path, llm: FakeLLM) -> None:
    a = tool("a", lambda args, c: ("A", True))
    b = tool("b", lambda args, c: ("B", True))
    for _ in range(2):
        llm.push(tool_calls(call("a", {})), tool_calls(call("b", {})))
    llm.push(text("ok"))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[a, b]) as eng:
        await eng.manager.submit("s", UserInput(text="go"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        last = llm.requests[4]["messages"][-1]
        assert "repeating cycle" in last["content"] and "a → b" in last["content"]


async def test_continuation_guard_nudges_unfinished_plan(tmp_path: Path, llm: FakeLLM) -> None:
    plan = {"todos": [{"id": "1", "content": "train", "status": "in_progress"}]}
    llm.push(tool_calls(call("plan_tool", plan)), text("I'll do it"), text("still"), text("done?"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="plan"), origin=ORIGIN)
        done = await eng.events.wait_for("turn_complete", "s")
        assert done.data["final_response"] == "done?"  # guard gives up after 2 nudges
        nudges = [
            r for r in llm.requests if "CONTINUATION GUARD" in str(r["messages"][-1]["content"])
        ]
        assert len(nudges) == 2
        assert eng.events.of("s", "plan_update")[0].data["plan"][0]["status"] == "in_progress"


async def test_length_finish_with_tool_calls_drops_calls(tmp_path: Path, llm: FakeLLM) -> None:
    ran = []
    spec = tool("write", lambda a, c: (ran.append(1) or "ok", True))
    llm.push(tool_calls(call("write", {"content": "x" * 50}), finish_reason="length"), text("ok"))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec]) as eng:
        await eng.manager.submit("s", UserInput(text="w"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s")
        assert ran == []
        assert "cut off" in llm.requests[1]["messages"][-1]["content"]


async def test_max_iterations_ends_with_a_clear_message(tmp_path: Path, llm: FakeLLM) -> None:
    counter = iter(range(100))
    spec = tool("step", lambda a, c: (f"r{next(counter)}", True))
    for i in range(3):
        llm.push(tool_calls(call("step", {"i": i})))
    cfg = make_config(max_iterations=3)
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec], config=cfg) as eng:
        await eng.manager.submit("s", UserInput(text="loop"), origin=ORIGIN)
        done = await eng.events.wait_for("turn_complete", "s")
        assert "stopped after 3 steps" in done.data["final_response"]
        assert len(llm.requests) == 3


async def test_messages_during_a_turn_queue_in_order(tmp_path: Path, llm: FakeLLM) -> None:
    gate = asyncio.Event()
    llm.push(text("first", gate=gate), text("second"), text("third"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="one"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        await eng.manager.submit("s", UserInput(text="two"), origin=ORIGIN)
        await eng.manager.submit("s", UserInput(text="three"), origin=ORIGIN)
        assert await eng.manager.queued_count("s") == 2
        gate.set()
        await eng.events.wait_for("turn_complete", "s", count=3)
        finals = [e.data["final_response"] for e in eng.events.of("s", "turn_complete")]
        assert finals == ["first", "second", "third"]
        users = [m["content"] for m in llm.requests[2]["messages"] if m["role"] == "user"]
        assert users == ["one", "two", "three"]


async def test_sessions_are_independent_and_concurrent(tmp_path: Path, llm: FakeLLM) -> None:
    gate = asyncio.Event()

    def responder(body):
        last = body["messages"][-1]["content"]
        return text(f"answer to {last}", gate=gate if last == "slow" else None)

    llm.responder = responder
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("a", UserInput(text="slow"), origin=ORIGIN)
        await llm.wait_for_requests(1)
        await eng.manager.submit("b", UserInput(text="fast"), origin=ORIGIN)
        done_b = await eng.events.wait_for("turn_complete", "b")
        assert done_b.data["final_response"] == "answer to fast"
        assert not eng.events.of("a", "turn_complete")
        gate.set()
        done_a = await eng.events.wait_for("turn_complete", "a")
        assert done_a.data["final_response"] == "answer to slow"


async def test_undo_removes_last_turn(tmp_path: Path, llm: FakeLLM) -> None:
    llm.push(text("a1"), text("a2"), text("after undo"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        for t in ("q1", "q2"):
            await eng.manager.submit("s", UserInput(text=t), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s", count=2)
        await eng.manager.submit("s", Undo())
        ev = await eng.events.wait_for("undo_complete", "s")
        assert ev.data["removed"] == 2
        assert [m["content"] for m in await eng.store.load_messages("s")] == ["q1", "a1"]
        await eng.manager.submit("s", UserInput(text="q3"))
        await eng.events.wait_for("turn_complete", "s", count=3)
        assert [m["content"] for m in llm.requests[2]["messages"][1:]] == ["q1", "a1", "q3"]


async def test_set_model_switches_the_model(tmp_path: Path, llm: FakeLLM) -> None:
    llm.push(text("x"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", SetModel(model="openai/other"), origin=ORIGIN)
        await eng.events.wait_for("session_update", "s")
        await eng.manager.submit("s", UserInput(text="hi"))
        await eng.events.wait_for("turn_complete", "s")
        assert llm.requests[0]["model"] == "other"


async def test_event_replay_from_a_sequence_number(tmp_path: Path, llm: FakeLLM) -> None:
    llm.push(text("one"), text("two"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="1"), origin=ORIGIN)
        first = await eng.events.wait_for("turn_complete", "s")
        await eng.manager.submit("s", UserInput(text="2"))
        await eng.events.wait_for("turn_complete", "s", count=2)
        replay = await eng.manager.events_after("s", first.seq)
        assert replay[0].seq == first.seq + 1
        logged = [e.type for e in eng.events.of("s") if e.seq]  # deltas are not in the log
        assert [e.type for e in replay] == logged[first.seq :]
        assert replay[-1].data["final_response"] == "two"


async def test_manual_compact_summarises(tmp_path: Path, llm: FakeLLM) -> None:
    for i in range(4):
        llm.push(text(f"answer {i} " + "x" * 200))
    llm.push(text("SUMMARY-OF-MIDDLE"))
    cfg = make_config(compaction_tail_messages=2)
    async with run_engine(tmp_path / "db", llm.base_url, config=cfg) as eng:
        for i in range(4):
            await eng.manager.submit("s", UserInput(text=f"question {i}"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s", count=4)
        await eng.manager.submit("s", Compact())
        ev = await eng.events.wait_for("compacted", "s")
        assert ev.data["new_tokens"] < ev.data["old_tokens"]
        history = await eng.store.load_messages("s")
        assert history[0]["content"] == "question 0"
        assert "SUMMARY-OF-MIDDLE" in history[1]["content"]
        assert [m["content"] for m in history[2:]][0] == "question 3"
        assert json.dumps(llm.requests[-1]).count("question 1") == 1  # sent to the summariser
