"""The Slack emulator with several Socket Mode connections, as Slack runs them for one app.

Each envelope goes to one open connection, spread over them; an unacked Events API envelope is
delivered again (same event_id, ``retry_attempt`` + 1) possibly on another connection; one
whose connection closes before the ack is delivered again at once; interactive envelopes are
never retried. Real Bolt handlers (one per simulated replica) and raw sockets that misbehave.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.fake_slack import AckTimeout, FakeSlack


class Replica:
    """One Bolt app on its own Socket Mode connection, recording the events it handled."""

    def __init__(self, fake: FakeSlack) -> None:
        self.seen: list[tuple[str, int]] = []  # (event text, retry_attempt header)
        self.app = AsyncApp(client=AsyncWebClient(token=fake.bot_token, base_url=fake.base_url))

        @self.app.event("app_mention")
        async def on_mention(event: dict[str, Any], request: Any) -> None:
            retry = int((request.headers.get("x-slack-retry-num") or ["0"])[0])
            self.seen.append((event["text"], retry))

        self.handler: AsyncSocketModeHandler | None = None

    async def connect(self, fake: FakeSlack) -> int:
        before = fake.connections_opened
        self.handler = AsyncSocketModeHandler(self.app, app_token=fake.app_token)
        await self.handler.connect_async()
        await fake.wait_for(lambda: fake.connections_opened > before, timeout=5)
        return fake.connections_opened

    async def close(self) -> None:
        if self.handler is not None:
            await self.handler.close_async()


class RawSocket:
    """A Socket Mode client that never acks: ``close_on_envelope`` hangs up on the first one."""

    def __init__(self, close_on_envelope: bool) -> None:
        self.close_on_envelope = close_on_envelope
        self.received: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    async def connect(self, fake: FakeSlack) -> int:
        client = AsyncWebClient(base_url=fake.base_url)
        url = (await client.apps_connections_open(app_token=fake.app_token))["url"]
        self._http = aiohttp.ClientSession()
        ws = await self._http.ws_connect(url)
        hello = json.loads((await ws.receive()).data)
        assert hello["type"] == "hello"
        self._task = asyncio.create_task(self._read(ws))
        return fake.connections_opened

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            self.received.append(json.loads(frame.data))
            if self.close_on_envelope:
                await ws.close()
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._http is not None:
            await self._http.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as f:
        yield f


async def test_envelopes_are_spread_over_connections_each_delivered_once(fake: FakeSlack) -> None:
    async with AsyncExitStack() as stack:
        replicas = [Replica(fake) for _ in range(3)]
        numbers = []
        for r in replicas:
            numbers.append(await r.connect(fake))
            stack.push_async_callback(r.close)
        assert fake.ws_connections == 3
        texts = [f"job {i}" for i in range(30)]
        for t in texts:
            await fake.mention(t, channel="C9")
        per_conn = {n: [d for d in fake.deliveries if d.connection == n] for n in numbers}
        assert {n: len(ds) for n, ds in per_conn.items()} == {n: 10 for n in numbers}
        assert all(d.acked_at is not None and d.retry_attempt == 0 for d in fake.deliveries)
        # Each replica handled exactly the events sent on its own connection, none twice.
        await fake.wait_for(lambda: sum(len(r.seen) for r in replicas) == 30, timeout=5)
        handled = sorted(text.split("> ", 1)[1] for r in replicas for text, _ in r.seen)
        assert handled == sorted(texts)
        for r, n in zip(replicas, numbers, strict=True):
            assert len(r.seen) == len(per_conn[n])


async def test_unacked_event_is_retried_on_another_connection(fake: FakeSlack) -> None:
    async with AsyncExitStack() as stack:
        deaf = RawSocket(close_on_envelope=False)
        deaf_conn = await deaf.connect(fake)
        stack.push_async_callback(deaf.close)
        replica = Replica(fake)
        await replica.connect(fake)
        stack.push_async_callback(replica.close)

        _, ack = await fake.mention("anyone?", ack_timeout=0.3)  # round robin: the deaf one first
        tries = fake.socket.deliveries_of(ack.envelope["payload"]["event_id"])
        assert [(d.connection, d.retry_attempt, d.acked_at is None) for d in tries] == [
            (deaf_conn, 0, True),
            (deaf_conn + 1, 1, False),
        ]
        assert len(deaf.received) == 1 and deaf.received[0]["retry_attempt"] == 0
        assert ack.envelope["retry_reason"] == "timeout"
        assert ack.envelope["envelope_id"] != deaf.received[0]["envelope_id"]
        await fake.wait_for(lambda: replica.seen, timeout=5)
        assert replica.seen == [(ack.envelope["payload"]["event"]["text"], 1)]


async def test_events_of_a_closed_connection_are_delivered_again_at_once(fake: FakeSlack) -> None:
    async with AsyncExitStack() as stack:
        dying = RawSocket(close_on_envelope=True)
        await dying.connect(fake)
        stack.push_async_callback(dying.close)
        replica = Replica(fake)
        second = await replica.connect(fake)
        stack.push_async_callback(replica.close)
        fake.socket.retries = 1
        # A 60 s ack timeout: only the closed socket (not the timeout) can trigger the retry
        # within the 10 s this test allows.
        _, ack = await asyncio.wait_for(fake.mention("still there?", ack_timeout=60), 10)
        assert len(dying.received) == 1
        tries = fake.socket.deliveries_of(ack.envelope["payload"]["event_id"])
        assert [(d.connection, d.retry_attempt) for d in tries] == [(second - 1, 0), (second, 1)]


async def test_events_are_retried_three_times_interactive_never(fake: FakeSlack) -> None:
    async with AsyncExitStack() as stack:
        deaf = RawSocket(close_on_envelope=False)
        await deaf.connect(fake)
        stack.push_async_callback(deaf.close)
        with pytest.raises(AckTimeout, match="within 0.05s"):
            await fake.mention("hi", ack_timeout=0.05)
        assert [e["retry_attempt"] for e in deaf.received] == [0, 1, 2, 3]
        assert len({e["payload"]["event_id"] for e in deaf.received}) == 1
        click = {
            "envelope_id": "env-click-1",
            "type": "interactive",
            "accepts_response_payload": False,
            "payload": {"type": "block_actions", "actions": []},
        }
        with pytest.raises(AckTimeout, match="within 0.05s"):
            await fake.push_envelope(click, ack_timeout=0.05)
        assert [d.envelope_id for d in fake.deliveries[4:]] == ["env-click-1"]


async def test_a_connection_told_to_disconnect_gets_no_new_envelopes(fake: FakeSlack) -> None:
    async with AsyncExitStack() as stack:
        replicas = [Replica(fake) for _ in range(2)]
        for r in replicas:
            await r.connect(fake)
            stack.push_async_callback(r.close)
        # Slack's refresh of the first replica's socket: it opens a new one (3) and drops 1.
        await fake.request_reconnect(connection=1)
        assert fake.socket.connection(1).draining
        before = len(fake.deliveries)
        for i in range(6):
            await fake.mention(f"after refresh {i}")
        used = {d.connection for d in fake.deliveries[before:]}
        assert used == {2, 3}  # spread over the live sockets, none on the refreshed one
        await fake.wait_for(lambda: sum(len(r.seen) for r in replicas) == 6, timeout=5)
        assert [len(r.seen) for r in replicas] == [
            3,
            3,
        ]  # the refreshed replica still gets its share
