"""manifest.yml matches what the code listens to and calls (scopes, events, interactivity)."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.conversation.listeners import SLASH_COMMAND

MANIFEST = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())


def test_socket_mode_and_interactivity_are_on() -> None:
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert MANIFEST["features"]["bot_user"]["display_name"]


def test_events_and_scopes_cover_what_the_bot_uses() -> None:
    events = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert events == {
        "app_mention",
        "message.channels",
        "message.groups",
        "message.im",
        "message.mpim",
    }
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    needed = {
        "app_mentions:read",  # app_mention
        "channels:history",  # message.channels, conversations.replies
        "groups:history",
        "im:history",
        "mpim:history",
        "chat:write",  # postMessage, update, postEphemeral, assistant.threads.setStatus
        "reactions:write",  # reactions.add/remove
        "files:write",  # files_upload_v2
        "usergroups:read",  # usergroups.users.list, usergroups.list (names)
        "commands",  # the slash command
        "files:read",  # url_private_download, files.info (bot.conversation.attachments)
        "users:read",  # users.info (bot.slack.names)
        "channels:read",  # conversations.info (bot.slack.names)
        "groups:read",
    }
    assert needed <= scopes
    (command,) = MANIFEST["features"]["slash_commands"]
    assert command["command"] == SLASH_COMMAND
    assert command["should_escape"] is True  # the decoder reads <@U…>, not bare @names
