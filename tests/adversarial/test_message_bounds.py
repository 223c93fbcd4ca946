"""A person (or a paste gone wrong) sends a huge message: the model must get a bounded,
honest version of it, not 130,000 characters on every call of the thread."""

from __future__ import annotations

from pathlib import Path

from agent_core.events import UserInput
from tests.adversarial.conftest import FakeLLM
from tests.engine_harness import ORIGIN, run_engine
from tests.fakes.fake_llm import text


async def test_130k_character_message_sent_whole_to_the_llm(tmp_path: Path, llm: FakeLLM) -> None:
    head = "Why does this training run fail? Log below.\n"
    tail = "\nRuntimeError: CUDA out of memory (the real question is this line)"
    huge = head + ("step 12 loss=0.4312 lr=2e-5 grad_norm=1.02\n" * 3_100) + tail
    assert len(huge) > 130_000
    llm.push(text("It ran out of GPU memory."))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text=huge, user="U1"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s", timeout=60)
    sent = [m for m in llm.requests[0]["messages"] if m["role"] == "user"][-1]["content"]
    limit = eng.config.max_user_message_chars
    assert len(sent) <= limit
    assert sent.startswith(head) and sent.endswith(tail)
    assert f"{len(huge):,}-character message" in sent and "characters cut" in sent


async def test_message_under_the_limit_is_untouched(tmp_path: Path, llm: FakeLLM) -> None:
    msg = "fine-tune distilbert on imdb " * 100
    llm.push(text("ok"))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text=msg, user="U1"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s", timeout=60)
    sent = [m for m in llm.requests[0]["messages"] if m["role"] == "user"][-1]["content"]
    assert sent == msg
