"""``run_bot``: the default command of ``ml-intern-slack`` (also ``python -m bot``).

Reads SLACK_BOT_TOKEN, SLACK_APP_TOKEN and SLACK_API_BASE_URL (default
https://slack.com/api/), validates the ``slack`` config section, runs the gateway until
SIGINT/SIGTERM, then shuts down cleanly. Returns the process exit code.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from agent_core.config import Config, ConfigError
from agent_core.store import StoreError
from bot.runtime import BotRuntime, StartupError
from bot.settings import load_slack_settings, load_tokens

log = logging.getLogger(__name__)


def run_bot(config: Config) -> int:
    try:
        settings = load_slack_settings(config)
        tokens = load_tokens()
    except ConfigError as exc:
        print("ml-intern-slack: cannot start the Slack gateway:", file=sys.stderr)
        for problem in str(exc).split("; "):
            print(f"  - {problem}", file=sys.stderr)
        return 2
    runtime = BotRuntime(config, settings, tokens)
    try:
        return asyncio.run(_serve(runtime))
    except (StartupError, StoreError) as exc:
        print(f"ml-intern-slack: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


async def _serve(runtime: BotRuntime) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def on_signal(name: str) -> None:
        received.append(name)
        if stop.is_set():
            log.warning("second %s: exiting without waiting", name)
            raise KeyboardInterrupt
        log.info("%s received: shutting down", name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig.name)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(on_signal, "signal"))
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        log.info("stopped cleanly")
    return 0
