"""Shared pieces of the adversarial tests: planted secrets of every shape the scrubber knows,
and a way to read everything a store file holds at rest."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.fakes.fake_llm import FakeLLM

# One planted secret per known shape (fake values with the real prefixes and lengths).
PLANTED = {
    "hf": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "slack_bot": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrSt",
    "slack_app": "xapp-1-A0123456789-1234567890123-abcdef0123456789",
    "openai": "sk-" + "proj-" + "Z" * 12 + "q1W2e3R4t5Y6u7I8o9P0aSdFgHjKl",
    "anthropic": "sk-ant-" + "api03-" + "Xy" * 20,
    "github_classic": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "github_fine": "github_pat_" + "11ABCDEFG0" + "x" * 40,
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
}


def store_dump(path: Path) -> str:
    """Every row of every table of the SQLite file, as SQL text (what an attacker with the
    file would read)."""
    con = sqlite3.connect(path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def stored_stream(path: Path) -> str:
    """The streamed deltas of every session as stored, concatenated in order (what an attacker
    would rebuild a split token from)."""
    con = sqlite3.connect(path)
    try:
        rows = con.execute(
            "SELECT data FROM events WHERE type='assistant_chunk' ORDER BY session_id, seq"
        ).fetchall()
    finally:
        con.close()
    return "".join(json.loads(r[0]).get("content", "") for r in rows)


def pieces(secret: str, size: int = 10) -> list[str]:
    """Every ``size``-character window of the secret's body (past its public prefix)."""
    body = secret[-24:]
    return [body[i : i + size] for i in range(len(body) - size + 1)]


@pytest.fixture
async def llm():
    async with FakeLLM() as fake:
        yield fake


def _bwrap_works() -> bool:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = [bwrap, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


needs_sandbox = pytest.mark.skipif(
    not _bwrap_works(), reason="bubblewrap missing or cannot build namespaces on this host"
)
