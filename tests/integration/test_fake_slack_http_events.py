"""The emulator's HTTP Events API delivery behaves like Slack: requests that slack_sdk's own
``SignatureVerifier`` accepts, JSON events and form-encoded interactivity, and retries with
``X-Slack-Retry-Num`` after a 5xx or a response slower than the limit (events only).

The receiving end here is a bare aiohttp app (not the bot), so these tests pin the fake's
behaviour itself; the bot's side is in tests/e2e/test_slack_http_mode.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from tests.fakes.fake_slack import FakeSlack
from tests.fakes.slack.http_events import DeliveryFailed

SECRET = "e3b0c44298fc1c149afbf4c8996fb924"


class Receiver:
    """A request URL that checks signatures and answers from a script of statuses."""

    def __init__(self, statuses: list[int | None]) -> None:
        self.statuses = statuses  # None: never answer (until released)
        self.seen: list[dict] = []
        self.release = asyncio.Event()
        self.verifier = SignatureVerifier(SECRET)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            {
                "headers": dict(request.headers),
                "body": body,
                "valid": self.verifier.is_valid_request(body, dict(request.headers)),
            }
        )
        status = self.statuses.pop(0) if self.statuses else 200
        if status is None:
            await self.release.wait()
            status = 200
        return web.Response(status=status, text="")


def message_with_a_button(slack: FakeSlack) -> str:
    button = {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
    blocks = [{"type": "actions", "block_id": "b", "elements": [button]}]
    return slack.add_message("C1", "U2", "pick one", blocks=blocks)


@pytest.fixture
async def world():
    async def make(statuses: list[int | None], **options):
        receiver = Receiver(statuses)
        app = web.Application()
        app.router.add_post("/slack/events", receiver.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        runners.append((runner, receiver))
        slack = await stack.enter_async_context(FakeSlack())
        events = slack.deliver_over_http(f"http://127.0.0.1:{port}/slack/events", SECRET, **options)
        return slack, events, receiver

    runners: list = []
    async with contextlib.AsyncExitStack() as stack:
        yield make
        for runner, receiver in runners:
            receiver.release.set()
            await runner.cleanup()


async def test_events_are_signed_json_that_slack_sdk_verifies(world) -> None:
    slack, events, receiver = await world([200])
    ts, ack = await slack.mention("hello")
    (request,) = receiver.seen
    assert request["valid"]
    assert request["headers"]["Content-Type"] == "application/json"
    body = json.loads(request["body"])
    assert body["type"] == "event_callback" and body["event"]["ts"] == ts
    assert "X-Slack-Retry-Num" not in request["headers"]


async def test_interactivity_is_a_form_with_one_payload_field(world) -> None:
    slack, events, receiver = await world([200, 200])
    await slack.click_button("C1", message_with_a_button(slack), "go")
    request = receiver.seen[-1]
    assert request["valid"]
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request["body"].decode())
    assert list(form) == ["payload"]
    assert json.loads(form["payload"][0])["type"] == "block_actions"


async def test_a_5xx_answer_is_retried_with_the_retry_headers(world) -> None:
    slack, events, receiver = await world([503, 500, 200])
    await slack.mention("try again")
    retries = [r["headers"].get("X-Slack-Retry-Num") for r in receiver.seen]
    reasons = [r["headers"].get("X-Slack-Retry-Reason") for r in receiver.seen]
    assert retries == [None, "1", "2"]
    assert reasons == [None, "http_error", "http_error"]
    assert len({r["body"] for r in receiver.seen}) == 1  # the same event, byte for byte
    assert all(r["valid"] for r in receiver.seen)  # each attempt signed afresh


async def test_a_response_slower_than_the_limit_is_retried_as_http_timeout(world) -> None:
    slack, events, receiver = await world([None, 200], response_timeout=0.5)
    await slack.mention("slow app")
    assert [r["headers"].get("X-Slack-Retry-Reason") for r in receiver.seen] == [
        None,
        "http_timeout",
    ]
    assert [d.status for d in events.deliveries] == [0, 200]


async def test_slack_gives_up_after_three_retries(world) -> None:
    slack, events, receiver = await world([500, 500, 500, 500, 500])
    with pytest.raises(DeliveryFailed, match="last status 500"):
        await slack.mention("never")
    assert len(receiver.seen) == 4


async def test_interactivity_is_not_retried(world) -> None:
    slack, events, receiver = await world([500])
    with pytest.raises(DeliveryFailed):
        await slack.click_button("C1", message_with_a_button(slack), "go")
    assert len(receiver.seen) == 1
