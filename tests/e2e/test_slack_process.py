"""The real process: ``python -m bot`` against the emulator and the scripted LLM running as
their own processes (their CLI modes), then SIGTERM → a clean, prompt exit.

Everything waits on output lines or on the emulator's blocking control calls, never on
sleeps."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp

from agent_core.store import Store

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-subprocess-secret-token-42"
APP_TOKEN = "xapp-1-A111-subprocess-secret-77"
DB_PW = "pg-subprocess-secret-99"


async def _spawn(*args: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=str(cwd),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _line_with(
    stream: asyncio.StreamReader, needle: str, seen: list[str], timeout: float
) -> str:
    async def read() -> str:
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"stream ended before {needle!r}; got:\n" + "".join(seen))
            line = raw.decode(errors="replace")
            seen.append(line)
            if needle in line:
                return line

    return await asyncio.wait_for(read(), timeout)


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "OPENAI_", "ML_INTERN_", "HF_TOKEN"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        ML_INTERN_STATE_DIR=str(tmp_path / "state"),
        ML_INTERN_DB=str(tmp_path / "bot.db"),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONUNBUFFERED="1",
    )
    return env


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_bot_process_serves_then_exits_cleanly_on_sigterm(tmp_path, store_url) -> None:
    """On both store backends; the Postgres URL carries a password that must never show."""
    env = _base_env(tmp_path)
    if store_url.startswith("postgresql://"):  # the test cluster trusts loopback: any password
        store_url = store_url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_PW}@")
    env["ML_INTERN_DB"] = store_url
    slack = await _spawn(
        "-m", "tests.fakes.fake_slack", "--port", "0", "--bot-token", BOT_TOKEN, "--app-token", APP_TOKEN,
        env=env, cwd=ROOT,
    )  # fmt: skip
    llm = await _spawn(
        "-m", "tests.fakes.fake_llm", "--port", "0", "--mode", "echo", env=env, cwd=ROOT
    )
    bot = None
    try:
        seen: list[str] = []
        ready = (await _line_with(slack.stdout, "READY", seen, 20)).strip()
        assert ready.startswith("READY http://127.0.0.1:") and ready.endswith("/api/")
        api = ready.split()[1]
        llm_url = (await _line_with(llm.stdout, "READY", seen, 20)).split()[1]
        control = api.replace("/api/", "/_control/")
        async with aiohttp.ClientSession() as http, http.get(control + "health") as r:
            assert (await r.json())["ok"]  # the emulator's command line serves its control API
        env.update(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_BASE_URL=api,
            OPENAI_API_BASE=llm_url,
            OPENAI_API_KEY="sk-fake-process-key",
            ML_INTERN_MODEL="openai/fake",
        )
        bot = await _spawn("-m", "bot", env=env, cwd=tmp_path)  # cwd: no stray .env is read
        logs: list[str] = []
        await _line_with(bot.stderr, "connected to Slack", logs, 30)
        async with aiohttp.ClientSession() as http:
            async with http.post(control + "mention", json={"text": "hello from a process"}) as r:
                body = await r.json()
                assert body["ok"], body
                assert body["ack"]["latency_s"] < 1.0
            # The answer may come after a progress message: wait post by post (each wait
            # blocks in the emulator until that many chat.postMessage calls were answered).
            messages: list = []
            for count in range(1, 6):
                async with http.post(
                    control + "wait_call",
                    json={"method": "chat.postMessage", "count": count, "timeout": 30},
                ) as r:
                    body = await r.json()
                    assert body["ok"], body
                async with http.get(control + "messages", params={"channel": "C1"}) as r:
                    messages = (await r.json())["messages"]
                if any("hello from a process" in str(m) and "echo: " in str(m) for m in messages):
                    break
        assert any("hello from a process" in str(m) and "echo: " in str(m) for m in messages)

        bot.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.wait(), 20)
        rest = (await bot.stderr.read()).decode(errors="replace")
        output = "".join(logs) + rest
        assert code == 0, output
        assert "stopped cleanly" in output
        for secret in (BOT_TOKEN, APP_TOKEN, "sk-fake-process-key", DB_PW):
            assert secret not in output
        store = await Store.open(store_url)  # the turn is in the store ML_INTERN_DB named
        try:
            answered = await store.fetchone(
                "SELECT COUNT(*) FROM events WHERE type=?", ("turn_complete",)
            )
            assert answered is not None and answered[0] == 1
        finally:
            await store.close()
    finally:
        for proc in (bot, slack, llm):
            if proc is not None:
                await _stop(proc)


async def test_missing_tokens_fail_fast_with_instructions(tmp_path) -> None:
    env = _base_env(tmp_path)
    env["ML_INTERN_MODEL"] = "openai/fake"
    proc = await _spawn("-m", "bot", env=env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    text = err.decode()
    assert "SLACK_BOT_TOKEN is not set" in text and "SLACK_APP_TOKEN is not set" in text
    assert "manifest.yml" in text


CONNECT_PATH_PROBE = """
import asyncio, os, sys, time
from agent_core.config import Config, default_config_dict
from bot.startup import BotRuntime
from bot.settings import Tokens, load_slack_settings
from tests.fakes.fake_slack import FakeSlack

async def main():
    async with FakeSlack() as fake:
        data = default_config_dict()
        data["model_name"] = "openai/fake"
        config = Config.model_validate(data)
        tokens = Tokens(bot_token=fake.bot_token, app_token=fake.app_token, api_base_url=fake.base_url)
        runtime = BotRuntime(config, load_slack_settings(config), tokens,
                             store_path=sys.argv[1], warm_llm=False)
        await runtime.start()
        await fake.wait_connected()
        print("LITELLM_AT_CONNECT", "litellm" in sys.modules, flush=True)
        ts, ack = await fake.mention("hi")
        print("ACK_S", round(ack.latency_s, 4), flush=True)
        await runtime.stop(grace_s=0)

asyncio.run(main())
"""


async def test_litellm_is_not_imported_on_the_connect_and_ack_path(tmp_path) -> None:
    env = _base_env(tmp_path)
    proc = await _spawn("-c", CONNECT_PATH_PROBE, str(tmp_path / "probe.db"), env=env, cwd=ROOT)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()[-3000:]
    # Connected without importing litellm, and the first mention was acked at once (an
    # import on the loop before the ack would take seconds).
    assert "LITELLM_AT_CONNECT False" in text, text + err.decode()[-2000:]
    ack_s = float(text.split("ACK_S")[1].split()[0])
    assert ack_s < 0.5, text
