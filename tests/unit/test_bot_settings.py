"""The ``slack`` config section and the tokens: defaults, errors that name the key, checks."""

from __future__ import annotations

import pytest

from agent_core.config import ConfigError
from bot.settings import (
    check_slack_settings,
    load_tokens,
    parse_slack_settings,
    token_problems,
)
from tests.engine_harness import make_config


def test_defaults() -> None:
    s = parse_slack_settings({})
    assert s.allowed_users == [] and s.allowed_channels == []
    assert s.seed_thread_messages == 20 and s.progress_edit_interval_s == 1.0
    assert s.reactions.received == "eyes" and s.dedupe_ttl_s >= 3600


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"allowed_users": ["U123ABC", "bob"]},
            "slack.allowed_users[1]: 'bob' is not a Slack user id",
        ),
        (
            {"allowed_channels": ["#general"]},
            "slack.allowed_channels[0]: '#general' is not a Slack channel id",
        ),
        ({"approvers": {"gpu_job": ["U1X", "nope"]}}, "slack.approvers.gpu_job[1]: 'nope'"),
        ({"allowed_userz": []}, "slack.allowed_userz: unknown key"),
        ({"seed_thread_messages": -1}, "slack.seed_thread_messages:"),
        ({"dedupe_ttl_s": 60}, "slack.dedupe_ttl_s:"),
        ({"reactions": {"done": "not an emoji!"}}, "slack.reactions.done:"),
    ],
)
def test_errors_name_the_key(raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_slack_settings(raw)
    assert expected in str(err.value)


def test_approvers_inherit_default_and_empty_means_requester_only() -> None:
    s = parse_slack_settings(
        {"approvers": {"default": ["U0LEAD"], "gpu_job": ["S0MLOPS"], "bash": []}}
    )
    assert s.approvers.for_class("gpu_job") == ["S0MLOPS"]
    assert s.approvers.for_class("cpu_job") == ["U0LEAD"]
    assert s.approvers.for_class("bash") == []
    assert s.approvers.for_class(None) == ["U0LEAD"]
    assert s.approvers.everyone() == {"U0LEAD", "S0MLOPS"}


def test_token_problems_say_how_to_fix_and_never_echo_tokens() -> None:
    problems = token_problems({})
    assert len(problems) == 3
    assert "SLACK_BOT_TOKEN is not set" in problems[0] and "OAuth & Permissions" in problems[0]
    assert "SLACK_APP_TOKEN is not set" in problems[1] and "connections:write" in problems[1]
    assert "manifest.yml" in problems[2]  # said once, not once per token
    secret = "xoxp-1234567890-secret"
    problems = token_problems({"SLACK_BOT_TOKEN": secret, "SLACK_APP_TOKEN": "xoxb-wrong-kind"})
    assert "does not start with xoxb-" in problems[0] and "does not start with xapp-" in problems[1]
    assert all(secret not in p for p in problems)
    assert token_problems(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_API_BASE_URL": "ftp:x"}
    )


def test_load_tokens_and_base_url() -> None:
    tokens = load_tokens({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert tokens.api_base_url == "https://slack.com/api/"
    tokens = load_tokens(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_API_BASE_URL": "http://127.0.0.1:9/api",
        }
    )
    assert tokens.api_base_url == "http://127.0.0.1:9/api/"
    with pytest.raises(ConfigError):
        load_tokens({"SLACK_BOT_TOKEN": "xoxb-1"})


def test_check_combines_tokens_and_section() -> None:
    config = make_config(slack={"allowed_users": ["x"]})
    problems = check_slack_settings(config, env={"SLACK_BOT_TOKEN": "xoxb-1"})
    assert any("SLACK_APP_TOKEN" in p for p in problems)
    assert any(p.startswith("slack.allowed_users[0]") for p in problems)
    assert (
        check_slack_settings(
            make_config(), env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
        )
        == []
    )
