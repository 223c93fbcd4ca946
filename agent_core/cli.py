"""The terminal ``chat`` mode: drive one engine session from a terminal, without Slack.

    ml-intern-slack chat "prompt" [--yes|--no] [--session ID] [--model ID]
    python -m agent_core.cli "prompt" [...]      # the same, with the engine alone installed

This is how people debug the engine: events print as they happen and approvals are answered
at the prompt (or refused/accepted wholesale with --no/--yes). The console script itself lives
in :mod:`bot.cli`; this module never imports the Slack bot or the gateways.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from typing import Any

from .config import Config, ConfigError, load_config
from .redact import scrub_text


def setup_logging(verbose: bool) -> None:
    """Log to stderr, secrets scrubbed from every line; third-party chatter at WARNING."""
    level = (
        logging.DEBUG
        if verbose
        else getattr(logging, os.environ.get("LOG_LEVEL", "INFO").upper(), logging.INFO)
    )

    class _Scrubbing(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return scrub_text(super().format(record))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Scrubbing("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("LiteLLM", "litellm", "httpx", "httpcore", "aiosqlite", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def load_config_or_exit() -> Config:
    try:
        return load_config()
    except ConfigError as exc:
        print(f"ml-intern-slack: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _print_event(ev: Any, out: Any = sys.stdout) -> None:
    t, d = ev.type, ev.data
    if t == "assistant_chunk":
        out.write(d.get("content", ""))
        out.flush()
    elif t == "assistant_stream_end":
        out.write("\n")
    elif t == "assistant_message":
        pass  # already streamed (or printed at turn end when not streaming)
    elif t == "tool_call":
        args = json.dumps(d.get("arguments"), ensure_ascii=False)
        out.write(f"  → {d.get('tool')} {args[:200]}\n")
    elif t == "tool_output":
        mark = "ok" if d.get("success") else "FAILED"
        first = (d.get("output") or "").strip().splitlines()[:1]
        out.write(f"  ← {d.get('tool')} [{mark}] {first[0][:200] if first else ''}\n")
    elif t == "tool_log":
        out.write(f"  · {d.get('tool')}: {d.get('log')}\n")
    elif t == "plan_update":
        for item in d.get("plan", []):
            out.write(f"  [{item['status']}] {item['id']}. {item['content']}\n")
    elif t == "error":
        out.write(f"ERROR: {d.get('error')}\n")
    elif t == "turn_complete":
        out.write("— turn complete —\n")
    elif t in ("interrupted", "compacted", "undo_complete", "session_update", "approval_resolved"):
        out.write(f"[{t}] {json.dumps(d)[:300]}\n")
    out.flush()


async def chat(args: argparse.Namespace, config: Config) -> int:
    """Run ``args.prompt`` in a terminal session; the exit code is 1 if the turn failed."""
    from .events import ToolApproval, UserInput
    from .manager import SessionManager
    from .store import Store

    store = await Store.open()
    manager = SessionManager(store, config)
    done = asyncio.Event()
    pending: asyncio.Queue[Any] = asyncio.Queue()
    outcome = {"code": 0}

    async def listener(ev: Any) -> None:
        if ev.session_id != session_id:
            return
        _print_event(ev)
        if ev.type == "approval_required":
            await pending.put(ev)
        elif ev.type in ("turn_complete", "interrupted"):
            done.set()
        elif ev.type == "error":
            outcome["code"] = 1
            done.set()

    session_id = args.session or f"cli:{os.getpid()}"
    manager.add_listener(listener)
    await manager.start()
    from .runtime import attach_engine_services

    extras = await attach_engine_services(manager)
    try:
        await manager.submit(
            session_id,
            UserInput(text=args.prompt, user="cli"),
            origin={"platform": "cli", "requester": "cli"},
            model=args.model,
        )
        while not done.is_set():
            getter = asyncio.ensure_future(pending.get())
            waiter = asyncio.ensure_future(done.wait())
            finished, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in finished:
                getter.cancel()
                break
            waiter.cancel()
            ev = getter.result()
            decisions = []
            for call in ev.data["tools"]:
                if args.yes or args.no:
                    approved, feedback = bool(args.yes), None
                else:
                    summary = json.dumps(call["arguments"], ensure_ascii=False)[:400]
                    answer = await asyncio.to_thread(
                        input, f"Approve {call['tool']} {summary}? [y/N/feedback] "
                    )
                    approved = answer.strip().lower() in ("y", "yes")
                    feedback = (
                        None if approved or answer.strip().lower() in ("", "n", "no") else answer
                    )
                decisions.append(
                    ToolApproval(
                        tool_call_id=call["tool_call_id"], approved=approved, feedback=feedback
                    )
                )
            result = await manager.resolve_approvals(
                session_id, decisions, decided_by="cli", batch_id=ev.data["batch_id"]
            )
            if not result.ok:
                print(f"approval refused: {result.error}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        await manager.interrupt(session_id)
    finally:
        await manager.close()
        await extras.close()
        await store.close()
    return outcome["code"]


def add_chat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt")
    parser.add_argument("--session", help="session id to continue (default: a new one)")
    parser.add_argument("--model", help="model id for a new session")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--yes", action="store_true", help="approve every gated call")
    group.add_argument("--no", action="store_true", help="reject every gated call")


def main(argv: list[str] | None = None) -> None:
    """``python -m agent_core.cli "prompt"``: the chat mode on its own."""
    parser = argparse.ArgumentParser(prog="agent_core.cli", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_chat_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    raise SystemExit(asyncio.run(chat(args, load_config_or_exit())))


if __name__ == "__main__":  # pragma: no cover
    main()
