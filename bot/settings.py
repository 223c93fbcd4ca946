"""The Slack gateway's settings: the ``slack`` config section and the tokens.

Socket Mode needs the bot token and the app-level token; HTTP mode (``serve --http``) needs
the bot token and the signing secret instead (Slack signs every request it sends; the app
token is unused).

``Config.slack`` is a plain dict in the engine (the engine must not learn Slack's shape); it
is validated here, once, at startup. Every problem is a :class:`ConfigError` naming the key
path and how to fix it, because "invalid config" without a key is useless at 3 a.m.

Who may decide an approval (``approvers``) — documented here because it is a policy:

* The session's requester (the person whose mention started the thread) may always decide,
  unless ``requester_may_approve`` is false.
* Anyone listed for the call's approval class (``gpu_job``, ``cpu_job``, ``scheduled_job``,
  ``repo_write``, ``repo_destructive``, ``bash``, ``mcp``) may decide. A class left unset
  inherits ``approvers.default``; a class set to ``[]`` means "the requester only".
* Entries are Slack user ids (``U…``/``W…``) or user-group ids (``S…``, resolved with
  ``usergroups.users.list``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent_core.config import Config, ConfigError

DEFAULT_API_BASE_URL = "https://slack.com/api/"
MANIFEST_HINT = (
    "create the Slack app from manifest.yml (api.slack.com/apps → Create New App → "
    "From a manifest), install it to your workspace"
)

_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]+$")
_REACTION = re.compile(r"^[a-z0-9_+'\-]*$")


def _check_ids(values: list[str], pattern: re.Pattern[str], what: str, how: str) -> list[str]:
    out = []
    for i, raw in enumerate(values):
        value = str(raw).strip()
        if not pattern.match(value):
            raise ValueError(f"[{i}]: {value!r} is not a Slack {what}; {how}")
        out.append(value)
    return out


_USER_HOW = "use the member id (profile → ⋯ → Copy member ID), e.g. U012AB3CD"
_CHANNEL_HOW = "use the channel id (channel details → bottom of the About tab), e.g. C012AB3CD"
_APPROVER_HOW = "use a member id (U…/W…) or a user-group id (S…)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApproverSettings(_Strict):
    """Extra deciders per approval class (see the module docstring for the policy)."""

    default: list[str] = Field(default_factory=list)
    gpu_job: list[str] | None = None
    cpu_job: list[str] | None = None
    scheduled_job: list[str] | None = None
    repo_write: list[str] | None = None
    repo_destructive: list[str] | None = None
    bash: list[str] | None = None
    mcp: list[str] | None = None

    @field_validator("*")
    @classmethod
    def _ids(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        ok = re.compile(f"{_USER_ID.pattern}|{_GROUP_ID.pattern}")
        return _check_ids(v, ok, "user or user-group id", _APPROVER_HOW)

    def for_class(self, approval_class: str | None) -> list[str]:
        """The configured deciders for a class (the class list, else ``default``)."""
        specific = getattr(self, approval_class or "", None) if approval_class else None
        if isinstance(specific, list):
            return specific
        return list(self.default)

    def everyone(self) -> set[str]:
        ids: set[str] = set(self.default)
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, list):
                ids.update(value)
        return ids


class ReactionSettings(_Strict):
    """Emoji names (without colons) used as feedback on the user's message; "" disables one."""

    received: str = "eyes"
    queued: str = "hourglass_flowing_sand"
    done: str = "white_check_mark"
    failed: str = "warning"
    stopped: str = "octagonal_sign"

    @field_validator("*")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip().strip(":")
        if not _REACTION.match(v):
            raise ValueError(f"{v!r} is not an emoji name (letters, digits, _ + - only)")
        return v


class FileSettings(_Strict):
    """Files people share with the bot (bot.conversation.attachments): what is downloaded
    into the session's workspace and how much of it the model sees inline."""

    enabled: bool = True
    # Shown whole up to these sizes; they stay under the engine's max_user_message_chars
    # (40,000), so a file is never clipped mid-way: larger ones get a preview and a path.
    inline_kb: int = Field(24, ge=0, le=1024)  # one text file
    inline_total_kb: int = Field(32, ge=0, le=4096)  # per message, across its files
    preview_lines: int = Field(20, ge=1, le=500)
    max_file_mb: int = Field(512, ge=1)
    max_session_mb: int = Field(2048, ge=1)


class SlackSettings(_Strict):
    """The validated ``slack`` section of the configuration."""

    allowed_channels: list[str] = Field(default_factory=list)
    allowed_users: list[str] = Field(default_factory=list)
    approvers: ApproverSettings = Field(default_factory=ApproverSettings)
    requester_may_approve: bool = True
    seed_thread_messages: int = Field(20, ge=0, le=200)
    progress_edit_interval_s: float = Field(1.0, ge=0.0, le=60.0)
    # A turn without tool calls may finish before this; then no progress message is posted
    # at all (the reaction and the answer are enough). 0 → post at once.
    progress_delay_s: float = Field(2.0, ge=0.0, le=60.0)
    assistant_status: bool = True
    reactions: ReactionSettings = Field(default_factory=ReactionSettings)
    # Text longer than this is split into several messages on safe boundaries.
    message_chars: int = Field(3_500, ge=500, le=11_000)
    # Answers longer than this are uploaded as a file with a short preview.
    upload_threshold_chars: int = Field(20_000, ge=1_000, le=1_000_000)
    preview_chars: int = Field(1_500, ge=200, le=3_000)
    # Scripts on approval cards longer than this are attached as a file ("view full").
    script_preview_lines: int = Field(15, ge=3, le=60)
    dedupe_ttl_s: float = Field(86_400.0, ge=3_600.0)
    edits_per_minute: float = Field(50.0, gt=0)
    # chat.postMessage pacing per channel (Slack: ~1/s per channel, short bursts).
    posts_per_minute: float = Field(60.0, gt=0)
    refusal_text: str = (
        "Sorry, I'm not set up to work with you here. Ask a workspace admin to add you "
        "(or this channel) to my allow-list."
    )
    refusal_every_s: float = Field(86_400.0, ge=0.0)
    shutdown_grace_s: float = Field(10.0, ge=0.0, le=600.0)
    usergroup_cache_s: float = Field(300.0, ge=0.0)
    # Top-level DMs continue one conversation until "new" or this long without a message.
    dm_idle_hours: float = Field(12.0, ge=0.0, le=24 * 365)
    files: FileSettings = Field(default_factory=FileSettings)

    @field_validator("allowed_channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        return _check_ids(v, _CHANNEL_ID, "channel id", _CHANNEL_HOW)

    @field_validator("allowed_users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        return _check_ids(v, _USER_ID, "user id", _USER_HOW)


def parse_slack_settings(raw: Mapping[str, Any] | None) -> SlackSettings:
    """Validate a ``slack`` section; raises ConfigError("slack.<path>: <problem>")."""
    try:
        return SlackSettings.model_validate(dict(raw or {}))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"] if p != "*"
            )
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; see bot/settings.py for valid keys)"
            # A message that starts with "[i]:" carries its own list index.
            if msg.startswith("[") and "]:" in msg:
                index, _, msg = msg.partition(":")
                loc += index
                msg = msg.strip()
            problems.append(f"slack{loc}: {msg}")
        raise ConfigError("; ".join(problems)) from None


def load_slack_settings(config: Config) -> SlackSettings:
    return parse_slack_settings(config.slack)


class Tokens(BaseModel):
    """Where the gateway connects, read from the environment (never from a config file).
    ``app_token`` is empty in HTTP mode, ``signing_secret`` empty in Socket Mode."""

    bot_token: str
    app_token: str = ""
    api_base_url: str = DEFAULT_API_BASE_URL
    signing_secret: str = ""


def token_problems(env: Mapping[str, str] | None = None, *, http: bool = False) -> list[str]:
    """Missing or malformed tokens, each with how to fix it. Never echoes a token.

    ``http``: HTTP mode, where ``SLACK_SIGNING_SECRET`` replaces ``SLACK_APP_TOKEN``.
    """
    environ = os.environ if env is None else env
    problems: list[str] = []
    bot = environ.get("SLACK_BOT_TOKEN", "").strip()
    app = environ.get("SLACK_APP_TOKEN", "").strip()
    if http:
        app = "xapp-unused-in-http-mode"
        if not environ.get("SLACK_SIGNING_SECRET", "").strip():
            problems.append(
                "SLACK_SIGNING_SECRET is not set: HTTP mode verifies every request Slack "
                "sends with it; copy it from the app's 'Basic Information → App Credentials "
                "→ Signing Secret'"
            )
    if not bot:
        problems.append(
            "SLACK_BOT_TOKEN is not set: it is the Bot User OAuth Token (xoxb-…), on the app's "
            "'OAuth & Permissions' page"
        )
    elif not bot.startswith("xoxb-"):
        problems.append(
            "SLACK_BOT_TOKEN does not start with xoxb-: use the *Bot* User OAuth Token from "
            "'OAuth & Permissions' (a user token xoxp- or an app token xapp- will not work)"
        )
    if not app:
        problems.append(
            "SLACK_APP_TOKEN is not set: it is an app-level token (xapp-…) with the "
            "connections:write scope, from 'Basic Information → App-Level Tokens'"
        )
    elif not app.startswith("xapp-"):
        problems.append(
            "SLACK_APP_TOKEN does not start with xapp-: generate an app-level token with the "
            "connections:write scope under 'Basic Information → App-Level Tokens'"
        )
    if not bot or not app:
        problems.append(f"no Slack app yet? {MANIFEST_HINT}")
    base = environ.get("SLACK_API_BASE_URL", "").strip()
    if base and not re.match(r"^https?://[^/\s]+(/.*)?$", base):
        problems.append(
            f"SLACK_API_BASE_URL must be an http(s) URL such as {DEFAULT_API_BASE_URL} "
            "(leave it unset for slack.com)"
        )
    return problems


def load_tokens(env: Mapping[str, str] | None = None, *, http: bool = False) -> Tokens:
    """The tokens (for HTTP mode with ``http``), or ConfigError listing every problem."""
    environ = os.environ if env is None else env
    problems = token_problems(environ, http=http)
    if problems:
        raise ConfigError("; ".join(problems))
    base = environ.get("SLACK_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL
    if not base.endswith("/"):
        base += "/"
    return Tokens(
        bot_token=environ["SLACK_BOT_TOKEN"].strip(),
        app_token=environ.get("SLACK_APP_TOKEN", "").strip(),
        api_base_url=base,
        signing_secret=environ.get("SLACK_SIGNING_SECRET", "").strip() if http else "",
    )


def check_slack_settings(
    config: Config, env: Mapping[str, str] | None = None, *, http: bool = False
) -> list[str]:
    """Everything wrong with the Slack side of the setup (``ml-intern-slack check``)."""
    problems = token_problems(env, http=http)
    try:
        load_slack_settings(config)
    except ConfigError as exc:
        problems.extend(str(exc).split("; "))
    return problems
