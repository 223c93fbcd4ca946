"""The ``messaging`` section: destinations, routing rules and delivery settings, validated.

The engine keeps ``Config.messaging`` as a raw dict so it never learns this shape; this module
turns it into typed models and fails startup with a key path ("messaging.rules[1].destinations[0]:
…") for every mistake a person can make at 3 a.m.: an unknown provider, an unknown event type, a
rule naming a destination that does not exist, a Slack destination without a token.

The shape keeps upstream ml-intern's (``enabled``, ``auto_event_types``, ``destinations`` with
``provider``/``allow_agent_tool``/``allow_auto_events``) and adds ``rules``, ``collapse_window_s``,
``thread_events`` and ``delivery``. ``${VAR}`` substitution has already happened in
:func:`agent_core.config.load_config`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent_core.config import ConfigError
from agent_core.redact import register_secret

# Event types this package knows how to render. ``job_progress`` is notified only when it
# carries a ``warning`` (NaN loss, stall …): routine progress would be noise.
NOTIFIABLE_EVENTS: tuple[str, ...] = (
    "turn_complete",
    "error",
    "approval_required",
    "job_finished",
    "job_progress",
    "job_health",
)
DEFAULT_AUTO_EVENTS: tuple[str, ...] = (
    "approval_required",
    "error",
    "turn_complete",
    "job_finished",
    "job_health",
)
# Events the Slack bot already renders inside the session's own thread. A Slack destination
# pointing at the thread's channel does not repeat them unless a rule says ``broadcast``.
DEFAULT_THREAD_EVENTS: tuple[str, ...] = NOTIFIABLE_EVENTS
SEVERITIES: tuple[str, ...] = ("info", "success", "warning", "error")
PROVIDERS: tuple[str, ...] = ("slack", "slack_webhook", "webhook")

# A rule may name this pseudo-destination: a Slack DM to the session's requester, sent with
# the bot's token (``SLACK_BOT_TOKEN`` unless the service is given another).
DM_REQUESTER = "dm:requester"

_NAME = re.compile(r"^[a-z0-9._-]+$")

Severity = Literal["info", "success", "warning", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _DestinationBase(_Model):
    """Settings every provider shares (upstream names)."""

    allow_agent_tool: bool = False
    allow_auto_events: bool = False
    mention_requester: bool = False


class SlackDestination(_DestinationBase):
    """``chat.postMessage`` with a bot token to a channel id (``C…``) or a user (``U…``, as a DM)."""

    provider: Literal["slack"] = "slack"
    channel: str
    token: str | None = None  # None → the bot's own token
    username: str | None = None  # needs chat:write.customize
    icon_emoji: str | None = None

    @field_validator("channel")
    @classmethod
    def _channel_not_blank(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty (a channel id such as C0123ABCD, or a user id)")
        return v


class SlackWebhookDestination(_DestinationBase):
    """A Slack incoming-webhook URL. ``channel`` (optional) is the id the webhook posts into."""

    provider: Literal["slack_webhook"] = "slack_webhook"
    url: str
    channel: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)


class WebhookDestination(_DestinationBase):
    """JSON POST to any URL, optionally signed (see :mod:`gateways.providers.webhook`)."""

    provider: Literal["webhook"] = "webhook"
    url: str
    secret: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty (omit it to send unsigned requests)")
        return v


Destination = SlackDestination | SlackWebhookDestination | WebhookDestination
_PROVIDER_MODELS: dict[str, type[_DestinationBase]] = {
    "slack": SlackDestination,
    "slack_webhook": SlackWebhookDestination,
    "webhook": WebhookDestination,
}


def _http_url(v: str) -> str:
    v = v.strip()
    if not re.match(r"^https?://[^\s/]+", v):
        raise ValueError(f"must be an http(s) URL, got {v!r}")
    return v


class Rule(_Model):
    """Route matching events to destinations. All matching rules apply (union)."""

    events: Annotated[list[str], Field(min_length=1)]
    destinations: Annotated[list[str], Field(min_length=1)]
    severity: list[Severity] | None = None  # None → any severity
    channels: list[str] | None = None  # origin channel ids; None → any origin
    mention_requester: bool | None = None  # None → the destination's own setting
    broadcast: bool = False  # post even into the origin's channel (top level, not the thread)


class DeliveryConfig(_Model):
    """Retry and shutdown timing. Tests shrink these; production keeps the defaults."""

    max_attempts: int = Field(6, ge=1, le=50)
    backoff_base_s: float = Field(2.0, ge=0)
    backoff_max_s: float = Field(300.0, ge=0)
    retry_after_cap_s: float = Field(900.0, ge=0)
    timeout_s: float = Field(10.0, gt=0)
    drain_timeout_s: float = Field(5.0, ge=0)
    tool_wait_s: float = Field(15.0, ge=0)
    poll_max_s: float = Field(30.0, gt=0)
    sent_retention_days: float = Field(7.0, ge=0)
    # How long a worker's claim on a row holds before another replica may redeliver it
    # (null: timeout_s × 4 + 60 s, beyond the longest a delivery can take).
    claim_ttl_s: float | None = Field(None, gt=0)


class MessagingConfig(_Model):
    enabled: bool = False
    auto_event_types: list[str] = Field(default_factory=lambda: list(DEFAULT_AUTO_EVENTS))
    destinations: dict[str, Destination] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    collapse_window_s: float = Field(600.0, ge=0)
    thread_events: list[str] = Field(default_factory=lambda: list(DEFAULT_THREAD_EVENTS))
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    # The token for requester DMs and thread permalinks: ``messaging.bot_token``, else the
    # bot's own token, else ``SLACK_BOT_TOKEN`` (resolved at parse time).
    bot_token: str | None = None

    def destination(self, name: str) -> Destination | None:
        return self.destinations.get(name)

    def uses_requester_dm(self) -> bool:
        return any(DM_REQUESTER in r.destinations for r in self.rules)


def _prefix_errors(prefix: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        path = f"{prefix}.{loc}" if loc else prefix
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        elif err["type"] == "missing":
            msg = "required"
        out.append(f"{path}: {msg}")
    return out


def _event_list_errors(path: str, values: list[str]) -> list[str]:
    errors = []
    for i, name in enumerate(values):
        if name not in NOTIFIABLE_EVENTS:
            errors.append(
                f"{path}[{i}]: unknown event type {name!r} "
                f"(expected one of {', '.join(NOTIFIABLE_EVENTS)})"
            )
    return errors


def parse_messaging_config(
    raw: Mapping[str, Any] | None,
    *,
    env: Mapping[str, str] | None = None,
    bot_token: str | None = None,
) -> MessagingConfig:
    """Validate ``Config.messaging``. Raises :class:`ConfigError` listing every problem.

    ``bot_token`` is the Slack bot's own token (the bot passes it); otherwise
    ``SLACK_BOT_TOKEN`` from ``env`` is used for Slack destinations without their own token,
    for requester DMs and for thread permalinks.
    """
    environ = os.environ if env is None else env
    data = dict(raw or {})
    errors: list[str] = []
    token = data.pop("bot_token", None) or bot_token or environ.get("SLACK_BOT_TOKEN") or None

    raw_dests = data.pop("destinations", None) or {}
    destinations: dict[str, Destination] = {}
    if not isinstance(raw_dests, Mapping):
        errors.append("messaging.destinations: must be a mapping of name → destination settings")
        raw_dests = {}
    for name, settings in raw_dests.items():
        path = f"messaging.destinations.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            errors.append(
                f"{path}: invalid destination name {name!r} "
                "(use lowercase letters, digits, '.', '_' and '-')"
            )
            continue
        if not isinstance(settings, Mapping):
            errors.append(f"{path}: must be a mapping with a 'provider' key")
            continue
        provider = settings.get("provider", "slack")
        model = _PROVIDER_MODELS.get(provider) if isinstance(provider, str) else None
        if model is None:
            errors.append(
                f"{path}.provider: unknown provider {provider!r} "
                f"(expected one of {', '.join(PROVIDERS)})"
            )
            continue
        try:
            dest = model.model_validate(dict(settings))
        except ValidationError as exc:
            errors.extend(_prefix_errors(path, exc))
            continue
        if isinstance(dest, SlackDestination) and not (dest.token or token):
            errors.append(
                f"{path}.token: missing (give the destination a token or set SLACK_BOT_TOKEN)"
            )
            continue
        destinations[name] = dest  # type: ignore[assignment]

    raw_rules = data.pop("rules", None) or []
    rules: list[Rule] = []
    if not isinstance(raw_rules, list):
        errors.append("messaging.rules: must be a list of rules")
        raw_rules = []
    for i, raw_rule in enumerate(raw_rules):
        path = f"messaging.rules[{i}]"
        try:
            rule = Rule.model_validate(raw_rule)
        except ValidationError as exc:
            errors.extend(_prefix_errors(path, exc))
            continue
        errors.extend(_event_list_errors(f"{path}.events", rule.events))
        for j, dest_name in enumerate(rule.destinations):
            dpath = f"{path}.destinations[{j}]"
            if dest_name == DM_REQUESTER:
                if not token:
                    errors.append(
                        f"{dpath}: {DM_REQUESTER!r} needs the Slack bot token (set SLACK_BOT_TOKEN)"
                    )
                continue
            if dest_name not in destinations:
                if dest_name in raw_dests:
                    continue  # already reported under messaging.destinations
                known = ", ".join(sorted(destinations)) or "none configured"
                errors.append(
                    f"{dpath}: unknown destination {dest_name!r} (known: {known}; "
                    f"or {DM_REQUESTER!r})"
                )
            elif not destinations[dest_name].allow_auto_events:
                errors.append(
                    f"{dpath}: destination {dest_name!r} has allow_auto_events false "
                    "(set it to true to route events there)"
                )
        rules.append(rule)

    try:
        cfg = MessagingConfig.model_validate({**data, "bot_token": token})
    except ValidationError as exc:
        errors.extend(_prefix_errors("messaging", exc))
        raise ConfigError("; ".join(errors)) from None
    errors.extend(_event_list_errors("messaging.auto_event_types", cfg.auto_event_types))
    errors.extend(_event_list_errors("messaging.thread_events", cfg.thread_events))
    if cfg.enabled and not destinations and not rules and not errors:
        errors.append("messaging.destinations: enabled is true but no destination is configured")
    if errors:
        raise ConfigError("; ".join(errors))
    cfg.auto_event_types = list(dict.fromkeys(cfg.auto_event_types))
    register_secret(token)
    for dest in destinations.values():
        register_secret(getattr(dest, "token", None))
        register_secret(getattr(dest, "secret", None))
        if isinstance(dest, SlackWebhookDestination):  # the URL's last part is its secret
            register_secret(dest.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
    cfg.destinations = destinations
    cfg.rules = rules
    return cfg
