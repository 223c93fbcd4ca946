"""manifest.http.yml (HTTP mode) is manifest.yml with request URLs instead of Socket Mode:
same scopes, events, slash commands and shortcuts, so the two cannot drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.ops.settings import REQUEST_PATH

ROOT = Path(__file__).resolve().parents[2]
SOCKET = yaml.safe_load((ROOT / "manifest.yml").read_text())
HTTP = yaml.safe_load((ROOT / "manifest.http.yml").read_text())
REQUEST_URL = f"https://YOUR-HOST{REQUEST_PATH}"


def without_urls(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest minus what legitimately differs between the two transports."""
    features = dict(manifest["features"])
    features["slash_commands"] = [
        {k: v for k, v in c.items() if k != "url"} for c in features.get("slash_commands", [])
    ]
    settings = dict(manifest["settings"])
    settings.pop("socket_mode_enabled")
    settings["event_subscriptions"] = {
        k: v for k, v in settings["event_subscriptions"].items() if k != "request_url"
    }
    settings["interactivity"] = {
        k: v for k, v in settings["interactivity"].items() if k != "request_url"
    }
    return {**manifest, "features": features, "settings": settings}


def test_http_manifest_turns_socket_mode_off_and_sets_every_request_url() -> None:
    settings = HTTP["settings"]
    assert SOCKET["settings"]["socket_mode_enabled"] is True
    assert settings["socket_mode_enabled"] is False
    assert settings["event_subscriptions"]["request_url"] == REQUEST_URL
    assert settings["interactivity"]["request_url"] == REQUEST_URL
    assert settings["interactivity"]["is_enabled"] is True
    assert [c["url"] for c in HTTP["features"]["slash_commands"]] == [REQUEST_URL]


def test_the_two_manifests_agree_on_scopes_events_and_commands() -> None:
    assert HTTP["oauth_config"] == SOCKET["oauth_config"]
    assert (
        HTTP["settings"]["event_subscriptions"]["bot_events"]
        == SOCKET["settings"]["event_subscriptions"]["bot_events"]
    )
    assert HTTP["features"].get("shortcuts") == SOCKET["features"].get("shortcuts")
    assert without_urls(HTTP) == without_urls(SOCKET)
