"""The ``ops`` and ``http`` config sections: where health, readiness and metrics are served,
and where HTTP mode (``serve --http``) listens for Slack's requests.

``ops.port`` null means no ops server in Socket Mode (in HTTP mode the endpoints share the
request URL's port). ``PORT`` in the environment overrides ``http.port`` because that is how
most container platforms tell a process where to listen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent_core.config import Config, ConfigError

DEFAULT_HTTP_PORT = 3000
REQUEST_PATH = "/slack/events"


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


def load_ops_settings(config: Config) -> OpsSettings:
    result: OpsSettings = _parse(OpsSettings, "ops", config.ops)
    return result


def load_http_settings(config: Config, env: Mapping[str, str] | None = None) -> HttpSettings:
    """The ``http`` section with ``PORT`` from the environment taking precedence."""
    environ = os.environ if env is None else env
    raw = dict(config.http or {})
    port = environ.get("PORT", "").strip()
    if port:
        if not port.isdigit() or int(port) > 65_535:
            raise ConfigError(f"PORT: {port!r} is not a port number (0-65535)")
        raw["port"] = int(port)
    result: HttpSettings = _parse(HttpSettings, "http", raw)
    return result
