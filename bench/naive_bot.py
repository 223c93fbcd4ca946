"""The naive baseline: the Slack + LLM bot most tutorials end with — Bolt, litellm, SQLite.

    SLACK_BOT_TOKEN=… SLACK_APP_TOKEN=… SLACK_API_BASE_URL=… OPENAI_API_BASE=… \\
        ML_INTERN_MODEL=openai/… ML_INTERN_DB=naive.db python -m bench.naive_bot

It is the same *kind* of bot as ``ml-intern-slack`` — the same libraries on the same wires
(``slack_bolt``'s ``AsyncApp`` over Socket Mode, ``litellm.acompletion(stream=True)`` against
the same OpenAI-compatible endpoint, a conversation kept per thread in SQLite) — minus
everything the product adds: no progress message, no reactions, no status line, no tools or
approvals, no durable event log, no dedupe of redeliveries, no pacing under Slack's limits.
So in the same run, against the same emulator and LLM, the comparison says what the product's
guarantees cost per turn and whether it still keeps up (issue 18: a 200-mention burst must be
answered no slower than this bot answers it).

Two ways to show the answer, as tutorials do (``NAIVE_STREAM``):

* ``edit`` (default): post a placeholder, then ``chat.update`` it with the text so far on every
  streamed chunk — the pattern whose Web API cost the ``calls`` scenario measures;
* ``final``: post the whole answer once the stream ends — the cheapest possible turn, used for
  the burst comparison so the baseline is as fast as a naive bot can be.

Slack calls use slack_sdk's default retry handlers (no 429 retry); a rate-limited mid-stream
edit is skipped (the next edit carries the text anyway); the placeholder/answer post and the
final edit honour ``Retry-After`` a few times, so answers are delivered when they can be and
the added latency is measurable — a baseline that silently lost answers would prove nothing.

It prints ``READY naive-bot`` once the Socket Mode connection is up and runs until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

import aiosqlite
import litellm
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("naive_bot")
FINAL_ATTEMPTS = 5
SYSTEM_PROMPT = "You are a helpful assistant in a Slack workspace."
SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thread TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_thread ON messages (thread, id);
"""


class ThreadHistory:
    """The conversation of each thread, one row per message (what a tutorial bot keeps)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    @classmethod
    async def open(cls, path: str) -> ThreadHistory:
        db = await aiosqlite.connect(path)
        await db.executescript(SCHEMA)
        await db.commit()
        return cls(db)

    async def messages(self, thread: str) -> list[dict[str, str]]:
        async with self.db.execute(
            "SELECT role, content FROM messages WHERE thread=? ORDER BY id", (thread,)
        ) as cur:
            return [{"role": r, "content": c} for r, c in await cur.fetchall()]

    async def add(self, thread: str, role: str, content: str) -> None:
        await self.db.execute(
            "INSERT INTO messages (thread, role, content) VALUES (?, ?, ?)",
            (thread, role, content),
        )
        await self.db.commit()

    async def close(self) -> None:
        await self.db.close()


async def with_retry(method: Any, **kwargs: Any) -> Any:
    """Call, sleeping ``Retry-After`` on a 429, up to FINAL_ATTEMPTS times."""
    for attempt in range(FINAL_ATTEMPTS):
        try:
            return await method(**kwargs)
        except SlackApiError as exc:
            if exc.response.status_code != 429 or attempt == FINAL_ATTEMPTS - 1:
                raise
            await asyncio.sleep(float(exc.response.headers.get("Retry-After", 1) or 1))
    return None


class NaiveBot:
    """On a mention: load the thread's history, stream a completion, show it, store both."""

    def __init__(self, history: ThreadHistory, *, model: str, api_base: str, mode: str) -> None:
        self.history = history
        self.model = model
        self.api_base = api_base
        self.mode = mode

    async def on_mention(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        channel = event["channel"]
        thread = event.get("thread_ts") or event["ts"]
        key = f"{channel}:{thread}"
        text = event.get("text", "")
        try:
            messages = [{"role": "system", "content": SYSTEM_PROMPT}]
            messages += await self.history.messages(key)
            messages.append({"role": "user", "content": text})
            await self.history.add(key, "user", text)
            if self.mode == "final":
                answer = "".join([d async for d in self.stream(messages)])
                await with_retry(
                    client.chat_postMessage, channel=channel, thread_ts=thread, text=answer
                )
            else:
                answer = await self.stream_by_edits(client, channel, thread, messages)
            await self.history.add(key, "assistant", answer)
        except Exception:
            log.exception("answer failed")

    async def stream(self, messages: list[dict[str, str]]) -> Any:
        """Content deltas of one streamed completion (litellm, OpenAI-compatible endpoint)."""
        response = await litellm.acompletion(
            model=self.model, messages=messages, stream=True, api_base=self.api_base
        )
        async for chunk in response:
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                yield delta

    async def stream_by_edits(
        self, client: AsyncWebClient, channel: str, thread: str, messages: list[dict[str, str]]
    ) -> str:
        placeholder = await with_retry(
            client.chat_postMessage, channel=channel, thread_ts=thread, text="_thinking…_"
        )
        ts, text = placeholder["ts"], ""
        async for delta in self.stream(messages):
            text += delta
            try:
                await client.chat_update(channel=channel, ts=ts, text=text)
            except SlackApiError as exc:
                log.debug("edit skipped: %s", exc.response.get("error"))
        await with_retry(client.chat_update, channel=channel, ts=ts, text=text)
        return text


def build_app(bot: NaiveBot) -> AsyncApp:
    web = AsyncWebClient(
        token=os.environ["SLACK_BOT_TOKEN"],
        base_url=os.environ.get("SLACK_API_BASE_URL", "https://slack.com/api/"),
    )
    app = AsyncApp(client=web, request_verification_enabled=False)

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], client: AsyncWebClient) -> None:
        await bot.on_mention(event, client)

    @app.event("message")
    async def ignore(event: dict[str, Any]) -> None:  # acked, not answered
        return None

    return app


async def main_async() -> None:
    history = await ThreadHistory.open(os.environ.get("ML_INTERN_DB", "naive.db"))
    bot = NaiveBot(
        history,
        model=os.environ.get("ML_INTERN_MODEL", "openai/bench"),
        api_base=os.environ["OPENAI_API_BASE"],
        mode=os.environ.get("NAIVE_STREAM", "edit"),
    )
    handler = AsyncSocketModeHandler(build_app(bot), app_token=os.environ["SLACK_APP_TOKEN"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await handler.connect_async()
    print("READY naive-bot", flush=True)
    try:
        await stop.wait()
    finally:
        await handler.close_async()
        await history.close()


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
