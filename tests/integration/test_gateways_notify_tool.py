"""The agent's ``notify`` tool: allow-list, clear errors, real delivery through the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_core.store import Store
from agent_core.tools.base import Services
from gateways import NotificationService
from gateways.notify_tool import tools
from tests.fakes.fake_slack import FakeSlack
from tests.gateway_harness import ORIGIN, REQUESTER, messaging, outbox_rows, running_service
from tests.tool_harness import make_harness

DESTS: dict[str, Any] = {
    "slack.ml-ops": {"provider": "slack", "channel": "C0OPS", "allow_agent_tool": True},
    "slack.gone": {"provider": "slack", "channel": "C0GONE", "allow_agent_tool": True},
    "slack.private": {"provider": "slack", "channel": "C0PRIV"},
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack


@pytest.fixture
async def svc(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[NotificationService]:
    store = await Store.open(tmp_path / "state.db")
    try:
        async with running_service(
            store, messaging(DESTS), bot_token=fake.bot_token, slack_base_url=fake.base_url
        ) as service:
            yield service
    finally:
        await store.close()


def _tool(svc: NotificationService, tmp_path: Path):
    (spec,) = tools(Services(notifier=svc))
    harness = make_harness(tmp_path, services=Services(notifier=svc))
    harness.ctx.origin = dict(ORIGIN)
    return spec, harness.ctx


async def test_tool_is_offered_only_with_allowed_destinations(
    svc: NotificationService, tmp_path: Path
) -> None:
    assert tools(Services()) == []
    (spec,) = tools(Services(notifier=svc))
    assert spec.name == "notify"
    assert spec.parameters["required"] == ["destinations", "message"]
    assert spec.parameters["properties"]["severity"]["enum"] == [
        "info",
        "success",
        "warning",
        "error",
    ]
    assert (
        "slack.ml-ops, slack.gone" in spec.description and "slack.private" not in spec.description
    )
    store = await Store.open(tmp_path / "other.db")
    try:
        none_allowed = NotificationService(
            messaging({"x": {"provider": "webhook", "url": "http://127.0.0.1:9/x"}}), store, env={}
        )
        assert tools(Services(notifier=none_allowed)) == []
        disabled = NotificationService({"enabled": False}, store, env={})
        assert tools(Services(notifier=disabled)) == []
    finally:
        await store.close()


async def test_unknown_and_disallowed_destinations_are_tool_errors(
    svc: NotificationService, fake: FakeSlack, tmp_path: Path
) -> None:
    spec, ctx = _tool(svc, tmp_path)
    text, ok = await spec.handler({"destinations": ["slack.nope"], "message": "hi"}, ctx)
    assert not ok and text == (
        "ERROR: unknown destination(s): slack.nope. "
        "Destinations you may use: slack.ml-ops, slack.gone."
    )
    text, ok = await spec.handler(
        {"destinations": ["slack.ml-ops", "slack.private"], "message": "hi"}, ctx
    )
    assert (
        not ok
        and "not available to the notify tool (allow_agent_tool is false): slack.private" in text
    )
    for args, expected in [
        ({"destinations": [], "message": "hi"}, "'destinations' must be a non-empty list"),
        (
            {"destinations": ["slack.ml-ops"], "message": " "},
            "'message' must be a non-empty string",
        ),
        (
            {"destinations": ["slack.ml-ops"], "message": "hi", "severity": "fatal"},
            "'severity' must be one of",
        ),
    ]:
        text, ok = await spec.handler(args, ctx)
        assert not ok and expected in text
    assert fake.calls_for("chat.postMessage") == []  # nothing was sent for any rejected call


async def test_notify_sends_and_reports_per_destination(
    svc: NotificationService, fake: FakeSlack, tmp_path: Path
) -> None:
    fake.fail_next(
        "chat.postMessage", "channel_not_found", match=lambda a: a["channel"] == "C0GONE"
    )
    spec, ctx = _tool(svc, tmp_path)
    args = {
        "destinations": ["slack.ml-ops", "slack.gone"],
        "message": "Eval finished: **acc 0.93** on imdb test",
        "title": "distilbert-imdb ready",
        "severity": "success",
    }
    text, ok = await spec.handler(args, ctx)
    assert not ok
    assert text == "slack.ml-ops: sent\nslack.gone: failed (channel_not_found)"
    (msg,) = fake.messages("C0OPS")
    assert (
        msg.text == ":white_check_mark: distilbert-imdb ready: Eval finished: acc 0.93 on imdb test"
    )
    assert "Eval finished: *acc 0.93* on imdb test" in msg.blocks[0]["text"]["text"]
    assert "sent by the agent" in msg.blocks[-1]["elements"][0]["text"]
    assert f"<@{REQUESTER}>" not in msg.text  # the agent's own messages do not ping

    # the same tool call retried (e.g. after a restart) is not sent again
    text, _ = await spec.handler(args, ctx)
    assert text.startswith("slack.ml-ops: sent")
    assert len(fake.messages("C0OPS")) == 1
    keys = [r["idempotency_key"] for r in await outbox_rows(svc.store)]
    assert keys == ["notify:sess-1:call-1:slack.ml-ops", "notify:sess-1:call-1:slack.gone"]


async def test_notify_reports_queued_when_still_retrying(
    svc: NotificationService, fake: FakeSlack, tmp_path: Path
) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=30)
    spec, ctx = _tool(svc, tmp_path)
    ctx.tool_call_id = "call-2"
    results = await svc.send(["slack.ml-ops"], "hi", session_id="s", request_id="r1", wait_s=0.5)
    assert [r.line() for r in results] == [
        "slack.ml-ops: queued, will keep retrying; last error: rate limited (ratelimited)"
    ]
    (status,) = [s for s in await svc.status() if s["destination"] == "slack.ml-ops"]
    assert status["pending"] == 1 and status["paused_until"] is not None
