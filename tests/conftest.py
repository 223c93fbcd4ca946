"""Test-wide guards: offline by construction, loopback only.

Every test runs with an audit hook that fails any socket connection to a non-loopback
address, so a code path that would reach the internet in CI is caught here, loudly.
Environment variables that could leak a developer's real credentials are removed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS"] = "True"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_EXPERIMENTAL_WARNING"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ.pop("HF_HUB_OFFLINE", None)  # it blocks loopback too
for _name in (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GITHUB_TOKEN",
    "ML_INTERN_CONFIG",
    "ML_INTERN_MODEL",
    "ML_INTERN_DB",
):
    os.environ.pop(_name, None)


class NonLoopbackConnection(AssertionError):
    pass


def _is_loopback(host: object) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect":
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not _is_loopback(host):
                raise NonLoopbackConnection(f"test tried to connect to {address!r}")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode()
        if host and not _is_loopback(host) and not str(host).startswith("127."):
            raise NonLoopbackConnection(f"test tried to resolve {host!r}")


sys.addaudithook(_audit)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Import litellm once, before the first test, unless only unit tests were collected.

    The import takes ~3 s (far more on a loaded machine). The bot defers it to a warm-up
    thread, so otherwise the first test that reaches the LLM pays it inside its own timed
    waits, and with tests spread over workers (``-n``) any test can be that first one.
    """
    if any(item.path.parent.name != "unit" for item in session.items):
        import litellm  # noqa: F401
