"""Secrets at rest: nothing the store keeps may hold (or rebuild) a token.

Attacks: a model (or a prompt-injected page it quotes) streams a token in small deltas so each
delta passes the scrubber alone; a token hides in a dict key, an ``Authorization: token …``
header or a URL's userinfo; a gated call's script carries a token into ``approvals``.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agent_core.events import ToolApproval, UserInput
from agent_core.policy import ApprovalRequirement
from agent_core.redact import scrub, scrub_text
from tests.adversarial.conftest import PLANTED, pieces, store_dump, stored_stream
from tests.engine_harness import ORIGIN, run_engine, tool
from tests.fakes.fake_llm import FakeLLM, call, text, tool_calls


@pytest.mark.parametrize("kind", sorted(PLANTED))
async def test_token_split_over_stream_chunks_cannot_be_rebuilt_from_store(
    tmp_path: Path, llm: FakeLLM, kind: str
) -> None:
    secret = PLANTED[kind]
    answer = f"Sure. The key you asked about is {secret} — keep it safe.\n" + "filler " * 60
    llm.push(text(answer, chunk_size=5))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="what is the key?", user="U1"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s", timeout=60)
        streamed = "".join(e.data["content"] for e in eng.events.of("s", "assistant_chunk"))
    assert "filler" in streamed  # the stream itself still arrives, in several pieces
    assert len(eng.events.of("s", "assistant_chunk")) >= 2
    dump = store_dump(tmp_path / "db")
    rebuilt = stored_stream(tmp_path / "db")
    # Deltas are delivered in memory only; the answer is stored whole (and scrubbed) once.
    assert "keep it safe" in dump
    for piece in pieces(secret):
        assert piece not in dump, f"{kind}: {piece!r} of the token is in the store"
        assert piece not in rebuilt, f"{kind}: the stored chunks rebuild {piece!r}"
        assert piece not in streamed


async def test_configured_secret_of_no_known_shape_split_over_chunks_is_withheld(
    tmp_path: Path, llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = "corp-llm-key:7f3a9c2e5b1d8f4a6c0e2b9d7f1a3c5e"
    monkeypatch.setenv("LLM_API_KEY", custom)
    llm.push(text(f"debug: key={custom[::-1][::-1]} end " + "x " * 200, chunk_size=3))
    async with run_engine(tmp_path / "db", llm.base_url) as eng:
        await eng.manager.submit("s", UserInput(text="dump env", user="U1"), origin=ORIGIN)
        await eng.events.wait_for("turn_complete", "s", timeout=60)
    dump = store_dump(tmp_path / "db")
    rebuilt = stored_stream(tmp_path / "db")
    assert "debug: key=" in dump
    for piece in pieces(custom):
        assert piece not in dump
        assert piece not in rebuilt


def test_stream_scrubber_withholds_every_split_of_every_token() -> None:
    from agent_core.redact import StreamScrubber  # new in issue 14

    rng = random.Random(14)
    for kind, secret in PLANTED.items():
        message = f"token: {secret}\nAuthorization: token {secret[-20:]}x and more " * 2
        for _ in range(40):
            scrubber = StreamScrubber()
            out: list[str] = []
            i = 0
            while i < len(message):
                step = rng.randint(1, 9)
                out.append(scrubber.feed(message[i : i + step]))
                i += step
            out.append(scrubber.flush())
            joined = "".join(out)
            assert joined == scrub_text(message), kind
            for piece in pieces(secret):
                assert not any(piece in chunk for chunk in out), kind


def test_secret_in_dict_key_is_scrubbed() -> None:
    token = PLANTED["hf"]
    cleaned = scrub({"env": {token: "1", "WANDB_API_KEY": "0123456789abcdef"}})
    assert token not in repr(cleaned)
    assert "0123456789abcdef" not in repr(cleaned)
    assert cleaned["env"]["[REDACTED_HF_TOKEN]"] == "1"


def test_authorization_token_header_is_scrubbed() -> None:
    line = 'curl -H "Authorization: token 9f8e7d6c5b4a39281706" https://api.github.com/user'
    assert "9f8e7d6c5b4a39281706" not in scrub_text(line)
    assert "Authorization: token [REDACTED]" in scrub_text(line)
    assert "dXNlcjpodW50ZXIy" not in scrub_text("Authorization: Basic dXNlcjpodW50ZXIy")


def test_password_in_url_userinfo_is_scrubbed() -> None:
    for url in (
        "git clone https://alice:hunter2-very-secret@github.com/org/repo.git",
        "postgresql://ml:s3cr3t-pw@db.internal:5432/runs",
        "https://x-access-token:v1.abc123def456@github.com/o/r",
    ):
        cleaned = scrub_text(url)
        assert ":[REDACTED]@" in cleaned, url
        for secret in ("hunter2-very-secret", "s3cr3t-pw", "v1.abc123def456"):
            assert secret not in cleaned


async def test_gated_call_script_with_token_is_not_stored_raw_in_approvals(
    tmp_path: Path, llm: FakeLLM
) -> None:
    token = PLANTED["github_classic"]
    ran: list[dict] = []
    spec = tool(
        "run_script",
        lambda args, ctx: (ran.append(args) or "ok", True),
        params={"type": "object", "properties": {"script": {"type": "string"}}},
        read_only=False,
        approval=lambda args, cfg: ApprovalRequirement(True, "bash", f"run {args['script']}"),
    )
    script = f"import os\nos.system('git push https://{token}@github.com/o/r')\n"
    llm.push(tool_calls(call("run_script", {"script": script}, id="call_s1")))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec]) as eng:
        await eng.manager.submit("s", UserInput(text="push it", user="U1"), origin=ORIGIN)
        await eng.events.wait_for("approval_required", "s", timeout=60)
    dump = store_dump(tmp_path / "db")
    assert "approvals" in dump and "run_script" in dump
    for piece in pieces(token):
        assert piece not in dump


async def test_scrubbing_mangles_the_approved_script_that_then_runs(
    tmp_path: Path, llm: FakeLLM
) -> None:
    """Approval arguments are scrubbed at rest, so the scrubber must leave code alone: reading
    a token from the environment is what a script should do, and it is not a secret."""
    ran: list[dict] = []
    spec = tool(
        "run_script",
        lambda args, ctx: (ran.append(args) or "ok", True),
        params={"type": "object", "properties": {"script": {"type": "string"}}},
        read_only=False,
        approval=lambda args, cfg: ApprovalRequirement(True, "bash", "run it"),
    )
    script = (
        "import os\n"
        'token = os.environ["HF_TOKEN"]\n'
        'api_key = os.getenv("WANDB_API_KEY")\n'
        "trainer.push_to_hub(token=hf_token_var, max_new_tokens=1000000)\n"
    )
    llm.push(tool_calls(call("run_script", {"script": script})), text("done"))
    async with run_engine(tmp_path / "db", llm.base_url, tools=[spec]) as eng:
        await eng.manager.submit("s", UserInput(text="run", user="U1"), origin=ORIGIN)
        card = await eng.events.wait_for("approval_required", "s", timeout=60)
        entry = card.data["tools"][0]
        assert entry["arguments"]["script"] == script  # the card shows it unmangled
        res = await eng.manager.resolve_approvals(
            "s",
            [
                ToolApproval(
                    tool_call_id=entry["tool_call_id"], approved=True, args_hash=entry["args_hash"]
                )
            ],
            decided_by="U1",
        )
        assert res.ok
        await eng.events.wait_for("turn_complete", "s", timeout=60)
    assert ran and ran[0]["script"] == script
