"""The naive baseline: a ~100-line Slack bot that streams by editing its message on every chunk.

    SLACK_BOT_TOKEN=… SLACK_APP_TOKEN=… SLACK_API_BASE_URL=… OPENAI_API_BASE=… \\
        python -m bench.naive_bot

This is the pattern most "LLM in Slack" tutorials start from: on a mention, post a placeholder
in the thread, stream the completion, and ``chat.update`` the placeholder with the text so far
after every chunk. It exists only so the benchmark can show, in the same run and against the
same emulator, what that costs in Web API calls and HTTP 429s next to the real bot — the ratio
is the point, so the baseline is kept deliberately ordinary:

* it uses ``slack_sdk`` directly (``AsyncWebClient`` + the aiohttp ``SocketModeClient``) with
  the SDK's default retry handlers, which do not retry 429s;
* a rate-limited mid-stream edit is logged and skipped (the next chunk's edit carries the
  text anyway); the placeholder post and the final edit honour ``Retry-After`` (a few
  attempts), so the answer does get delivered and the added latency is measurable — a
  baseline that silently lost answers would make the comparison meaningless.

It prints ``READY`` once the Socket Mode connection is up and runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("naive_bot")
FINAL_ATTEMPTS = 5


async def stream_completion(
    http: aiohttp.ClientSession, api_base: str, prompt: str
) -> AsyncIterator[str]:
    """Content deltas of one streamed OpenAI-compatible chat completion."""
    body = {
        "model": os.environ.get("NAIVE_MODEL", "bench"),
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
    }
    headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', 'sk-bench')}"}
    async with http.post(f"{api_base}/chat/completions", json=body, headers=headers) as resp:
        resp.raise_for_status()
        async for raw in resp.content:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            for choice in chunk.get("choices") or []:
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    yield delta


class NaiveBot:
    def __init__(self, web: AsyncWebClient, api_base: str) -> None:
        self.web = web
        self.api_base = api_base.rstrip("/")
        self.http = aiohttp.ClientSession()
        self.tasks: set[asyncio.Task[None]] = set()

    async def on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        event = (req.payload or {}).get("event") or {}
        if req.type == "events_api" and event.get("type") == "app_mention":
            task = asyncio.create_task(self.answer(event))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def answer(self, event: dict[str, Any]) -> None:
        channel, thread = event["channel"], event.get("thread_ts") or event["ts"]
        try:
            placeholder = await self.with_retry(
                self.web.chat_postMessage, channel=channel, thread_ts=thread, text="_thinking…_"
            )
            ts = placeholder["ts"]
            text = ""
            async for delta in stream_completion(self.http, self.api_base, event.get("text", "")):
                text += delta
                try:
                    await self.web.chat_update(channel=channel, ts=ts, text=text)
                except SlackApiError as exc:
                    log.debug("edit skipped: %s", exc.response.get("error"))
            await self.with_retry(self.web.chat_update, channel=channel, ts=ts, text=text)
        except Exception:
            log.exception("answer failed")

    @staticmethod
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

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await self.http.close()


async def main_async() -> None:
    web = AsyncWebClient(
        token=os.environ["SLACK_BOT_TOKEN"],
        base_url=os.environ.get("SLACK_API_BASE_URL", "https://slack.com/api/"),
    )
    bot = NaiveBot(web, os.environ["OPENAI_API_BASE"])
    client = SocketModeClient(app_token=os.environ["SLACK_APP_TOKEN"], web_client=web)
    client.socket_mode_request_listeners.append(bot.on_request)  # type: ignore[arg-type]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await client.connect()
    print("READY naive-bot", flush=True)
    try:
        await stop.wait()
    finally:
        await client.close()
        await bot.close()


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
