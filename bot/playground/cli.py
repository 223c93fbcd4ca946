"""The ``playground`` command: parse options, start, print the URL, open the browser, run
until Ctrl-C / SIGTERM, stop cleanly."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import webbrowser

from agent_core.config import Config, ConfigError, load_config

from .launch import Playground, default_store_path

NO_TOKENS_HINT = "no Slack tokens: run `ml-intern-slack playground` to try it locally"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL, do not open a browser"
    )
    parser.add_argument(
        "--simulation",
        action="store_true",
        help="use the demo model and the simulated Hub even if provider keys or HF_TOKEN are set",
    )
    parser.add_argument(
        "--job-seconds",
        type=float,
        default=20.0,
        help="how long a simulated Hub job runs (default 20)",
    )
    parser.add_argument(
        "--store",
        help=f"the bot's store for the playground (default {default_store_path()}; reset at each start)",
    )


async def serve(playground: Playground, *, open_browser: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        url = await playground.start()
        print(f"ml-intern playground: {url}", flush=True)
        for notice in playground.ws.notices:
            print(f"  {notice['text']}", flush=True)
        print("  Ctrl-C to stop.", flush=True)
        if open_browser:
            await asyncio.to_thread(webbrowser.open, url)
        await stop.wait()
    finally:
        await playground.stop()
    return 0


def run(args: argparse.Namespace, config: Config) -> int:
    if not 0 <= args.port <= 65535:
        print("ml-intern-slack playground: --port must be 0-65535", file=sys.stderr)
        return 2
    if args.job_seconds < 1 or args.job_seconds > 3600:
        print("ml-intern-slack playground: --job-seconds must be 1-3600", file=sys.stderr)
        return 2
    playground = Playground(
        config,
        port=args.port,
        simulation=args.simulation,
        job_seconds=args.job_seconds,
        store_path=args.store,
    )
    try:
        return asyncio.run(serve(playground, open_browser=not args.no_browser))
    except OSError as exc:
        print(f"ml-intern-slack playground: cannot start: {exc}", file=sys.stderr)
        return 2
    except TimeoutError:
        print("ml-intern-slack playground: the bot did not connect in time", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="ml-intern-slack playground", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"ml-intern-slack: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(run(args, config))
