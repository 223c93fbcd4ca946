"""Configuration: shipped defaults, a user file, the environment, validated by pydantic.

Precedence (lowest first): ``configs/default.json`` → the file named by ``ML_INTERN_CONFIG``
(JSON or YAML, deep-merged) → ``ML_INTERN_MODEL`` for ``model_name``. ``.env`` in the working
directory is loaded first without overriding the real environment. ``${VAR}`` and
``${VAR:-default}`` are substituted in every string. Any problem is a :class:`ConfigError` that
names the key path, because "invalid config" without a key is useless at 3 a.m.

Sections owned by other layers (``slack``, ``messaging``, ``ops``, ``http``) are kept as plain dicts here and
validated by those layers, so the engine never learns their shape.
"""

from __future__ import annotations

import json
import os
import re
import socket
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(ValueError):
    """A configuration problem, phrased as ``<key path>: <what is wrong>``."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobsConfig(_Section):
    """How submitted Hugging Face jobs are followed."""

    # resume: the agent is woken with the outcome (stage, metrics, cost, log tail) so it can
    # evaluate and report, or diagnose and propose a fix; notify: people are pinged, that's all.
    on_job_finished: Literal["notify", "resume"] = "resume"
    resume_log_lines: int = Field(200, ge=1, le=1000)
    default_timeout: str = "30m"
    default_flavor: str = "cpu-basic"
    poll_initial_s: float = Field(2.0, gt=0)
    poll_max_s: float = Field(60.0, gt=0)
    poll_backoff: float = Field(1.5, ge=1.0)
    log_tail_every_s: float = Field(30.0, gt=0)
    log_tail_lines: int = Field(20, ge=1, le=500)
    stall_warning_s: float = Field(900.0, gt=0)
    max_concurrent_polls: int = Field(8, ge=1, le=64)
    # A log tail is one bounded SSE read: stop after this idle gap or this overall deadline.
    log_tail_idle_s: float = Field(1.0, gt=0)
    log_tail_deadline_s: float = Field(5.0, gt=0)
    # The team's babysitting preferences when a thread/channel has set none (a preferences.md).
    preferences_file: str | None = None


class ToolsConfig(_Section):
    """Switches and endpoints for the agent's tools."""

    bash_enabled: bool = False
    bash_timeout_s: float = Field(120.0, gt=0)
    # bash runs only inside bubblewrap (Debian's ``bubblewrap``); name or path of ``bwrap``.
    bash_sandbox_command: str = "bwrap"
    # Bytes a session's workspace may hold (write/edit refuse beyond it); 0 = no quota.
    workspace_quota_bytes: int = Field(500_000_000, ge=0)
    # "auto": Brave or Tavily when their key is set, else DuckDuckGo (keyless); "none": off.
    web_search_provider: Literal["auto", "none", "duckduckgo", "brave", "tavily"] = "auto"
    web_search_base_url: str | None = None
    # hf_papers' Semantic Scholar operations (key optional: S2_API_KEY).
    semantic_scholar_url: str | None = None  # default https://api.semanticscholar.org
    semantic_scholar_max_wait_s: float = Field(20.0, ge=0)  # rate-limit retry budget per call
    github_api_url: str = "https://api.github.com"
    docs_base_url: str | None = None  # defaults to the Hub endpoint
    output_cap_chars: int = Field(25_000, ge=1_000)
    mcp_timeout_s: float = Field(60.0, gt=0)
    mcp_tools_need_approval: bool = False
    mcp_connect_timeout_s: float = Field(30.0, gt=0)  # per server, at startup
    research_max_iterations: int = Field(60, ge=1, le=500)
    # Research sub-agent context budget (tokens): nudge at 85 %, forced summary at 95 %.
    research_token_budget: int = Field(200_000, ge=10_000)


class SandboxConfig(_Section):
    """Where the agent runs code: a private HF Space per session, a local subprocess, or not.

    ``auto`` means ``hf_space`` when an HF token is available and no sandbox otherwise (the
    workspace file tools run on the host then, and ``bash`` follows ``tools.bash_enabled``).
    """

    backend: Literal["auto", "hf_space", "local", "off"] = "auto"
    default_hardware: str = "cpu-basic"
    idle_timeout_s: float = Field(3600.0, ge=0)  # 0 → never reaped while the process runs
    space_owner: str | None = None  # namespace for sandbox Spaces (default: the token's user)
    space_url_template: str = "https://{subdomain}.hf.space"
    space_start_timeout_s: float = Field(600.0, gt=0)
    local_root: str | None = None  # default: <system temp>/ml-intern-sandboxes
    local_python: str | None = None
    local_memory_mb: int = Field(8192, ge=256)
    local_run_as: str = "nobody"


class RetentionConfig(_Section):
    """How long the store keeps things (days); see agent_core.store.retention."""

    chunk_days: float = Field(2.0, gt=0)
    event_days: float = Field(30.0, gt=0)
    session_days: float = Field(90.0, gt=0)
    every_h: float = Field(24.0, ge=0)  # automatic pruning interval; 0 = only on demand


REPLICA_ID_ENV = "ML_INTERN_REPLICA_ID"


def default_replica_id() -> str:
    """``ML_INTERN_REPLICA_ID``, else ``<hostname>-<pid>`` (unique per process, so a restarted
    process never mistakes its predecessor's leases for its own)."""
    explicit = os.environ.get(REPLICA_ID_ENV, "").strip()
    return explicit or f"{socket.gethostname()}-{os.getpid()}"


class ReplicasConfig(_Section):
    """Per-session leases when several bot processes share one Postgres store (issue 19).

    A replica holds a session's lease while it runs the session's operations and renews it
    every ``renew_every_s``; if it dies, another replica takes the session over once
    ``lease_ttl_s`` passed since the last renewal. See agent_core.replicas.
    """

    lease_ttl_s: float = Field(15.0, gt=0)
    renew_every_s: float = Field(5.0, gt=0)
    # Unique per running process; leases are held in its name. Set ML_INTERN_REPLICA_ID to
    # pin it (e.g. a StatefulSet pod name: a restart then takes its own leases back at once).
    replica_id: str = Field(default_factory=default_replica_id, min_length=1)

    @model_validator(mode="after")
    def _renew_before_expiry(self) -> ReplicasConfig:
        if self.renew_every_s >= self.lease_ttl_s:
            raise ValueError(
                f"renew_every_s ({self.renew_every_s}) must be below lease_ttl_s "
                f"({self.lease_ttl_s}), or leases expire between renewals"
            )
        return self


class Config(_Section):
    """The engine's settings. Upstream-compatible keys keep upstream's names."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model_name: str
    research_model: str | None = None
    # ``model <id>`` may switch only to ids matching these patterns (empty: the configured
    # model's provider); see agent_core.model_allowlist.
    allowed_models: list[str] = Field(default_factory=list)
    max_iterations: int = Field(300, ge=-1)
    # How many threads one person may have working at once (a new one waits its turn).
    max_active_sessions_per_user: int = Field(3, ge=1)
    # A person's message longer than this reaches the model as head + tail + a note.
    max_user_message_chars: int = Field(40_000, ge=1_000)
    yolo_mode: bool = False
    yolo_cost_cap_usd: float = Field(5.0, ge=0)
    # Auto-approved spend per requester / per workspace per UTC day, across threads
    # (agent_core.spend_ledger); None = no such cap.
    yolo_user_daily_cap_usd: float | None = Field(20.0, ge=0)
    yolo_workspace_daily_cap_usd: float | None = Field(None, ge=0)
    auto_approve_destructive: bool = False
    confirm_cpu_jobs: bool = True
    approval_ttl_s: float = Field(86_400.0, ge=0)  # 0 → approvals never expire
    reasoning_effort: Literal["minimal", "low", "medium", "high", "xhigh", "max"] | None = "high"
    stream: bool = True
    llm_timeout_s: float = Field(600.0, gt=0)
    llm_max_retries: int = Field(3, ge=0, le=10)
    llm_retry_base_s: float = Field(5.0, ge=0)
    llm_retry_max_s: float = Field(60.0, ge=0)
    llm_transport: Literal["auto", "litellm"] = "auto"  # auto: OpenAI-compatible skip litellm
    context_window: int | None = Field(None, gt=1000)
    compaction_threshold: float = Field(0.9, gt=0.1, lt=1.0)
    compaction_tail_messages: int = Field(5, ge=1)
    hf_router_url: str = "https://router.huggingface.co/v1"
    system_prompt_file: str | None = None
    timezone: str | None = None  # IANA name for the prompt's date; default: the host's
    mcpServers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    messaging: dict[str, Any] = Field(default_factory=dict)
    slack: dict[str, Any] = Field(default_factory=dict)
    # The bot's operations endpoints and HTTP mode (validated by bot/ops/settings.py).
    ops: dict[str, Any] = Field(default_factory=dict)
    http: dict[str, Any] = Field(default_factory=dict)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    replicas: ReplicasConfig = Field(default_factory=ReplicasConfig)

    # Upstream keys we accept for compatibility but do not use (a shared config file works).
    save_sessions: bool | None = None
    session_dataset_repo: str | None = None
    share_traces: bool | None = None
    personal_trace_repo_template: str | None = None
    auto_save_interval: int | None = None
    heartbeat_interval_s: int | None = None
    tool_runtime: str | None = None
    auto_file_upload: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        try:
            ZoneInfo(v.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {v!r} (use an IANA name like 'Europe/Paris')"
            ) from None
        return v.strip()

    @field_validator("model_name")
    @classmethod
    def _model_not_blank(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        return v


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_env(value: Any, path: str = "", env: dict[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` recursively; unset required vars are errors."""
    environ = os.environ if env is None else env
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in environ and environ[name] != "":
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{path or '<root>'}: environment variable {name} is not set "
                f"(set it in the environment or in .env)"
            )

        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {
            k: substitute_env(v, f"{path}.{k}" if path else str(k), environ)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute_env(v, f"{path}[{i}]", environ) for i, v in enumerate(value)]
    return value


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Dicts merge recursively; every other value in ``override`` replaces the base value."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON or YAML mapping, with errors that say which file and what went wrong."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"ML_INTERN_CONFIG: file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text) if text.strip() else {}
    except Exception as exc:
        raise ConfigError(f"ML_INTERN_CONFIG: cannot parse {p}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"ML_INTERN_CONFIG: {p} must contain a mapping at the top level")
    return data


def default_config_dict() -> dict[str, Any]:
    text = resources.files("configs").joinpath("default.json").read_text(encoding="utf-8")
    return json.loads(text)


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see configs/default.json for valid keys)"
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: dict[str, str] | None = None,
    load_env_file: bool = True,
) -> Config:
    """Load and validate the configuration. Raises :class:`ConfigError` on any problem."""
    if load_env_file and env is None:
        from dotenv import load_dotenv

        load_dotenv(Path.cwd() / ".env", override=False)
    environ = dict(os.environ) if env is None else env
    data = default_config_dict()
    user_path = path or environ.get("ML_INTERN_CONFIG")
    if user_path:
        data = deep_merge(data, read_config_file(user_path))
    data = substitute_env(data, env=environ)
    if environ.get("ML_INTERN_MODEL", "").strip():
        data["model_name"] = environ["ML_INTERN_MODEL"].strip()
    if environ.get(REPLICA_ID_ENV, "").strip():
        data.setdefault("replicas", {})["replica_id"] = environ[REPLICA_ID_ENV].strip()
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
