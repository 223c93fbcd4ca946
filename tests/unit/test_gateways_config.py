"""``messaging`` validation: every mistake fails startup with its key path and what to do."""

from __future__ import annotations

from typing import Any

import pytest

from agent_core.config import Config, ConfigError
from agent_core.store import Store
from gateways import NotificationService, parse_messaging_config
from gateways.config import SlackDestination, WebhookDestination


def _err(raw: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_messaging_config(raw, env=env or {})
    return str(info.value)


def test_unknown_provider_names_the_key_path() -> None:
    msg = _err({"destinations": {"slack.ml-ops": {"provider": "x", "channel": "C1"}}})
    assert msg == (
        "messaging.destinations.slack.ml-ops.provider: unknown provider 'x' "
        "(expected one of slack, slack_webhook, webhook)"
    )


def test_unknown_event_type_in_auto_events_and_rules() -> None:
    msg = _err(
        {
            "auto_event_types": ["turn_complete", "job_done"],
            "destinations": {"ops": {"provider": "webhook", "url": "http://h/x"}},
            "rules": [{"events": ["error", "boom"], "destinations": ["ops"]}],
        }
    )
    assert "messaging.auto_event_types[1]: unknown event type 'job_done'" in msg
    assert "messaging.rules[0].events[1]: unknown event type 'boom'" in msg
    assert "expected one of turn_complete, error, approval_required, job_finished" in msg


def test_rule_naming_a_missing_destination() -> None:
    msg = _err(
        {
            "destinations": {
                "ops": {"provider": "webhook", "url": "http://h/x", "allow_auto_events": True}
            },
            "rules": [{"events": ["error"], "destinations": ["ops", "slack.oncall"]}],
        }
    )
    assert msg.startswith(
        "messaging.rules[0].destinations[1]: unknown destination 'slack.oncall' (known: ops"
    )


def test_rule_to_destination_without_auto_events_is_explained() -> None:
    msg = _err(
        {
            "destinations": {"ops": {"provider": "webhook", "url": "http://h/x"}},
            "rules": [{"events": ["error"], "destinations": ["ops"]}],
        }
    )
    assert (
        "messaging.rules[0].destinations[0]: destination 'ops' has allow_auto_events false" in msg
    )


def test_missing_token_and_missing_channel() -> None:
    msg = _err({"destinations": {"slack.ops": {"provider": "slack", "channel": "C1"}}})
    assert msg == (
        "messaging.destinations.slack.ops.token: missing "
        "(give the destination a token or set SLACK_BOT_TOKEN)"
    )
    msg = _err({"destinations": {"slack.ops": {"provider": "slack", "token": "xoxb-1"}}})
    assert msg == "messaging.destinations.slack.ops.channel: required"


def test_requester_dm_needs_the_bot_token() -> None:
    msg = _err({"rules": [{"events": ["job_finished"], "destinations": ["dm:requester"]}]})
    assert msg == (
        "messaging.rules[0].destinations[0]: 'dm:requester' needs the Slack bot token "
        "(set SLACK_BOT_TOKEN)"
    )


def test_bad_names_urls_keys_and_severities() -> None:
    msg = _err(
        {
            "destinations": {
                "Slack Ops": {"provider": "slack", "channel": "C1", "token": "t"},
                "hook": {"provider": "webhook", "url": "ftp://nope", "colour": "red"},
            },
            "rules": [{"events": ["error"], "destinations": [], "severity": ["fatal"]}],
            "collapse_window_s": -1,
        }
    )
    assert "messaging.destinations.Slack Ops: invalid destination name 'Slack Ops'" in msg
    assert "messaging.destinations.hook.url: Value error, must be an http(s) URL" in msg
    assert "messaging.destinations.hook.colour: unknown key (check the spelling)" in msg
    assert "messaging.rules[0].destinations: List should have at least 1 item" in msg
    assert "messaging.rules[0].severity.0: Input should be 'info', 'success'" in msg
    assert "messaging.collapse_window_s: Input should be greater than or equal to 0" in msg


def test_enabled_without_destinations() -> None:
    assert _err({"enabled": True}) == (
        "messaging.destinations: enabled is true but no destination is configured"
    )


def test_valid_config_resolves_tokens_and_defaults() -> None:
    cfg = parse_messaging_config(
        {
            "enabled": True,
            "destinations": {
                "slack.ml-ops": {
                    "provider": "slack",
                    "channel": "C0OPS",
                    "allow_auto_events": True,
                },
                "ci": {"provider": "webhook", "url": "https://ci.example/hook", "secret": "s3cret"},
            },
            "rules": [
                {"events": ["job_finished"], "destinations": ["slack.ml-ops", "dm:requester"]}
            ],
        },
        env={"SLACK_BOT_TOKEN": "xoxb-from-env"},
    )
    assert isinstance(cfg.destinations["slack.ml-ops"], SlackDestination)
    assert isinstance(cfg.destinations["ci"], WebhookDestination)
    assert cfg.bot_token == "xoxb-from-env"
    assert cfg.auto_event_types == [
        "approval_required",
        "error",
        "turn_complete",
        "job_finished",
        "job_health",
    ]
    assert cfg.uses_requester_dm()


def test_shipped_default_section_is_valid() -> None:
    from agent_core.config import default_config_dict

    cfg = parse_messaging_config(default_config_dict()["messaging"], env={})
    assert cfg.enabled is False


async def test_service_from_engine_config_raises_config_error(tmp_path) -> None:
    config = Config.model_validate(
        {"model_name": "m", "messaging": {"destinations": {"x": {"provider": "email"}}}}
    )
    store = await Store.open(tmp_path / "db")
    try:
        with pytest.raises(ConfigError, match=r"messaging\.destinations\.x\.provider"):
            NotificationService.from_config(config, store, env={})
    finally:
        await store.close()


def test_shipped_example_is_valid() -> None:
    from pathlib import Path

    from agent_core.config import load_config

    example = Path(__file__).resolve().parents[2] / "configs" / "messaging.example.yaml"
    env = {
        "ONCALL_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/abc",
        "ML_INTERN_WEBHOOK_SECRET": "whsec-example-123456",
        "SLACK_BOT_TOKEN": "xoxb-example",
    }
    config = load_config(example, env=env, load_env_file=False)
    cfg = parse_messaging_config(config.messaging, env=env)
    assert sorted(cfg.destinations) == ["ci", "slack.ml-ops", "slack.oncall"]
    assert len(cfg.rules) == 4 and cfg.uses_requester_dm()
