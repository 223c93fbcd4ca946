"""Routing is a pure function: rules, the default route, the thread rule, requester DMs."""

from __future__ import annotations

from typing import Any

from gateways import parse_messaging_config
from gateways.routing import Route, route_event
from tests.gateway_harness import ORIGIN, ORIGIN_CHANNEL, REQUESTER

DESTS: dict[str, Any] = {
    "slack.ml-ops": {"provider": "slack", "channel": "C0OPS", "allow_auto_events": True},
    "slack.oncall": {
        "provider": "slack",
        "channel": "C0ONCALL",
        "allow_auto_events": True,
        "mention_requester": True,
    },
    "slack.here": {"provider": "slack", "channel": ORIGIN_CHANNEL, "allow_auto_events": True},
    "ci": {"provider": "webhook", "url": "https://ci.example/hook", "allow_auto_events": True},
    "quiet": {"provider": "webhook", "url": "https://q.example/hook"},
}
ENV = {"SLACK_BOT_TOKEN": "xoxb-test"}


def _cfg(**extra: Any):
    return parse_messaging_config({"enabled": True, "destinations": DESTS, **extra}, env=ENV)


def _names(routes: list[Route]) -> list[str]:
    return [r.destination for r in routes]


def test_default_route_sends_auto_events_to_auto_destinations_except_the_thread() -> None:
    cfg = _cfg()
    for etype, severity in [
        ("turn_complete", "success"),
        ("error", "error"),
        ("approval_required", "warning"),
        ("job_finished", "success"),
    ]:
        routes, skipped = route_event(cfg, etype, severity, ORIGIN, REQUESTER)
        assert _names(routes) == ["slack.ml-ops", "slack.oncall", "ci"], etype
        assert [s.destination for s in skipped] == ["slack.here"]
    # job_progress is not an auto event by default
    assert route_event(cfg, "job_progress", "warning", ORIGIN, REQUESTER)[0] == []


def test_rules_match_event_severity_and_origin_channel() -> None:
    cfg = _cfg(
        rules=[
            {"events": ["job_finished"], "destinations": ["slack.ml-ops"]},
            {
                "events": ["error", "job_finished"],
                "severity": ["error"],
                "destinations": ["slack.oncall"],
            },
            {"events": ["turn_complete"], "channels": ["C0OTHER"], "destinations": ["ci"]},
            {"events": ["job_finished"], "destinations": ["dm:requester"]},
        ]
    )
    ok = route_event(cfg, "job_finished", "success", ORIGIN, REQUESTER)[0]
    assert _names(ok) == ["slack.ml-ops", "dm:requester"]
    failed = route_event(cfg, "job_finished", "error", ORIGIN, REQUESTER)[0]
    assert _names(failed) == ["slack.ml-ops", "slack.oncall", "dm:requester"]
    assert [r.mention_requester for r in failed] == [False, True, False]
    assert route_event(cfg, "turn_complete", "success", ORIGIN, REQUESTER)[0] == []
    other = {**ORIGIN, "channel": "C0OTHER"}
    assert _names(route_event(cfg, "turn_complete", "success", other, REQUESTER)[0]) == ["ci"]


def test_rule_mention_overrides_and_merges() -> None:
    cfg = _cfg(
        rules=[
            {"events": ["error"], "destinations": ["slack.oncall"], "mention_requester": False},
            {"events": ["error"], "destinations": ["slack.ml-ops"], "mention_requester": True},
        ]
    )
    routes = route_event(cfg, "error", "error", ORIGIN, REQUESTER)[0]
    assert routes == [Route("slack.oncall", False), Route("slack.ml-ops", True)]


def test_thread_rule_and_broadcast() -> None:
    cfg = _cfg(rules=[{"events": ["job_finished"], "destinations": ["slack.here"]}])
    routes, skipped = route_event(cfg, "job_finished", "success", ORIGIN, REQUESTER)
    assert routes == [] and skipped[0].reason == "already shown in the session's own thread"
    # a session started elsewhere (or in the CLI) is not affected
    cli = {"platform": "cli"}
    assert _names(route_event(cfg, "job_finished", "success", cli, None)[0]) == ["slack.here"]
    cfg = _cfg(
        rules=[{"events": ["job_finished"], "destinations": ["slack.here"], "broadcast": True}]
    )
    assert _names(route_event(cfg, "job_finished", "success", ORIGIN, REQUESTER)[0]) == [
        "slack.here"
    ]


def test_requester_dm_needs_a_requester() -> None:
    cfg = _cfg(rules=[{"events": ["job_finished"], "destinations": ["dm:requester"]}])
    routes, skipped = route_event(cfg, "job_finished", "success", {"platform": "cli"}, None)
    assert routes == [] and skipped[0].reason == "the session has no requester"
