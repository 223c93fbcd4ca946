"""``ml-intern-slack``: run the Slack bot (default), check the configuration, or chat.

    ml-intern-slack                     # run the bot (Socket Mode)
    ml-intern-slack serve [--http]      # the same; --http: Slack's HTTP Events API instead
    ml-intern-slack check               # validate configuration and exit
    ml-intern-slack chat "prompt" [--yes|--no] [--session ID]
    ml-intern-slack prune               # apply the store retention rules now
    ml-intern-slack playground [--port N] [--no-browser]   # try it with no Slack workspace

Running the bot reads SLACK_BOT_TOKEN, SLACK_APP_TOKEN and SLACK_API_BASE_URL (default
https://slack.com/api/), validates the ``slack`` config section, runs until SIGINT/SIGTERM,
then shuts down cleanly. ``serve --http`` (behind a load balancer) reads SLACK_SIGNING_SECRET
instead of SLACK_APP_TOKEN and listens on ``http.port`` (PORT overrides, default 3000) with
the request URL path ``/slack/events``; ``/healthz``, ``/readyz`` and ``/metrics`` share that
port, and in either mode are also on ``ops.port`` (ML_INTERN_OPS_PORT) when it is set.
``chat`` is the engine's terminal mode (:mod:`agent_core.cli`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from agent_core.cli import add_chat_arguments, chat, load_config_or_exit, setup_logging
from agent_core.config import Config, ConfigError
from agent_core.store import StoreError
from agent_core.tools import web_search
from bot.ops.settings import load_http_settings, load_ops_settings
from bot.playground.cli import NO_TOKENS_HINT
from bot.playground.cli import add_arguments as add_playground_arguments
from bot.playground.cli import run as run_playground
from bot.settings import check_slack_settings, load_slack_settings, load_tokens
from bot.slack.transport import HttpTransport, SocketModeTransport, Transport
from bot.startup import BotRuntime, StartupError

log = logging.getLogger(__name__)

SLACK_TOKEN_VARS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
SLACK_HTTP_VARS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ml-intern-slack", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the Slack bot over Socket Mode (the default)")
    serve = sub.add_parser("serve", help="run the Slack bot (Socket Mode, or --http)")
    serve.add_argument(
        "--http",
        action="store_true",
        help="take Slack's requests over HTTP (Events API, interactivity) on http.port / PORT, "
        "verified with SLACK_SIGNING_SECRET, instead of Socket Mode",
    )
    check = sub.add_parser("check", help="validate the configuration and exit")
    check.add_argument("--http", action="store_true", help="check for HTTP mode")
    add_chat_arguments(sub.add_parser("chat", help="run one prompt in a terminal session"))
    sub.add_parser("prune", help="apply the store retention rules now and exit")
    add_playground_arguments(
        sub.add_parser("playground", help="a local Slack-like workspace in your browser")
    )
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    config = load_config_or_exit()
    command = args.command or "run"
    if command == "check":
        print(f"configuration OK (model: {config.model_name})")
        if note := asyncio.run(web_search.probe(config)):
            print(f"note: {note}")
        http = bool(getattr(args, "http", False))
        problems = check_slack_settings(config, http=http)
        problems.extend(ops_problems(config, http=http))
        if problems:
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
            raise SystemExit(2)
        return
    if command == "chat":
        raise SystemExit(asyncio.run(chat(args, config)))
    if command == "prune":
        raise SystemExit(asyncio.run(prune_store(config)))
    if command == "playground":
        raise SystemExit(run_playground(args, config))
    raise SystemExit(run_bot(config, http=bool(getattr(args, "http", False))))


async def prune_store(config: Config) -> int:
    """``ml-intern-slack prune``: the retention rules once, with what each deleted."""
    from agent_core.store import Store
    from agent_core.store.retention import prune

    store = await Store.open(os.environ.get("ML_INTERN_DB") or None)
    try:
        counts = await prune(store, config.retention)
    finally:
        await store.close()
    print("pruned: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def ops_problems(config: Config, *, http: bool) -> list[str]:
    """Problems in the ``ops`` / ``http`` sections (and PORT), each naming its key."""
    problems: list[str] = []
    for load in (load_ops_settings, load_http_settings) if http else (load_ops_settings,):
        try:
            load(config)
        except ConfigError as exc:
            problems.extend(str(exc).split("; "))
    return problems


def run_bot(config: Config, *, http: bool = False) -> int:
    """Run the bot until a signal (``http``: HTTP mode); the process exit code."""
    try:
        settings = load_slack_settings(config)
        tokens = load_tokens(http=http)
        ops = load_ops_settings(config)
        transport: Transport = (
            HttpTransport(tokens.signing_secret, load_http_settings(config))
            if http
            else SocketModeTransport(tokens.app_token)
        )
    except ConfigError as exc:
        token_vars = SLACK_HTTP_VARS if http else SLACK_TOKEN_VARS
        no_tokens = not any(os.environ.get(v, "").strip() for v in token_vars)
        headline = NO_TOKENS_HINT if no_tokens else "cannot start the Slack gateway:"
        print(f"ml-intern-slack: {headline}", file=sys.stderr)
        for problem in str(exc).split("; "):
            print(f"  - {problem}", file=sys.stderr)
        return 2
    runtime = BotRuntime(config, settings, tokens, transport=transport, ops=ops)
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
