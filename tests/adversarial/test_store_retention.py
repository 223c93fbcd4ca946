"""The store must not grow without bound: streamed chunks, old events and long-idle sessions
are pruned (automatically, and by ``ml-intern-slack prune``), and nothing still in use is.

Observed: 2,500 ``assistant_chunk`` rows for five answers, and no retention at all.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from agent_core.events import UserInput
from agent_core.store.retention import DAY_S, prune
from tests.adversarial.conftest import FakeLLM
from tests.engine_harness import ORIGIN, run_engine
from tests.fakes.fake_llm import text


def counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return {
            "chunks": con.execute(
                "SELECT COUNT(*) FROM events WHERE type='assistant_chunk'"
            ).fetchone()[0],
            "events": con.execute("SELECT COUNT(*) FROM events").fetchone()[0],
            "messages": con.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
            "sessions": con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0],
        }
    finally:
        con.close()


async def test_store_grows_without_bound(tmp_path: Path, llm: FakeLLM) -> None:
    answer = "the model reaches 93 percent accuracy on imdb after one epoch " * 20
    for _ in range(3):
        llm.push(text(answer, chunk_size=4))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        for i in range(3):
            await eng.manager.submit("s", UserInput(text=f"q{i}", user="U1"), origin=ORIGIN)
            await eng.events.wait_for("turn_complete", "s", count=i + 1, timeout=60)
        before = counts(tmp_path / "db")
        # streamed deltas never reach the store (delivered in memory; the answer is stored whole)
        assert before["chunks"] == 0 and before["events"] > 0
        # three days later nothing is old enough to go: the answers and the conversation stay
        await prune(eng.store, eng.config.retention, now=time.time() + 3 * DAY_S)
        after = counts(tmp_path / "db")
        assert after == before and after["sessions"] == 1
        # a hundred idle days later the whole session is gone
        done = await prune(eng.store, eng.config.retention, now=time.time() + 100 * DAY_S)
        assert done["sessions"] == 1
        assert counts(tmp_path / "db") == {"chunks": 0, "events": 0, "messages": 0, "sessions": 0}


async def test_prune_command_runs_against_the_configured_store(
    tmp_path: Path, llm: FakeLLM, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from bot.cli import main

    llm.push(text("hello " * 100, chunk_size=4))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="hi", user="U1"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s", timeout=60)
    monkeypatch.setenv("ML_INTERN_DB", str(tmp_path / "db"))
    monkeypatch.setenv("ML_INTERN_MODEL", "openai/fake")
    with pytest.raises(SystemExit) as exit_:
        await asyncio.to_thread(main, ["prune"])  # the console script runs its own loop
    assert exit_.value.code == 0
    assert "pruned: chunks=0" in capsys.readouterr().out  # nothing is old enough yet
    assert counts(tmp_path / "db")["sessions"] == 1
