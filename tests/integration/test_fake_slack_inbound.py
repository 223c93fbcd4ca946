"""The Slack emulator's inbound side enforces what Slack enforces: file downloads need the bot
token (otherwise the sign-in redirect), files.info / users.info / conversations.info /
usergroups.list answer in Slack's shapes and fail with Slack's errors."""

from __future__ import annotations

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.fake_slack import FakeSlack


async def test_url_private_download_needs_the_bot_token() -> None:
    async with FakeSlack() as fake:
        f = fake.share_file("train.csv", b"a,b\n1,2\n", user="U1")
        assert f["user"] == "U1" and f["preview"] == "a,b\n1,2" and f["lines"] == 2
        async with httpx.AsyncClient(follow_redirects=True) as http:
            anon = await http.get(f["url_private_download"])
            wrong = await http.get(
                f["url_private_download"], headers={"Authorization": "Bearer xoxb-wrong"}
            )
            ok = await http.get(
                f["url_private_download"], headers={"Authorization": f"Bearer {fake.bot_token}"}
            )
        assert anon.history and anon.history[0].status_code == 302
        assert b"a,b" not in anon.content and b"a,b" not in wrong.content
        assert ok.status_code == 200 and ok.content == b"a,b\n1,2\n"
        downloads = [(c.args["file"], c.args["authorized"]) for c in fake.calls_for("files-pri")]
        assert downloads == [(f["id"], False), (f["id"], False), (f["id"], True)]


async def test_directory_methods_answer_like_slack() -> None:
    async with FakeSlack(strict=True) as fake:
        fake.add_channel("C1", name="general")
        fake.set_usergroup("S1", ["U1"], handle="ml-leads")
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.base_url)
        user = (await client.users_info(user="U1"))["user"]
        assert user["profile"]["display_name"] == "alice"
        assert (await client.conversations_info(channel="C1"))["channel"]["name"] == "general"
        groups = (await client.usergroups_list())["usergroups"]
        assert [(g["id"], g["handle"]) for g in groups] == [("S1", "ml-leads")]
        f = fake.share_file("x.yaml", b"lr: 1\n", user="U2")
        assert (await client.files_info(file=f["id"]))["file"]["name"] == "x.yaml"
        for call, error in (
            (client.users_info(user="U404"), "user_not_found"),
            (client.conversations_info(channel="C404"), "channel_not_found"),
            (client.files_info(file="F404"), "file_not_found"),
        ):
            with pytest.raises(SlackApiError) as exc:
                await call
            assert exc.value.response["error"] == error
