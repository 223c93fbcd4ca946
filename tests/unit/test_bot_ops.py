"""HTTP mode's settings and tokens, and the metrics fed from engine events (no sockets)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent_core.config import ConfigError
from agent_core.events import Event, EventType
from bot.ops.metrics import BotMetrics
from bot.ops.settings import load_http_settings, load_ops_settings
from bot.settings import load_tokens, token_problems
from bot.slack.transport import HttpTransport, TransportError
from tests.engine_harness import make_config

SECRET = "8f14e45fceea167a5a36dedd4bea2543"


def samples(metrics: BotMetrics) -> dict[tuple[str, tuple], float]:
    page = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }


def test_http_mode_needs_the_signing_secret_not_the_app_token() -> None:
    problems = token_problems(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "  "}, http=True
    )
    assert len(problems) == 1
    assert "SLACK_SIGNING_SECRET is not set" in problems[0] and "Signing Secret" in problems[0]
    assert (
        token_problems({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": SECRET}, http=True)
        == []
    )
    tokens = load_tokens(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": f" {SECRET}\n"}, http=True
    )
    assert tokens.signing_secret == SECRET and tokens.app_token == ""


def test_socket_mode_ignores_a_signing_secret_and_still_needs_the_app_token() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": SECRET}
    assert any("SLACK_APP_TOKEN is not set" in p for p in token_problems(env))
    tokens = load_tokens({**env, "SLACK_APP_TOKEN": "xapp-1"})
    assert tokens.signing_secret == ""


def test_http_settings_default_port_and_port_from_the_environment() -> None:
    config = make_config()
    assert load_http_settings(config, {}).port == 3000
    assert load_http_settings(config, {}).path == "/slack/events"
    assert load_http_settings(config, {"PORT": "8080"}).port == 8080
    config = make_config(http={"port": 4000, "host": "127.0.0.1"})
    assert load_http_settings(config, {}).port == 4000
    assert load_http_settings(config, {"PORT": "8081"}).port == 8081  # PORT wins


@pytest.mark.parametrize(
    ("section", "env", "expected"),
    [
        ({"prot": 3000}, {}, "http.prot: unknown key"),
        ({"port": 70000}, {}, "http.port:"),
        ({}, {"PORT": "eighty"}, "PORT: 'eighty' is not a port number"),
    ],
)
def test_bad_http_settings_name_the_key(section, env, expected) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_http_settings(make_config(http=section), env)


def test_ops_port_is_off_unless_set() -> None:
    assert load_ops_settings(make_config()).port is None
    assert load_ops_settings(make_config(ops={"port": 9100})).port == 9100
    with pytest.raises(ConfigError, match="ops.port"):
        load_ops_settings(make_config(ops={"port": -1}))


def test_http_transport_refuses_a_blank_secret() -> None:
    with pytest.raises(TransportError, match="SLACK_SIGNING_SECRET"):
        HttpTransport(" ", load_http_settings(make_config(), {}))


async def test_metrics_from_engine_events() -> None:
    metrics = BotMetrics("http")
    for event_type, data in [
        (EventType.PROCESSING, {}),
        (
            EventType.LLM_CALL,
            {
                "model": "openai/gpt-4o-mini",
                "latency_ms": 1500.0,
                "prompt_tokens": 1200,
                "completion_tokens": 80,
                "cost_usd": 0.002,
            },
        ),
        (EventType.TURN_COMPLETE, {}),
        (EventType.PROCESSING, {}),
        (EventType.ERROR, {"error": "There is no pending approval to answer.", "kind": "approval"}),
        (EventType.ERROR, {"error": "context window exceeded", "kind": "context_overflow"}),
        (EventType.ERROR, {"error": "Model not changed: not allowed.", "kind": "model"}),
        (EventType.JOB_FINISHED, {"job_id": "j1", "cost_usd": 1.25}),
        (EventType.JOB_FINISHED, {"job_id": "j2", "cost_usd": None}),
    ]:
        await metrics.on_event(Event("s1", 1, event_type.value, data))
    got = samples(metrics)
    model = (("model", "openai/gpt-4o-mini"),)
    assert got[("ml_intern_turns_started_total", ())] == 2
    assert got[("ml_intern_turns_finished_total", (("outcome", "completed"),))] == 1
    assert got[("ml_intern_turns_finished_total", (("outcome", "failed"),))] == 1
    assert got[("ml_intern_errors_total", (("kind", "context_overflow"),))] == 1
    assert got[("ml_intern_errors_total", (("kind", "approval"),))] == 1  # counted as an error,
    assert got[("ml_intern_errors_total", (("kind", "model"),))] == 1  # but no turn ended by them
    assert got[("ml_intern_llm_call_seconds_sum", model)] == 1.5
    assert got[("ml_intern_llm_tokens_total", (("kind", "prompt"), *model))] == 1200
    assert got[("ml_intern_llm_tokens_total", (("kind", "completion"), *model))] == 80
    assert got[("ml_intern_llm_spend_usd_total", model)] == pytest.approx(0.002)
    assert got[("ml_intern_job_spend_usd_total", ())] == 1.25


def test_each_runtime_has_its_own_registry() -> None:
    first, second = BotMetrics("socket_mode"), BotMetrics("http")
    first.observe_slack_call("chat.postMessage", 0.02, "ratelimited")
    assert (
        samples(first)[
            (
                "ml_intern_slack_api_errors_total",
                (("error", "ratelimited"), ("method", "chat.postMessage")),
            )
        ]
        == 1
    )
    assert not any(name == "ml_intern_slack_api_errors_total" for name, _ in samples(second))


def test_check_http_names_the_missing_secret_and_bad_keys(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"tools": {"web_search_provider": "none"}, "http": {"prot": 1}}))
    script = Path(sys.executable).parent / "ml-intern-slack"  # the installed console script
    env = {
        "ML_INTERN_CONFIG": str(config),
        "SLACK_BOT_TOKEN": "xoxb-check-token",
        "PORT": "80a",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    proc = subprocess.run(
        [str(script), "check", "--http"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "SLACK_SIGNING_SECRET is not set" in proc.stderr
    assert "PORT: '80a' is not a port number" in proc.stderr
    assert "SLACK_APP_TOKEN" not in proc.stderr
