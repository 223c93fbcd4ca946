"""How much the store keeps after N turns: file size and rows per event type.

Runs the real SessionManager on a real SQLite file against FakeLLM, one session, ``--turns``
plain answers of ``--chars`` characters streamed in ``--delta``-character deltas (providers
send roughly one token, 3-5 characters, per delta). Prints one JSON line.

    .venv/bin/python -m bench.store_growth --turns 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


async def run(turns: int, chars: int, delta: int, path: Path) -> None:
    from agent_core.events import UserInput
    from tests.engine_harness import ORIGIN, run_engine
    from tests.fakes.fake_llm import FakeLLM, text

    words = ("the model trains on imdb with lora rank 16 and reaches 93.1 accuracy " * 100)[:chars]
    async with FakeLLM() as llm, run_engine(path, llm.base_url) as eng:
        for i in range(turns):
            llm.push(text(words, chunk_size=delta))
            await eng.manager.submit("s", UserInput(text=f"question {i}", user="U1"), origin=ORIGIN)
            await eng.events.wait_for("turn_complete", "s", count=i + 1, timeout=120)


def measure(path: Path) -> dict[str, object]:
    con = sqlite3.connect(path)
    try:
        rows = dict(con.execute("SELECT type, COUNT(*) FROM events GROUP BY type").fetchall())
        total = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        con.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return {"db_bytes": size, "events": total, "events_by_type": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--chars", type=int, default=1200)
    parser.add_argument("--delta", type=int, default=4)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.db"
        asyncio.run(run(opts.turns, opts.chars, opts.delta, path))
        print(json.dumps({"turns": opts.turns, "answer_chars": opts.chars, **measure(path)}))


if __name__ == "__main__":
    main()
