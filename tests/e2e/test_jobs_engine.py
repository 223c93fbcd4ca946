"""The whole engine path for training jobs, with a real SessionManager on SQLite, the scripted
LLM and the fake Hub: "train …" → hf_jobs run on a GPU → approval_required → approve → the
job is submitted and the turn ends → job_started → the job completes → job_finished; the
resume mode waking the agent; a restart of the whole engine while the job finishes; and the
YOLO budget settled with the job's actual cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_core.events import SetYolo, ToolApproval, UserInput
from agent_core.jobs import JobWatcher
from agent_core.tools import hf_jobs
from tests.engine_harness import ORIGIN, make_config, run_engine
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub
from tests.fakes.fake_hub_jobs import training_log_lines
from tests.fakes.fake_llm import FakeLLM, call, last_user_text, text, tool_calls
from tests.hub_harness import FAST_JOBS, make_hub_client

GPU_RUN = {
    "operation": "run",
    "script": "from trl import SFTTrainer\nprint('train distilbert on imdb')\n",
    "dependencies": ["trl"],
    "hardware_flavor": "a10g-small",
    "timeout": "2h",
}


@pytest.fixture
async def world(monkeypatch):
    async with FakeHub() as fake, FakeLLM() as llm:
        monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)  # as in production: scrubbed from events
        yield fake, llm


def config(**jobs):
    return make_config(jobs={**FAST_JOBS, **jobs})


async def start_watcher(eng, fake) -> JobWatcher:
    watcher = JobWatcher.for_manager(eng.manager, make_hub_client(fake))
    await watcher.start()
    return watcher


async def approve_first(eng, session="s"):
    req = await eng.events.wait_for("approval_required", session)
    entry = req.data["tools"][0]
    res = await eng.manager.resolve_approvals(
        session,
        [
            ToolApproval(
                tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"]
            )
        ],
        decided_by="U_REQ",
    )
    assert res.ok and res.batch_complete
    return entry


async def test_train_request_to_job_finished(tmp_path: Path, world) -> None:
    fake, llm = world
    fake.jobs.script(logs=training_log_lines(steps=3), stages=["SCHEDULING", ("RUNNING", 0.6)])
    async with run_engine(
        tmp_path / "db", llm.base_url, tools=hf_jobs.tools(None), config=config()
    ) as eng:
        watcher = await start_watcher(eng, fake)
        llm.push(tool_calls(call("hf_jobs", GPU_RUN)))
        await eng.manager.submit(
            "s", UserInput(text="train distilbert on imdb", user="U_REQ"), origin=ORIGIN
        )
        req = await eng.events.wait_for("approval_required", "s")
        entry = req.data["tools"][0]
        assert entry["approval_class"] == "gpu_job" and entry[
            "estimated_cost_usd"
        ] == pytest.approx(2.0)
        assert fake.jobs.all() == []  # nothing submitted before the approval
        llm.push(text("Submitted the training job; I'll report back when it finishes."))
        await approve_first(eng)
        started = await eng.events.wait_for("job_started", "s")
        done = await eng.events.wait_for("turn_complete", "s")
        job_id = started.data["job_id"]
        assert fake.jobs.get(job_id).flavor == "a10g-small"
        out = eng.events.of("s", "tool_output")[0].data
        assert out["success"] and f"Job ID: {job_id}" in out["output"]
        finished = await eng.events.wait_for("job_finished", "s")
        assert done.seq < finished.seq  # the turn ended while the job was still running
        assert finished.data["stage"] == "COMPLETED" and finished.data["job_id"] == job_id
        assert (
            finished.data["requester"] == "U_REQ"
            and finished.data["tool_call_id"] == entry["tool_call_id"]
        )
        types = eng.events.types("s")
        assert types.index("job_started") < types.index("turn_complete")
        assert any(e.data.get("stage") == "RUNNING" for e in eng.events.of("s", "job_progress"))
        assert len(llm.requests) == 2  # notify mode: the agent is not woken
        await watcher.close()
        rows = await eng.store.fetchall("SELECT data FROM events WHERE session_id='s'")
        assert all(ALICE_TOKEN not in r["data"] for r in rows)


async def test_resume_mode_wakes_the_agent_with_a_note(tmp_path: Path, world) -> None:
    fake, llm = world
    fake.jobs.script(logs=training_log_lines(steps=2))
    async with run_engine(
        tmp_path / "db",
        llm.base_url,
        tools=hf_jobs.tools(None),
        config=config(on_job_finished="resume"),
    ) as eng:
        watcher = await start_watcher(eng, fake)
        llm.push(tool_calls(call("hf_jobs", GPU_RUN)))
        await eng.manager.submit("s", UserInput(text="train it", user="U_REQ"), origin=ORIGIN)
        llm.push(text("Submitted."), text("Training finished: final loss 1.5. Want me to push it?"))
        await approve_first(eng)
        await eng.events.wait_for("job_finished", "s")
        final = await eng.events.wait_for("turn_complete", "s", count=2)
        assert "final loss" in final.data["final_response"]
        note = last_user_text(llm.requests[2])
        assert "[SYSTEM: HF job" in note and "COMPLETED" in note
        await watcher.close()


async def test_engine_restart_while_job_finishes(tmp_path: Path, world) -> None:
    fake, llm = world
    db = tmp_path / "db"
    fake.jobs.script(manual=True, logs=["step=10 loss=0.8"])
    async with run_engine(db, llm.base_url, tools=hf_jobs.tools(None), config=config()) as eng:
        watcher = await start_watcher(eng, fake)
        llm.push(tool_calls(call("hf_jobs", GPU_RUN)))
        await eng.manager.submit("s", UserInput(text="train it", user="U_REQ"), origin=ORIGIN)
        llm.push(text("Submitted."))
        await approve_first(eng)
        job_id = (await eng.events.wait_for("job_started", "s")).data["job_id"]
        await eng.events.wait_for("turn_complete", "s")
        fake.jobs.set_stage(job_id, "RUNNING")
        await eng.events.wait_for(
            "job_progress", "s", predicate=lambda e: e.data["stage"] == "RUNNING"
        )
        await watcher.close()
    fake.jobs.set_stage(job_id, "COMPLETED")  # finishes while the bot is down
    async with run_engine(db, llm.base_url, tools=hf_jobs.tools(None), config=config()) as eng:
        watcher = await start_watcher(eng, fake)
        ev = await eng.events.wait_for("job_finished", "s")
        assert ev.data["reported_after_restart"] is True and ev.data["stage"] == "COMPLETED"
        await fake.wait_for(lambda: watcher.status() == [], timeout=10)
        await watcher.close()
    async with run_engine(db, llm.base_url, tools=hf_jobs.tools(None), config=config()) as eng:
        watcher = await start_watcher(eng, fake)
        assert watcher.status() == []
        await watcher.close()
        rows = await eng.store.fetchall("SELECT COUNT(*) FROM events WHERE type='job_finished'")
        assert rows[0][0] == 1


async def test_yolo_run_is_settled_with_actual_cost(tmp_path: Path, world) -> None:
    fake, llm = world
    async with run_engine(
        tmp_path / "db", llm.base_url, tools=hf_jobs.tools(None), config=config()
    ) as eng:
        watcher = await start_watcher(eng, fake)
        await eng.manager.submit("s", SetYolo(enabled=True, cap_usd=5.0), origin=ORIGIN)
        await eng.events.wait_for("session_update", "s")
        llm.push(tool_calls(call("hf_jobs", GPU_RUN)), text("Submitted."))
        await eng.manager.submit("s", UserInput(text="train it", user="U_REQ"), origin=ORIGIN)
        call_ev = await eng.events.wait_for("tool_call", "s")
        assert call_ev.data.get("auto_approved") is True
        await eng.events.wait_for("turn_complete", "s")
        info = await eng.manager.session_info("s")
        assert info["yolo"]["spent_usd"] == pytest.approx(2.0)  # the estimate, booked at submit
        await eng.events.wait_for("job_finished", "s")
        await fake.wait_for(lambda: watcher.status() == [], timeout=10)
        settled = await eng.events.wait_for(
            "session_update", "s", lambda ev: "spend_settled" in ev.data
        )
        assert settled.data["spend_settled"]["delta_usd"] < -1.99  # the estimate given back
        info = await eng.manager.session_info("s")
        assert info["yolo"]["spent_usd"] < 0.01  # replaced by price × wall time
        row = await eng.store.fetchone("SELECT state FROM sessions WHERE id='s'")
        assert '"spent_usd":2.0' not in row[0]
        await watcher.close()
