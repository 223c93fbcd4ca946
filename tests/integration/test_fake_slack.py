"""Tests for the Slack emulator, driven by the real slack_bolt / slack_sdk stack (its command
line is exercised by ``tests/e2e/test_slack_process.py``).

The point is to prove the fake is faithful enough to stand in for Slack: a real
``AsyncApp`` + ``AsyncSocketModeHandler`` connects to it, receives events, and its Web API
calls land in the fake's state. No test sleeps; waits are condition-based with timeouts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes import slack_limits
from tests.fakes.fake_slack import BOT_ID, BOT_USER_ID, AckTimeout, FakeSlack

BOT = "xoxb-test"
APP = "xapp-1-A111-test"

APPROVAL_BLOCKS = [
    {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "Run job?"}},
    {
        "type": "actions",
        "block_id": "approval",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": "job-1",
                "style": "primary",
            },
            {
                "type": "button",
                "action_id": "open_modal",
                "text": {"type": "plain_text", "text": "Configure"},
                "value": "cfg",
            },
        ],
    },
]

MODAL = {
    "type": "modal",
    "callback_id": "cfg",
    "title": {"type": "plain_text", "text": "Configure"},
    "submit": {"type": "plain_text", "text": "Save"},
    "private_metadata": "job-1",
    "blocks": [
        {
            "type": "input",
            "block_id": "b_model",
            "label": {"type": "plain_text", "text": "Model"},
            "element": {"type": "plain_text_input", "action_id": "a_model"},
        }
    ],
}


class FakeClock:
    """Stepped clock for rate-limit tests: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def build_app(fake: FakeSlack) -> AsyncApp:
    """A tiny bot exercising the surfaces our real bot uses."""
    app = AsyncApp(client=AsyncWebClient(token=fake.bot_token, base_url=fake.base_url))

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Any, client: AsyncWebClient) -> None:
        thread_ts = event.get("thread_ts") or event["ts"]
        await client.reactions_add(channel=event["channel"], timestamp=event["ts"], name="eyes")
        await say(text=f"on it: {event['text']}", thread_ts=thread_ts, blocks=APPROVAL_BLOCKS)

    @app.action("approve")
    async def on_approve(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, respond: Any
    ) -> None:
        await ack()
        await client.chat_update(
            channel=body["channel"]["id"],
            ts=body["message"]["ts"],
            text=f"approved {body['actions'][0]['value']} by <@{body['user']['id']}>",
            blocks=[],
        )
        await respond(text="thanks, running it")

    @app.action("open_modal")
    async def on_open(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("cfg")
    async def on_submit(ack: Any, view: dict[str, Any], client: AsyncWebClient) -> None:
        model = view["state"]["values"]["b_model"]["a_model"]["value"]
        if not model:
            await ack(response_action="errors", errors={"b_model": "required"})
            return
        await ack()
        await client.chat_postMessage(
            channel="C1", text=f"configured {model} for {view['private_metadata']}"
        )

    return app


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=BOT, app_token=APP) as f:
        yield f


@pytest.fixture
async def bot(fake: FakeSlack) -> AsyncIterator[AsyncSocketModeHandler]:
    handler = AsyncSocketModeHandler(build_app(fake), app_token=fake.app_token)  # inside the loop
    await handler.connect_async()
    await fake.wait_connected(timeout=2)
    yield handler
    await handler.close_async()


def client_for(fake: FakeSlack, token: str = BOT, **kw: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.base_url, **kw)


# --- end-to-end through Bolt --------------------------------------------------------


async def test_mention_gets_threaded_reply(fake: FakeSlack, bot: AsyncSocketModeHandler) -> None:
    ts, ack = await fake.mention("train bert", channel="C1")
    assert ack.latency_s < 1.0 and ack.payload is None
    reply = await fake.wait_for_message("C1", lambda m: m.is_bot, thread_ts=ts)

    assert reply.thread_ts == ts and reply.bot_id == BOT_ID and reply.user == BOT_USER_ID
    assert reply.text == f"on it: <@{BOT_USER_ID}> train bert"
    assert [m.ts for m in fake.thread_messages("C1", ts)] == [ts, reply.ts]
    await fake.wait_for_call("reactions.add")
    assert fake.get_message("C1", ts).reactions == {"eyes": [BOT_USER_ID]}
    assert fake.calls_by_method()["apps.connections.open"] == 1
    assert fake.calls_by_method()["auth.test"] == 1  # Bolt's lazy, cached authorize

    # what went over the wire: postMessage is JSON, reactions.add is form/query
    post = fake.calls_for("chat.postMessage")[0]
    assert "json" in post.encoding and post.token == BOT and post.args["thread_ts"] == ts
    # the envelope looks like Slack's
    payload = fake.envelopes[0]["payload"]
    assert payload["authorizations"][0]["user_id"] == BOT_USER_ID
    assert payload["event"]["type"] == "app_mention" and payload["event_id"].startswith("Ev")

    # conversations.replies via the real client sees human + bot messages, root first
    replies = await client_for(fake).conversations_replies(channel="C1", ts=ts)
    assert [m["ts"] for m in replies["messages"]] == [ts, reply.ts]
    assert replies["messages"][0]["reply_count"] == 1


async def test_button_click_acks_and_updates(fake: FakeSlack, bot: AsyncSocketModeHandler) -> None:
    ts, _ = await fake.mention("go")
    reply = await fake.wait_for_message("C1", lambda m: m.is_bot, thread_ts=ts)

    ack = await fake.click_button("C1", reply.ts, "approve", user="U2")
    assert ack in fake.acks and ack.latency_s < 1.0
    assert ack.envelope["payload"]["actions"][0]["value"] == "job-1"
    assert ack.envelope["payload"]["container"]["thread_ts"] == ts

    await fake.wait_for_call("chat.update")
    assert reply.text == "approved job-1 by <@U2>" and reply.blocks is None
    assert reply.edits[0]["blocks"] == APPROVAL_BLOCKS and reply.edited_ts
    post = await fake.wait_for_call("response_url")
    assert post.args["text"] == "thanks, running it"
    assert fake.ephemerals[-1]["user"] == "U2" and fake.ephemerals[-1]["via"] == "response_url"

    with pytest.raises(LookupError, match="approve"):  # button is gone after the update
        await fake.click_button("C1", reply.ts, "approve")


async def test_view_open_and_submission(fake: FakeSlack, bot: AsyncSocketModeHandler) -> None:
    ts, _ = await fake.mention("configure")
    reply = await fake.wait_for_message("C1", lambda m: m.is_bot, thread_ts=ts)
    await fake.click_button("C1", reply.ts, "open_modal")
    call = await fake.wait_for_call("views.open")
    assert call.ok, call.response
    assert [v["callback_id"] for v in fake.open_views("U1")] == ["cfg"]

    ack = await fake.submit_view("cfg", {"b_model": ""})
    assert ack.payload == {"response_action": "errors", "errors": {"b_model": "required"}}
    assert fake.open_views("U1")  # errors keep it open

    await fake.submit_view("cfg", {"b_model": "bert-base"})
    msg = await fake.wait_for_message("C1", lambda m: m.text.startswith("configured"))
    assert msg.text == "configured bert-base for job-1"
    assert fake.open_views("U1") == []


async def test_redelivery_keeps_event_id(fake: FakeSlack, bot: AsyncSocketModeHandler) -> None:
    ts, ack = await fake.mention("hello")
    again = await fake.redeliver(ack, retry_attempt=1, retry_reason="timeout")
    assert again.envelope["payload"]["event_id"] == ack.envelope["payload"]["event_id"]
    assert again.envelope_id != ack.envelope_id and again.envelope["retry_attempt"] == 1
    # Bolt does not deduplicate retries: the listener runs again, and a non-idempotent
    # listener trips over its own first run (Slack answers already_reacted).
    second = await fake.wait_for_call("reactions.add", count=2)
    assert second.error == "already_reacted"


async def test_reconnect_request_is_handled(fake: FakeSlack, bot: AsyncSocketModeHandler) -> None:
    await fake.request_reconnect()
    assert fake.connections_opened == 2
    assert fake.calls_by_method()["apps.connections.open"] == 2
    await fake.wait_for(lambda: fake.ws_connections == 1, timeout=2)  # old socket went away
    ts, _ = await fake.mention("still there?")
    await fake.wait_for_message("C1", lambda m: m.is_bot, thread_ts=ts)


async def test_server_drop_triggers_auto_reconnect(
    fake: FakeSlack, bot: AsyncSocketModeHandler
) -> None:
    await fake.drop_connections()
    await fake.wait_for(
        lambda: fake.connections_opened == 2 and fake.ws_connections == 1, timeout=3
    )
    ts, _ = await fake.mention("back?")
    await fake.wait_for_message("C1", lambda m: m.is_bot, thread_ts=ts)


async def test_unacked_envelope_times_out(fake: FakeSlack) -> None:
    with pytest.raises(AckTimeout, match="connection"):
        await fake.mention("nobody home", ack_timeout=0.05)


# --- Web API strictness -------------------------------------------------------------


async def test_tokens_are_checked(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as e:
        await client_for(fake, "xoxb-wrong").auth_test()
    assert e.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as e:
        await client_for(fake, APP).chat_postMessage(channel="C1", text="x")
    assert e.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as e:
        await client_for(fake).apps_connections_open(app_token=BOT)
    assert e.value.response["error"] == "not_allowed_token_type"
    async with aiohttp.ClientSession() as s:
        async with s.post(fake.base_url + "auth.test") as r:
            assert (await r.json())["error"] == "not_authed"
        async with s.post(
            fake.base_url + "nope.nope", headers={"Authorization": f"Bearer {BOT}"}
        ) as r:
            assert (await r.json())["error"] == "unknown_method"
    auth = await client_for(fake).auth_test()
    assert (auth["team_id"], auth["user_id"], auth["bot_id"]) == ("T111", BOT_USER_ID, BOT_ID)
    assert not [c for c in fake.calls if c.method == "chat.postMessage" and c.ok]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_size_limits(fake: FakeSlack) -> None:
    c = client_for(fake)

    async def error_of(coro: Any) -> str:
        with pytest.raises(SlackApiError) as e:
            await coro
        return e.value.response["error"]

    max_text = slack_limits.MAX_TEXT_CHARS
    assert (
        await error_of(c.chat_postMessage(channel="C1", text="x" * (max_text + 1)))
        == "msg_too_long"
    )
    ok = await c.chat_postMessage(channel="C1", text="x" * max_text)
    assert await error_of(c.chat_postMessage(channel="C1", text="")) == "no_text"
    assert (
        await error_of(c.chat_update(channel="C1", ts=ok["ts"], text="y" * (max_text + 1)))
        == "msg_too_long"
    )

    divider = {"type": "divider"}
    assert (
        await error_of(c.chat_postMessage(channel="C1", text="t", blocks=[divider] * 51))
        == "invalid_blocks"
    )
    await c.chat_postMessage(channel="C1", text="t", blocks=[divider] * 50)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}
    with pytest.raises(SlackApiError) as e:
        await c.chat_postMessage(channel="C1", text="t", blocks=[section])
    assert "json-pointer:/blocks/0/text/text" in e.value.response["errors"][0]
    section["text"]["text"] = "s" * 3000
    await c.chat_postMessage(channel="C1", text="t", blocks=[section])
    md = {"type": "markdown", "text": "m" * 12_001}
    assert (
        await error_of(c.chat_update(channel="C1", ts=ok["ts"], text="t", blocks=[md]))
        == "invalid_blocks"
    )
    md["text"] = "m" * 12_000
    await c.chat_update(channel="C1", ts=ok["ts"], text="t", blocks=[md])


async def test_message_errors_and_reads(fake: FakeSlack) -> None:
    c = client_for(fake)
    human_ts = fake.add_message("C1", "U1", "hi bot")
    fake.add_message("C1", "U2", "me too", thread_ts=human_ts)
    errors = {
        "update unknown": c.chat_update(channel="C1", ts="1.000001", text="x"),
        "update human": c.chat_update(channel="C1", ts=human_ts, text="x"),
        "bad channel": c.chat_postMessage(channel="nope", text="x"),
        "no_reaction": c.reactions_remove(channel="C1", timestamp=human_ts, name="eyes"),
        "no thread": c.conversations_replies(channel="C1", ts="1.000001"),
        "usergroup": c.usergroups_users_list(usergroup="S404"),
    }
    got = {}
    for name, coro in errors.items():
        with pytest.raises(SlackApiError) as e:
            await coro
        got[name] = e.value.response["error"]
    assert got == {
        "update unknown": "message_not_found",
        "update human": "cant_update_message",
        "bad channel": "channel_not_found",
        "no_reaction": "no_reaction",
        "no thread": "thread_not_found",
        "usergroup": "no_such_subteam",
    }
    await c.reactions_add(channel="C1", timestamp=human_ts, name=":eyes:")
    with pytest.raises(SlackApiError, match="already_reacted"):
        await c.reactions_add(channel="C1", timestamp=human_ts, name="eyes")

    sent = await c.chat_postMessage(channel="C1", text="reply", thread_ts=human_ts)
    page = await c.conversations_replies(channel="C1", ts=human_ts, limit=2)
    assert len(page["messages"]) == 2 and page["has_more"]
    rest = await c.conversations_replies(
        channel="C1", ts=human_ts, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in rest["messages"]] == [sent["ts"]]
    link = await c.chat_getPermalink(channel="C1", message_ts=sent["ts"])
    assert (
        link["permalink"].startswith(f"{fake.http_url}/archives/C1/p")
        and "thread_ts=" in link["permalink"]
    )

    fake.set_usergroup("S1", ["U1", "U2"])
    assert (await c.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    dm = await c.conversations_open(users="U1")
    assert dm["channel"]["id"] == fake.dm_channel("U1") and dm["channel"]["id"].startswith("D")
    eph = await c.chat_postEphemeral(channel="C1", user="U1", text="psst")
    assert fake.ephemerals[-1]["ts"] == eph["message_ts"]
    await c.assistant_threads_setStatus(channel_id="C1", thread_ts=human_ts, status="is thinking…")
    assert fake.thread_status[("C1", human_ts)] == "is thinking…"
    await c.chat_postMessage(channel="C1", text="done", thread_ts=human_ts)
    assert ("C1", human_ts) not in fake.thread_status  # a reply clears the status


async def test_strict_mode_channels(fake: FakeSlack) -> None:
    async with FakeSlack(strict=True) as strict:
        strict.add_channel("C1", "general")
        strict.add_channel("C2", "secret", is_member=False)
        c = client_for(strict, strict.bot_token)
        assert (await c.chat_postMessage(channel="#general", text="hi"))["channel"] == "C1"
        with pytest.raises(SlackApiError, match="not_in_channel"):
            await c.chat_postMessage(channel="C2", text="hi")
        with pytest.raises(SlackApiError, match="channel_not_found"):
            await c.chat_postMessage(channel="C999", text="hi")


async def test_files_upload_v2_end_to_end(fake: FakeSlack) -> None:
    c = client_for(fake)
    parent = fake.add_message("C1", "U1", "<@U0BOT> logs please")
    resp = await c.files_upload_v2(
        channel="C1", thread_ts=parent, content="x", filename="log.txt", initial_comment="here"
    )
    fid = resp["file"]["id"]

    get_url, upload, complete = (
        fake.calls_for(m)[0]
        for m in ("files.getUploadURLExternal", "upload_url", "files.completeUploadExternal")
    )
    assert get_url.args["filename"] == "log.txt" and str(get_url.args["length"]) == "1"
    assert upload.token is None and upload.encoding == "raw" and upload.args["bytes"] == 1
    assert complete.args["files"] == [{"id": fid, "title": "log.txt"}]
    assert (complete.args["channel_id"], complete.args["thread_ts"]) == ("C1", parent)
    assert "files.info" not in fake.calls_by_method()  # slack_sdk >= 3.23 skips it

    assert fake.files[fid].content == b"x"
    shared = fake.thread_messages("C1", parent, include_root=False)
    assert len(shared) == 1 and shared[0].text == "here" and shared[0].files[0]["id"] == fid
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {BOT}"}) as s:
        async with s.get(shared[0].files[0]["url_private"]) as r:
            assert await r.read() == b"x"

    with pytest.raises(SlackApiError, match="file_not_found"):  # never uploaded
        url = await c.files_getUploadURLExternal(filename="a.txt", length=3)
        await c.files_completeUploadExternal(files=[{"id": url["file_id"]}], channel_id="C1")


# --- fault injection and rate limits ------------------------------------------------


async def test_http_429_is_retried_by_rate_limit_handler(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The handler sleeps int(Retry-After[0]) + random.random(); pin the jitter to stay fast.
    monkeypatch.setattr(builtin_async_handlers.random, "random", lambda: 0.01)
    c = client_for(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    fake.fail_next("chat.postMessage", status=429, retry_after=0)

    resp = await c.chat_postMessage(channel="C1", text="after retry")
    assert resp["ok"]
    first, second = fake.calls_for("chat.postMessage")
    assert (first.status, first.error) == (429, "ratelimited") and second.ok
    assert fake.rate_limited["chat.postMessage"] == 1
    assert [m.text for m in fake.bot_messages("C1")] == ["after retry"]

    fake.fail_next("chat.postMessage", status=429, retry_after=0)  # without a handler: raised
    with pytest.raises(SlackApiError) as e:
        await client_for(fake).chat_postMessage(channel="C1", text="x")
    assert e.value.response.status_code == 429 and e.value.response.headers["Retry-After"] == "0"


async def test_ok_false_ratelimited_is_not_retried(fake: FakeSlack) -> None:
    c = client_for(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    fake.fail_next("chat.postMessage", error="ratelimited", status=200)
    with pytest.raises(SlackApiError) as e:
        await c.chat_postMessage(channel="C1", text="x")
    assert e.value.response.status_code == 200 and e.value.response["error"] == "ratelimited"
    assert fake.calls_by_method()["chat.postMessage"] == 1  # handler only looks at HTTP 429

    fake.fail_next("chat.update", error="message_not_found")
    fake.fail_next("reactions.add", status=500)
    with pytest.raises(SlackApiError, match="message_not_found"):
        await c.chat_update(channel="C1", ts="1.1", text="x")
    with pytest.raises(SlackApiError) as e:
        await c.reactions_add(channel="C1", timestamp="1.1", name="eyes")
    assert e.value.response.status_code == 500 and e.value.response["error"] == "internal_error"


async def test_rate_limit_tiers(fake: FakeSlack) -> None:
    clock = FakeClock()
    fake.clock = clock
    fake.enable_rate_limits()
    c = client_for(fake)

    for i in range(slack_limits.POST_MESSAGE.burst):
        await c.chat_postMessage(channel="C1", text=f"burst {i}")
    with pytest.raises(SlackApiError) as e:
        await c.chat_postMessage(channel="C1", text="too fast")
    assert e.value.response.status_code == 429 and e.value.response.headers["Retry-After"] == "1"
    await c.chat_postMessage(channel="C2", text="other channel has its own bucket")
    clock.now += 1.0
    await c.chat_postMessage(channel="C1", text="refilled")

    ts = fake.bot_messages("C1")[0].ts
    for i in range(slack_limits.TIER3.burst):
        await c.chat_update(channel="C1", ts=ts, text=f"edit {i}")
    with pytest.raises(SlackApiError) as e:
        await c.chat_update(channel="C1", ts=ts, text="edit storm")
    assert e.value.response.status_code == 429
    assert fake.rate_limited == {"chat.postMessage": 1, "chat.update": 1}

    fake.disable_rate_limits()
    await c.chat_update(channel="C1", ts=ts, text="free again")


async def test_webhooks_and_faults(fake: FakeSlack) -> None:
    url = fake.add_webhook("T111/B222/abc", channel="C9")
    hook = AsyncWebhookClient(url)
    resp = await hook.send(text="job finished")
    assert (resp.status_code, resp.body) == (200, "ok")
    assert fake.webhook_posts[-1].payload == {"text": "job finished"}
    assert fake.messages("C9")[-1].text == "job finished"

    fake.fail_next("webhook", status=404)
    assert (await hook.send(text="x")).body == "no_service"
    fake.fail_next("webhook", status=429, retry_after=3)
    resp = await hook.send(text="x")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"


async def test_wait_for_call_times_out_fast(fake: FakeSlack) -> None:
    with pytest.raises(TimeoutError, match="chat.update"):
        await fake.wait_for_call("chat.update", timeout=0.05)


# --- control API --------------------------------------------------------------------


async def test_control_api_drives_a_connected_bot(
    fake: FakeSlack, bot: AsyncSocketModeHandler
) -> None:
    async with aiohttp.ClientSession(base_url=fake.http_url) as s:
        async with s.post("/_control/mention", json={"text": "via control"}) as r:
            body = await r.json()
        assert body["ok"] and body["ack"]["type"] == "events_api"
        async with s.post("/_control/wait_call", json={"method": "chat.postMessage"}) as r:
            call = (await r.json())["call"]
        assert call["args"]["thread_ts"] == body["ts"]
        async with s.get(
            "/_control/messages", params={"channel": "C1", "thread_ts": body["ts"]}
        ) as r:
            msgs = (await r.json())["messages"]
        reply_ts = msgs[-1]["ts"]
        async with s.post(
            "/_control/click",
            json={"channel": "C1", "message_ts": reply_ts, "action_id": "approve"},
        ) as r:
            assert (await r.json())["ok"]
        async with s.post(
            "/_control/rate_limits", json={"enabled": True, "methods": ["chat.update"]}
        ) as r:
            assert (await r.json())["methods"] == ["chat.update"]
        async with s.post(
            "/_control/click", json={"channel": "C1", "message_ts": "9.9", "action_id": "x"}
        ) as r:
            assert r.status == 400
        await fake.wait_for_call("chat.update")
        async with s.get("/_control/stats") as r:
            stats = await r.json()
        assert stats["acks"] == 2 and stats["calls_by_method"]["chat.update"] == 1
