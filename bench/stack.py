"""One benchmark stack: the fakes as processes, plus the bot (or the naive baseline) wired to them.

Each scenario builds a fresh stack, so one scenario's Slack state, rate-limit buckets and
database never colour another's figures. A stack costs ~1 s to start (three small aiohttp
servers), which is cheap next to what it buys.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .control import HubControl, LLMControl, SlackControl
from .procs import Proc, ProcessPool, python_argv

REPO = Path(__file__).resolve().parents[1]
BOT_TOKEN = "xoxb-bench"
APP_TOKEN = "xapp-1-A111-bench"
HF_TOKEN = "hf_FakeAliceToken000000000000000001"  # the fake Hub's default write token (alice)


def bot_command() -> list[str]:
    """The real console script (``ml-intern-slack``) of the driver's venv."""
    script = Path(sys.executable).parent / "ml-intern-slack"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())"]


BURST_SIZE_MAX = 1000


@dataclass
class Stack:
    """The running fakes of one scenario, their control clients, and a scratch directory."""

    pool: ProcessPool
    workdir: Path
    slack: Proc
    llm: Proc
    hub: Proc | None
    ctl: SlackControl
    llm_ctl: LLMControl
    hub_ctl: HubControl | None = None
    bots: list[Proc] = field(default_factory=list)
    poller: Any = None  # bench_bot.AnswerPoller, created on first use
    _bot_count: int = 0

    async def aclose(self) -> None:
        """Stop the driver-side helpers (the answer poller) before the clients close."""
        if self.poller is not None:
            await self.poller.close()

    def cpu_seconds(self) -> dict[str, float]:
        """User+system CPU seconds so far of each live process of the stack and the driver,
        to show how the two cores were shared while a figure was taken."""
        import psutil

        procs = {"bot": self.bots[-1] if self.bots else None, "fake_slack": self.slack}
        procs["llm"] = self.llm
        out: dict[str, float] = {}
        for name, proc in procs.items():
            if proc is None:
                continue
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(proc.pid).cpu_times()
                out[name] = t.user + t.system
        t = psutil.Process().cpu_times()
        out["driver"] = t.user + t.system
        return out

    @property
    def slack_url(self) -> str:
        assert self.slack.url
        return self.slack.url

    def bot_env(self, db_path: Path, config: dict[str, Any]) -> dict[str, str]:
        """The environment a deployed bot would have, pointed at this stack's fakes."""
        cfg_path = self.workdir / f"config-{self._bot_count}.json"
        cfg_path.write_text(json.dumps(config))
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_API_BASE_URL": self.slack_url,
            "ML_INTERN_MODEL": "openai/bench",
            "OPENAI_API_BASE": str(self.llm.url),
            "OPENAI_API_KEY": "sk-bench",
            "ML_INTERN_DB": str(db_path),
            "ML_INTERN_CONFIG": str(cfg_path),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no cost-map download at import
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(REPO),
        }
        if self.hub is not None and self.hub.url:
            env["HF_ENDPOINT"] = self.hub.url
            env["HF_TOKEN"] = HF_TOKEN
        return env

    async def start_bot(
        self,
        name: str,
        config: dict[str, Any] | None = None,
        *,
        db_path: Path | None = None,
        connect_timeout: float = 60.0,
    ) -> tuple[Proc, float]:
        """Spawn ``ml-intern-slack``; return it and the emulator time its socket opened.

        Readiness is the emulator seeing a *new* Socket Mode connection — the bot's own
        definition of "up" (it connects only after the store and engine are ready).
        """
        before = (await self.ctl.stats())["connections_opened"]
        self._bot_count += 1
        db = db_path or self.workdir / f"{name}.db"
        # The bursts stand for many people mentioning the bot at once, but the emulator's
        # mentions all come from one user: lift the per-person limit on working sessions
        # (default 3), or the bot would rightly refuse most of a burst.
        config = {"max_active_sessions_per_user": BURST_SIZE_MAX, **(config or {})}
        env = self.bot_env(db, config)
        proc = await self.pool.spawn(
            name, bot_command(), env=env, cwd=self.workdir, ready_prefix=None
        )
        self.bots.append(proc)
        connected = await self._wait_socket(proc, before + 1, connect_timeout)
        return proc, connected

    async def start_naive(self, name: str = "naive", *, stream: str = "edit") -> tuple[Proc, float]:
        """Spawn ``bench/naive_bot.py``; ``stream`` is its ``NAIVE_STREAM`` (edit | final)."""
        before = (await self.ctl.stats())["connections_opened"]
        env = self.bot_env(self.workdir / f"{name}.db", {})
        env["NAIVE_STREAM"] = stream
        proc = await self.pool.spawn(
            name, python_argv("bench.naive_bot"), env=env, cwd=REPO, ready_prefix=None
        )
        self.bots.append(proc)
        connected = await self._wait_socket(proc, before + 1, 60.0)
        return proc, connected

    async def _wait_socket(self, proc: Proc, number: int, timeout: float) -> float:
        waiter = asyncio.create_task(self.ctl.wait_connected(number, timeout))
        exited = asyncio.create_task(proc.process.wait())
        done, _ = await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            raise RuntimeError(
                f"{proc.name} exited (rc={proc.process.returncode}) before connecting; "
                f"see {proc.log_path}"
            )
        exited.cancel()
        return float(waiter.result()["connected_at"])

    async def stop_bot(self, proc: Proc) -> None:
        await self.pool.stop(proc, timeout=15.0)
        if proc in self.bots:
            self.bots.remove(proc)


async def open_stack(
    exits: AsyncExitStack,
    log_dir: Path,
    workdir: Path,
    *,
    rate_limits: bool = False,
    hub: bool = False,
    hub_run_secs: float = 3600.0,
) -> Stack:
    """Start the fakes (Slack emulator, bench LLM, optionally the fake Hub) under ``exits``.

    The Hub is ``bench/hub_server.py``: jobs run for ``hub_run_secs`` unless the driver
    finishes them through ``HubControl.finish_jobs``."""
    workdir.mkdir(parents=True, exist_ok=True)
    pool = await exits.enter_async_context(ProcessPool(log_dir))
    slack_args = ["--port", "0", "--bot-token", BOT_TOKEN, "--app-token", APP_TOKEN]
    slack_args += ["--ack-timeout", "30"]
    if rate_limits:
        slack_args.append("--rate-limits")
    slack_task = pool.spawn(
        "fake_slack", python_argv("tests.fakes.fake_slack", *slack_args), cwd=REPO
    )
    llm_task = pool.spawn("bench_llm", python_argv("bench.llm_server", "--port", "0"), cwd=REPO)
    slack, llm = await asyncio.gather(slack_task, llm_task)
    hub_proc = None
    if hub:
        hub_args = ["--port", "0", "--run-secs", str(hub_run_secs)]
        hub_proc = await pool.spawn(
            "fake_hub", python_argv("bench.hub_server", *hub_args), cwd=REPO
        )
    assert slack.url and llm.url
    ctl = await exits.enter_async_context(SlackControl(slack.url))
    llm_ctl = await exits.enter_async_context(LLMControl(llm.url))
    hub_ctl = None
    if hub_proc is not None and hub_proc.url:
        hub_ctl = await exits.enter_async_context(HubControl(hub_proc.url))
    stack = Stack(pool, workdir, slack, llm, hub_proc, ctl, llm_ctl, hub_ctl)
    exits.push_async_callback(stack.aclose)  # runs first: LIFO
    return stack


def now() -> float:
    """The driver's clock: host-wide CLOCK_MONOTONIC, same as the fakes' timestamps."""
    return time.monotonic()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
