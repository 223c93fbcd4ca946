"""The ``ops`` and ``http`` config sections: where health, readiness and metrics are served,
and where HTTP mode (``serve --http``) listens for Slack's requests.

``ops.port`` set serves the endpoints on their own port, in either mode (in HTTP mode they
are also on the request URL's port; a private ops port keeps ``/metrics`` off the public
listener). Null means no separate ops server. ``PORT`` in the environment overrides
``http.port`` because that is how most container platforms tell a process where to listen;
``ML_INTERN_OPS_PORT`` overrides ``ops.port`` the same way (the container image sets it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent_core.config import Config, ConfigError

DEFAULT_HTTP_PORT = 3000
REQUEST_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpsSettings(_Strict):
    """``/healthz``, ``/readyz`` and ``/metrics`` in Socket Mode (``port`` null: not served)."""

    host: str = "0.0.0.0"
    port: int | None = Field(None, ge=0, le=65_535)


class HttpSettings(_Strict):
    """HTTP mode: Slack's Events API and interactivity requests, on one request URL."""

    host: str = "0.0.0.0"
    port: int = Field(DEFAULT_HTTP_PORT, ge=0, le=65_535)
    path: str = Field(REQUEST_PATH, pattern=r"^/[A-Za-z0-9_\-/]*$")


def _parse(model: type[_Strict], section: str, raw: Mapping[str, Any] | None) -> Any:
    try:
        return model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = "".join(f".{p}" for p in err["loc"])
            msg = str(err["msg"])
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; see bot/ops/settings.py)"
            problems.append(f"{section}{loc}: {msg}")
        raise ConfigError("; ".join(problems)) from None


def _with_env_port(
    raw: Mapping[str, Any] | None, variable: str, env: Mapping[str, str] | None
) -> dict[str, Any]:
    environ = os.environ if env is None else env
    section = dict(raw or {})
    port = environ.get(variable, "").strip()
    if port:
        if not port.isdigit() or int(port) > 65_535:
            raise ConfigError(f"{variable}: {port!r} is not a port number (0-65535)")
        section["port"] = int(port)
    return section


def load_ops_settings(config: Config, env: Mapping[str, str] | None = None) -> OpsSettings:
    """The ``ops`` section with ``ML_INTERN_OPS_PORT`` from the environment taking precedence."""
    raw = _with_env_port(config.ops, "ML_INTERN_OPS_PORT", env)
    result: OpsSettings = _parse(OpsSettings, "ops", raw)
    return result


def load_http_settings(config: Config, env: Mapping[str, str] | None = None) -> HttpSettings:
    """The ``http`` section with ``PORT`` from the environment taking precedence."""
    result: HttpSettings = _parse(HttpSettings, "http", _with_env_port(config.http, "PORT", env))
    return result
