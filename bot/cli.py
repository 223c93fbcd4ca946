"""``ml-intern-slack``: run the Slack bot (default), check the configuration, or chat.

    ml-intern-slack                     # run the bot (Socket Mode)
    ml-intern-slack check               # validate configuration and exit
    ml-intern-slack chat "prompt" [--yes|--no] [--session ID]

Running the bot reads SLACK_BOT_TOKEN, SLACK_APP_TOKEN and SLACK_API_BASE_URL (default
https://slack.com/api/), validates the ``slack`` config section, runs until SIGINT/SIGTERM,
then shuts down cleanly. ``chat`` is the engine's terminal mode (:mod:`agent_core.cli`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from agent_core.cli import add_chat_arguments, chat, load_config_or_exit, setup_logging
from agent_core.config import Config, ConfigError
from agent_core.store import StoreError
from bot.settings import check_slack_settings, load_slack_settings, load_tokens
from bot.startup import BotRuntime, StartupError

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ml-intern-slack", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the Slack bot (the default)")
    sub.add_parser("check", help="validate the configuration and exit")
    add_chat_arguments(sub.add_parser("chat", help="run one prompt in a terminal session"))
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    config = load_config_or_exit()
    command = args.command or "run"
    if command == "check":
        print(f"configuration OK (model: {config.model_name})")
        problems = check_slack_settings(config)
        if problems:
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
            raise SystemExit(2)
        return
    if command == "chat":
        raise SystemExit(asyncio.run(chat(args, config)))
    raise SystemExit(run_bot(config))


def run_bot(config: Config) -> int:
    """Run the bot until a signal; the process exit code."""
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

    def on_signal(name: str) -> None:
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


if __name__ == "__main__":  # pragma: no cover
    main()
