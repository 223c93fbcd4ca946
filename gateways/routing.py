"""Which destinations hear about an event — a pure function of config, event and origin.

With no ``rules``, upstream's behaviour: every event type in ``auto_event_types`` goes to every
destination with ``allow_auto_events``. With rules, each rule that matches (event type, and
optionally severity and the channel the session started in) adds its destinations; a
destination named by several rules is notified once, with ``mention_requester`` /
``broadcast`` OR-ed together.

The thread rule: the Slack bot already shows turn results, errors, approvals and job updates in
the session's own thread. A Slack destination pointing at that same channel would only repeat
them to the people watching, so it is skipped — unless the rule says ``broadcast: true``, in which
case a top-level message is posted in the channel (never a reply in the thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import DM_REQUESTER, MessagingConfig


@dataclass(frozen=True)
class Route:
    destination: str
    mention_requester: bool = False
    broadcast: bool = False


@dataclass(frozen=True)
class Skipped:
    destination: str
    reason: str


def match_routes(
    cfg: MessagingConfig, event_type: str, severity: str, origin: dict[str, Any]
) -> list[Route]:
    """Routes before the thread rule, in configuration order, one per destination."""
    routes: dict[str, Route] = {}
    if not cfg.rules:
        if event_type in cfg.auto_event_types:
            for name, dest in cfg.destinations.items():
                if dest.allow_auto_events:
                    routes[name] = Route(name, dest.mention_requester)
        return list(routes.values())
    channel = origin.get("channel")
    for rule in cfg.rules:
        if event_type not in rule.events:
            continue
        if rule.severity is not None and severity not in rule.severity:
            continue
        if rule.channels is not None and channel not in rule.channels:
            continue
        for name in rule.destinations:
            dest = cfg.destinations.get(name)
            if name != DM_REQUESTER and dest is None:
                continue  # rejected at config time; defensive
            default_mention = dest.mention_requester if dest is not None else False
            mention = default_mention if rule.mention_requester is None else rule.mention_requester
            prev = routes.get(name)
            if prev is not None:
                mention, broadcast = (
                    prev.mention_requester or mention,
                    prev.broadcast or rule.broadcast,
                )
            else:
                broadcast = rule.broadcast
            routes[name] = Route(name, mention, broadcast)
    return list(routes.values())


def destination_channel(cfg: MessagingConfig, name: str) -> str | None:
    dest = cfg.destinations.get(name)
    return getattr(dest, "channel", None) if dest is not None else None


def apply_thread_rule(
    cfg: MessagingConfig,
    routes: list[Route],
    event_type: str,
    origin: dict[str, Any],
    requester: str | None,
) -> tuple[list[Route], list[Skipped]]:
    """Drop routes that would duplicate the origin thread, and DMs with nobody to DM."""
    kept: list[Route] = []
    skipped: list[Skipped] = []
    origin_channel = origin.get("channel")
    for r in routes:
        if r.destination == DM_REQUESTER:
            if not requester:
                skipped.append(Skipped(r.destination, "the session has no requester"))
                continue
            kept.append(r)
            continue
        channel = destination_channel(cfg, r.destination)
        if (
            origin_channel
            and channel == origin_channel
            and event_type in cfg.thread_events
            and not r.broadcast
        ):
            skipped.append(Skipped(r.destination, "already shown in the session's own thread"))
            continue
        kept.append(r)
    return kept, skipped


def route_event(
    cfg: MessagingConfig,
    event_type: str,
    severity: str,
    origin: dict[str, Any],
    requester: str | None,
) -> tuple[list[Route], list[Skipped]]:
    return apply_thread_rule(
        cfg, match_routes(cfg, event_type, severity, origin), event_type, origin, requester
    )
