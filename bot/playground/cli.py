"""``ml-intern-slack playground``: start, print the URL (and open the browser), run until
Ctrl-C / SIGTERM, stop cleanly — the same start → signal → stop loop as the bot itself."""

from __future__ import annotations

import argparse
import asyncio
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from agent_core.config import Config, ConfigError
from agent_core.paths import state_dir

if TYPE_CHECKING:  # the playground itself (~0.3 s of imports) loads only when it runs
    from .launch import Playground

PLAYGROUND_DB = "playground.db"
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
        help=f"the bot's store for the playground (default {state_dir() / PLAYGROUND_DB}; "
        "recreated at each start)",
    )


def _announcer(open_browser: bool) -> Callable[[Playground], Awaitable[None]]:
    async def announce(playground: Playground) -> None:
        print(f"ml-intern playground: {playground.url}", flush=True)
        for notice in playground.ws.notices:
            print(f"  {notice['text']}", flush=True)
        print("  Ctrl-C to stop.", flush=True)
        if open_browser:
            await asyncio.to_thread(webbrowser.open, playground.url)

    return announce


def run(args: argparse.Namespace, config: Config) -> int:
    """The process exit code (2: bad options or the playground could not start)."""
    from ..cli import _serve  # the bot's own start → wait for a signal → stop loop
    from .launch import Playground

    problem = None
    if not 0 <= args.port <= 65535:
        problem = "--port must be 0-65535"
    elif not 1 <= args.job_seconds <= 3600:
        problem = "--job-seconds must be 1-3600"
    if problem:
        print(f"ml-intern-slack playground: {problem}", file=sys.stderr)
        return 2
    playground = Playground(
        config,
        port=args.port,
        simulation=args.simulation,
        job_seconds=args.job_seconds,
        store_path=args.store,
        on_ready=_announcer(not args.no_browser),
    )
    try:
        return asyncio.run(_serve(playground))  # type: ignore[arg-type]
    except (OSError, ConfigError) as exc:
        print(f"ml-intern-slack playground: cannot start: {exc}", file=sys.stderr)
    except TimeoutError:
        print("ml-intern-slack playground: the bot did not connect in time", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 2


def main(argv: list[str] | None = None) -> None:
    """``python -m bot.playground`` (the same as ``ml-intern-slack playground``)."""
    from agent_core.cli import load_config_or_exit, setup_logging

    parser = argparse.ArgumentParser(prog="ml-intern-slack playground", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    raise SystemExit(run(args, load_config_or_exit()))
