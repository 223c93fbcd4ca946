"""The rate-safe sender against a stub client: coalescing, priorities, rate limits, scrubbing.

The stub is our own collaborator's stand-in (the real client is exercised end to end in
tests/e2e); it records calls and can answer with Slack's rate-limit errors."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.sender import HIGH, LOW, NORMAL, SlackSender


def _response(
    data: dict[str, Any], status: int = 200, headers: dict | None = None
) -> AsyncSlackResponse:
    return AsyncSlackResponse(
        client=None,
        http_verb="POST",
        api_url="http://stub/api",
        req_args={},
        data=data,
        headers=headers or {},
        status_code=status,
    )


class StubClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, list[AsyncSlackResponse]] = {}
        self.gate: asyncio.Event | None = None
        self.changed = asyncio.Event()
        self.entered = asyncio.Event()

    def __getattr__(self, method: str) -> Any:
        async def call(**kwargs: Any) -> AsyncSlackResponse:
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            self.calls.append((method, kwargs))
            self.changed.set()
            failures = self.fail.get(method)
            if failures:
                resp = failures.pop(0)
                raise SlackApiError("failed", resp)
            return _response(
                {"ok": True, "ts": f"{len(self.calls)}.0", "channel": kwargs.get("channel")}
            )

        return call

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]


async def test_edits_to_one_message_are_coalesced_last_one_wins() -> None:
    client = StubClient()
    sender = SlackSender(client, edit_interval_s=10.0)
    futures = [sender.edit("C1", "1.0", text=f"v{i}") for i in range(10)]
    await asyncio.wait_for(futures[0], 5)  # the first goes out at once
    later = [sender.edit("C1", "1.0", text=f"w{i}") for i in range(5)]
    # the interval (10 s) holds the rest; a final edit still waits for the interval...
    assert [m for m in client.methods()] == ["chat_update"]
    assert sender.stats["coalesced"] >= 9
    sender.edit_interval_s = 0.0  # ...until it is due: one more call carries the last content
    sender.edit("C1", "1.0", text="final", final=True)
    await asyncio.wait_for(asyncio.gather(*later), 5)
    assert await sender.flush(5)
    updates = [kw["text"] for m, kw in client.calls if m == "chat_update"]
    assert updates[-1] == "final" and len(updates) <= 3
    await sender.close()


async def test_priorities_within_a_channel() -> None:
    client = StubClient()
    client.gate = asyncio.Event()
    sender = SlackSender(client, edit_interval_s=0.0)
    first = sender.submit("C1", "chat_postMessage", priority=NORMAL, channel="C1", text="first")
    await asyncio.wait_for(client.entered.wait(), 5)  # the worker holds "first" at the gate
    edit = sender.edit("C1", "9.0", text="progress")
    notice = sender.submit("C1", "chat_postMessage", priority=NORMAL, channel="C1", text="notice")
    card = sender.submit("C1", "chat_postMessage", priority=HIGH, channel="C1", text="card")
    client.gate.set()
    await asyncio.wait_for(asyncio.gather(first, edit, notice, card), 5)
    order = [kw.get("text") for _, kw in client.calls]
    assert order == ["first", "card", "notice", "progress"]
    assert LOW > NORMAL > HIGH
    await sender.close()


async def test_ok_false_ratelimited_pauses_the_channel_then_succeeds() -> None:
    client = StubClient()
    client.fail["chat_postMessage"] = [
        _response({"ok": False, "error": "ratelimited"}, 200, {"Retry-After": "0.2"})
    ]
    sender = SlackSender(client)
    loop = asyncio.get_running_loop()
    started = loop.time()
    data = await asyncio.wait_for(
        sender.call("C1", "chat_postMessage", channel="C1", text="hello"), 5
    )
    assert data["ok"] is True and loop.time() - started >= 0.2
    assert client.methods() == ["chat_postMessage", "chat_postMessage"]
    assert sender.stats["rate_limited"] == 1
    await sender.close()


async def test_a_rate_limited_channel_does_not_block_others() -> None:
    client = StubClient()
    client.fail["chat_postMessage"] = [
        _response({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "30"})
    ]
    sender = SlackSender(client)
    blocked = sender.submit("C1", "chat_postMessage", channel="C1", text="slow")
    await asyncio.wait_for(client.changed.wait(), 5)
    other = await asyncio.wait_for(
        sender.call("C2", "chat_postMessage", channel="C2", text="fast"), 5
    )
    assert other["ok"] and not blocked.done()
    await sender.close(timeout=0.1)
    assert blocked.done()


async def test_other_errors_reach_the_caller_and_missing_messages_are_skipped() -> None:
    client = StubClient()
    client.fail["chat_postMessage"] = [_response({"ok": False, "error": "channel_not_found"})]
    client.fail["chat_update"] = [_response({"ok": False, "error": "message_not_found"})]
    sender = SlackSender(client)
    try:
        await sender.call("C1", "chat_postMessage", channel="C1", text="x")
    except SlackApiError as exc:
        assert exc.response["error"] == "channel_not_found"
    else:  # pragma: no cover
        raise AssertionError("expected SlackApiError")
    assert await asyncio.wait_for(sender.edit("C1", "1.0", text="gone"), 5) is None
    await sender.close()


async def test_secrets_are_scrubbed_from_every_text_field(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "my-custom-hf-secret-value")
    client = StubClient()
    sender = SlackSender(client)
    token = "hf_" + "a" * 34
    await sender.call(
        "C1",
        "chat_postMessage",
        channel="C1",
        text=f"token {token}",
        blocks=[
            {"type": "markdown", "text": "key my-custom-hf-secret-value and xoxb-123456789012-abc"}
        ],
    )
    sender.edit("C1", "1.0", text="SLACK_BOT_TOKEN=xoxb-999999999999-zzz")
    await sender.flush(5)
    dumped = repr(client.calls)
    assert token not in dumped and "my-custom-hf-secret-value" not in dumped
    assert "xoxb-123456789012" not in dumped and "xoxb-999999999999" not in dumped
    assert "[REDACTED" in dumped
    await sender.close()


async def test_posts_are_paced_per_channel_while_other_channels_flow() -> None:
    import time

    client = StubClient()
    # 300/min = one post every 0.2 s after a burst of 3 (Slack: 60/min, same shape).
    sender = SlackSender(client, posts_per_minute=300, post_burst=3)
    done_at: dict[str, float] = {}

    def stamp(name: str):
        return lambda _f: done_at.setdefault(name, time.monotonic())

    start = time.monotonic()
    futures = []
    for i in range(5):
        fut = sender.submit("C1", "chat_postMessage", channel="C1", text=f"answer {i}")
        fut.add_done_callback(stamp(f"answer {i}"))
        futures.append(fut)
    other = sender.submit("C2", "chat_postMessage", channel="C2", text="elsewhere")
    other.add_done_callback(stamp("elsewhere"))
    await asyncio.wait_for(asyncio.gather(*futures, other), 5)
    assert [k["text"] for _, k in client.calls if k["channel"] == "C1"] == [
        f"answer {i}" for i in range(5)
    ]
    assert done_at["elsewhere"] - start < 0.15  # another channel is not held back
    assert done_at["answer 2"] - start < 0.15  # the burst goes at once
    assert done_at["answer 3"] - start >= 0.18  # then one per 0.2 s
    assert done_at["answer 4"] - done_at["answer 3"] >= 0.18
    await sender.close()
