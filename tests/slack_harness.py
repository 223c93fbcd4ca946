"""Run the real Slack gateway against the Slack emulator and the scripted LLM, in-process.

``BotEnv`` builds the gateway exactly as production does (:class:`bot.startup.BotRuntime`:
store, engine, Web API client with retry handlers, Bolt AsyncApp, Socket Mode handler — or,
with ``http=True``, the HTTP transport on a loopback port, the emulator then delivering signed
HTTP requests to it) — only the URLs, the tool router and a few timings differ. Tests drive it through the emulator
(``env.slack.mention(...)``) and assert on Slack-side state, waiting on conditions, never
sleeping.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from agent_core.config import Config
from agent_core.tools import plan_tool
from agent_core.tools.base import Services, ToolSpec
from agent_core.tools.router import ToolRouter
from bot.ops.settings import HttpSettings, OpsSettings
from bot.settings import Tokens, load_slack_settings
from bot.slack.transport import HttpTransport
from bot.startup import BotRuntime
from tests.engine_harness import make_config
from tests.fakes.fake_llm import FakeLLM
from tests.fakes.fake_slack import BOT_USER_ID, FakeSlack, Message

SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"  # the shape of a real one (32 hex digits)

FAST_SLACK = {
    "progress_edit_interval_s": 0.05,
    "progress_delay_s": 0,
    "edits_per_minute": 6000,
    "posts_per_minute": 6000,
}


class HfJobsStub:
    """A tool named ``hf_jobs`` (the engine's policy gates ``run`` on GPU flavors)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.gate: asyncio.Event | None = None

    def spec(self) -> ToolSpec:
        async def handler(args: dict[str, Any], ctx: Any) -> tuple[str, bool]:
            self.calls.append(dict(args))
            if self.gate is not None:
                await self.gate.wait()
            return f"Job submitted: job-{len(self.calls)} on {args.get('hardware_flavor')}", True

        return ToolSpec(
            name="hf_jobs",
            description="Run Hugging Face jobs (test stub).",
            parameters={
                "type": "object",
                "properties": {
                    "operation": {"type": "string"},
                    "script": {"type": "string"},
                    "hardware_flavor": {"type": "string"},
                    "timeout": {"type": "string"},
                    "image": {"type": "string"},
                },
                "required": ["operation"],
            },
            handler=handler,
            key_argument="operation",
        )


def echo_tool(name: str = "lookup", gate: asyncio.Event | None = None) -> ToolSpec:
    async def handler(args: dict[str, Any], ctx: Any) -> tuple[str, bool]:
        if gate is not None:
            await gate.wait()
        return f"{name} result for {args.get('query')}", True

    return ToolSpec(
        name=name,
        description=f"test tool {name}",
        parameters={"type": "object", "properties": {"query": {"type": "string"}}},
        handler=handler,
        read_only=True,
        key_argument="query",
    )


class BotEnv:
    def __init__(
        self,
        slack: FakeSlack,
        llm: FakeLLM,
        db: Path,
        *,
        slack_settings: dict[str, Any] | None = None,
        config_overrides: dict[str, Any] | None = None,
        tools: list[ToolSpec] | None = None,
        http: bool = False,
        ops: OpsSettings | None = None,
    ) -> None:
        self.http = http
        self.ops = ops
        self.slack = slack
        self.llm = llm
        self.db = db
        self.hf_jobs = HfJobsStub()
        self.slack_settings = {**FAST_SLACK, **(slack_settings or {})}
        self.config_overrides = config_overrides or {}
        self.extra_tools = tools or []
        self.runtime: BotRuntime | None = None
        self.state_dir = db.parent / "state"

    @property
    def config(self) -> Config:
        return make_config(slack=self.slack_settings, **self.config_overrides)

    def router(self) -> ToolRouter:
        return ToolRouter([*plan_tool.tools(None), self.hf_jobs.spec(), *self.extra_tools])  # type: ignore[arg-type]

    async def start_bot(self) -> BotRuntime:
        os.environ["OPENAI_API_BASE"] = self.llm.base_url
        os.environ["OPENAI_API_KEY"] = "sk-fake-test-key"
        config = self.config
        tokens = Tokens(
            bot_token=self.slack.bot_token,
            app_token="" if self.http else self.slack.app_token,
            api_base_url=self.slack.base_url,
            signing_secret=SIGNING_SECRET if self.http else "",
        )
        transport = (
            HttpTransport(SIGNING_SECRET, HttpSettings(host="127.0.0.1", port=0))
            if self.http
            else None
        )
        self.runtime = BotRuntime(
            config,
            load_slack_settings(config),
            tokens,
            store_path=self.db,
            router=self.router(),
            warm_llm=False,
            services=Services(state_dir=self.state_dir),  # workspaces under tmp, not the cwd
            transport=transport,
            ops=self.ops,
        )
        await self.runtime.start()
        if transport is not None:
            # Slack's 3 s limit would turn a loaded CI machine into retries: timing is not
            # what these tests check (tests/integration/test_fake_slack_http_events.py does).
            self.slack.deliver_over_http(
                f"{self.http_url}/slack/events", SIGNING_SECRET, response_timeout=30.0
            )
        else:
            await self.slack.wait_connected()
        return self.runtime

    @property
    def http_url(self) -> str:
        """The bot's own listener in HTTP mode (request URL, health, metrics)."""
        assert self.runtime is not None and isinstance(self.runtime.transport, HttpTransport)
        return f"http://127.0.0.1:{self.runtime.transport.port}"

    async def stop_bot(self, grace_s: float = 2.0) -> None:
        if self.runtime is not None:
            await self.runtime.stop(grace_s=grace_s)
            self.runtime = None

    async def restart(self) -> BotRuntime:
        await self.stop_bot()
        return await self.start_bot()

    @property
    def manager(self) -> Any:
        assert self.runtime is not None and self.runtime.manager is not None
        return self.runtime.manager

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until the renderer and the sender have nothing left to do."""
        assert self.runtime is not None
        assert self.runtime.renderer is not None and self.runtime.sender is not None
        for _ in range(3):
            assert await self.runtime.renderer.drain(timeout)
            assert await self.runtime.sender.flush(timeout)

    # ---- Slack-side queries ------------------------------------------------------
    def bot_replies(self, channel: str, thread_ts: str) -> list[Message]:
        return [
            m
            for m in self.slack.thread_messages(channel, thread_ts, include_root=False)
            if m.is_bot
        ]

    async def wait_reply(
        self,
        channel: str,
        thread_ts: str,
        predicate: Callable[[Message], bool],
        timeout: float = 30.0,
    ) -> Message:
        return await self.slack.wait_for_message(
            channel, lambda m: m.is_bot and predicate(m), thread_ts=thread_ts, timeout=timeout
        )

    async def wait_answer(
        self, channel: str, thread_ts: str, text: str, timeout: float = 30.0
    ) -> Message:
        return await self.wait_reply(channel, thread_ts, lambda m: has_markdown(m, text), timeout)


def markdown_text(m: Message) -> str:
    return "\n".join(b.get("text", "") for b in (m.blocks or []) if b.get("type") == "markdown")


def has_markdown(m: Message, text: str) -> bool:
    return text in markdown_text(m)


def all_text(m: Message | dict[str, Any]) -> str:
    """Everything visible in a message or one of its versions (text, blocks, fields)."""
    if isinstance(m, dict):
        return str(m.get("text") or "") + json.dumps(m.get("blocks") or [])
    return m.text + json.dumps(m.blocks or [])


@asynccontextmanager
async def bot_env(
    tmp_path: Path,
    *,
    slack_settings: dict[str, Any] | None = None,
    config_overrides: dict[str, Any] | None = None,
    tools: list[ToolSpec] | None = None,
    default_reply: str | None = None,
    start: bool = True,
    http: bool = False,
    ops: OpsSettings | None = None,
) -> AsyncIterator[BotEnv]:
    async with FakeSlack() as slack, FakeLLM(default=default_reply) as llm:
        env = BotEnv(
            slack,
            llm,
            tmp_path / "bot.db",
            slack_settings=slack_settings,
            config_overrides=config_overrides,
            tools=tools,
            http=http,
            ops=ops,
        )
        if start:
            await env.start_bot()
        try:
            yield env
        finally:
            await env.stop_bot()


__all__ = [
    "BOT_USER_ID",
    "SIGNING_SECRET",
    "BotEnv",
    "bot_env",
    "echo_tool",
    "has_markdown",
    "markdown_text",
    "all_text",
]
