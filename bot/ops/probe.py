"""``python -m bot.ops.probe [healthz|readyz]``: the container's HEALTHCHECK command.

Asks the bot on this host for ``/healthz`` (default) or ``/readyz`` and exits 0 on HTTP 200,
1 otherwise. The port comes from the same settings the bot uses — ``ops.port`` /
``ML_INTERN_OPS_PORT`` when set, else the HTTP mode port (``http.port`` / ``PORT``) — so the
probe cannot drift from where the bot listens. Standard library only for the request, and
no aiohttp or Bolt import: it runs every few seconds in every container and must stay cheap.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from agent_core.config import ConfigError, load_config
from bot.ops.settings import HEALTH_PATH, READY_PATH, load_http_settings, load_ops_settings

TIMEOUT_S = 3.0
PATHS = {"healthz": HEALTH_PATH, "readyz": READY_PATH}


def probe_url(which: str = "healthz") -> str:
    config = load_config()
    ops = load_ops_settings(config)
    port = ops.port if ops.port is not None else load_http_settings(config).port
    return f"http://127.0.0.1:{port}{PATHS[which]}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    which = args[0] if args else "healthz"
    if which not in PATHS:
        print(f"usage: python -m bot.ops.probe [{'|'.join(PATHS)}]", file=sys.stderr)
        return 2
    try:
        url = probe_url(which)
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (loopback)
            ok = response.status == 200
    except ConfigError as exc:
        print(f"probe: configuration problem: {exc}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"probe: {which} failed: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
