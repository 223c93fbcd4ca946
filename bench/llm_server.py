"""The benchmarks' LLM: ``FakeLLM`` with a responder that reads its script from the prompt, and
server-side timing of every request.

    python -m bench.llm_server --port 0      # prints "READY http://127.0.0.1:PORT/v1"

A prompt drives the reply with ``bench kind=<kind> tok=<token> [key=value …]``:

=========  ===================================================================================
``plain``  one short text answer that echoes the token
``tools``  two ``plan_tool`` calls in one assistant turn; once the last message is a tool
           result, a short text answer (so one user turn = two LLM calls)
``long``   a 10,000-character answer streamed in ``chunks`` (default 2,000) content deltas,
           ``pace_ms`` apart (default 0)
``gpu``    an ``hf_jobs`` ``run`` on GPU hardware (needs approval), then a text answer
``cpujob`` an ``hf_jobs`` ``run`` on ``cpu-basic`` (no approval when ``confirm_cpu_jobs`` is
           off), then a text answer — a job for the JobWatcher to follow
``bash``   a ``bash`` call (approval-gated when bash is enabled), then a text answer
=========  ===================================================================================

``delay_ms=N`` delays the first byte of every reply of that turn (keeps many sessions busy at
once). Anything else (titles, summaries, research) gets a short ``ok``.

Why server-side timing: the turn-overhead figure is "mention → answer posted" minus the time
the LLM itself spent, and only the server knows when it started and finished each response
(request arrival → last byte written). ``GET /_bench/records`` returns one record per request
``{token, kind, start, end, stream}`` in ``time.monotonic()`` (host-wide CLOCK_MONOTONIC).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.fake_llm import (  # noqa: E402
    FakeLLM,
    RecordedRequest,
    Reply,
    call,
    text,
    tool_calls,
)

LONG_CHARS = 10_000
_DIRECTIVE = re.compile(r"bench\s+kind=(\w+)\s+tok=([\w-]+)((?:\s+\w+=[\w.-]+)*)")


def parse_directive(body: dict[str, Any]) -> tuple[str, str, dict[str, str]] | None:
    """The last ``bench kind=… tok=…`` directive in the user messages, or None."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            continue
        matches = list(_DIRECTIVE.finditer(content))
        if matches:
            m = matches[-1]
            extra = dict(kv.split("=", 1) for kv in m.group(3).split())
            return m.group(1), m.group(2), extra
    return None


def _after_tool(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    return bool(messages) and messages[-1].get("role") == "tool"


def long_text(token: str, chars: int = LONG_CHARS) -> str:
    """``chars`` characters of prose-like lines that start and end with the token."""
    head = f"Long answer for {token}.\n"
    tail = f"\nEnd of answer for {token}."
    line = "The quick brown fox jumps over the lazy dog while the model trains. "
    body = (line * (chars // len(line) + 1))[: chars - len(head) - len(tail)]
    return head + body + tail


def _system_note_last(body: dict[str, Any]) -> bool:
    """The turn was started by the engine's own note (a watched job finished), not a person."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    content = last.get("content")
    return last.get("role") == "user" and isinstance(content, str) and "[SYSTEM:" in content


def respond(body: RecordedRequest) -> Reply:
    """Route by the directive in the prompt (see the module docstring)."""
    parsed = parse_directive(body)
    if parsed is None:
        return text("ok")
    kind, token, extra = parsed
    if _system_note_last(body):
        # A model acknowledges a finished job; it does not redo the request it answered
        # (replying to the note with the directive again would submit a second job).
        return text(f"Noted: the job of {token} finished.")
    delay = float(extra.get("delay_ms", 0)) / 1000.0
    reply: Reply
    if kind == "tools":
        if _after_tool(body):
            reply = text(f"Planned and done for {token}.")
        else:
            step = {"id": "1", "content": f"step A {token}"}
            reply = tool_calls(
                call("plan_tool", {"todos": [{**step, "status": "in_progress"}]}),
                call("plan_tool", {"todos": [{**step, "status": "completed"}]}),
            )
    elif kind == "long":
        chunks = int(extra.get("chunks", 2000))
        pace = float(extra.get("pace_ms", 0)) / 1000.0
        reply = text(long_text(token), chunks=chunks, per_chunk_delay=pace)
    elif kind in ("gpu", "cpujob"):
        if _after_tool(body):
            reply = text(f"Job submitted for {token}; I will report when it finishes.")
        else:
            flavor = "a10g-small" if kind == "gpu" else "cpu-basic"
            args = {
                "operation": "run",
                # multi-line: hf_jobs treats a one-liner as a workspace path
                "script": f"import time\nprint('training {token}')\n",
                "dependencies": ["transformers"],
                "hardware_flavor": flavor,
                "timeout": "30m",
            }
            reply = tool_calls(call("hf_jobs", args))
    elif kind == "bash":
        if _after_tool(body):
            reply = text(f"Ran the command for {token}.")
        else:
            reply = tool_calls(call("bash", {"command": f"echo {token}"}))
    else:  # plain and unknown kinds
        reply = text(f"Answer for {token}: here it is.")
    return dataclasses.replace(reply, delay=delay) if delay else reply


class BenchLLM(FakeLLM):
    """FakeLLM plus per-request timing and a ``/_bench`` control API."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(responder=respond, host=host, port=port)
        self.records: list[dict[str, Any]] = []

    async def start(self) -> BenchLLM:
        """As ``FakeLLM.start``, with the ``/_bench`` routes added to the same app."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._handle_chat)
        app.router.add_get("/v1/models", self._handle_models)
        app.router.add_get("/_bench/records", self._records)
        app.router.add_post("/_bench/reset", self._reset)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}/v1"
        return self

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        start = time.monotonic()
        try:
            body = await request.json()  # aiohttp caches the body: the parent reads it again
        except ValueError:
            body = {}
        parsed = parse_directive(body) if isinstance(body, dict) else None
        try:
            return await super()._handle_chat(request)
        finally:
            self.records.append(
                {
                    "token": parsed[1] if parsed else None,
                    "kind": parsed[0] if parsed else None,
                    "start": start,
                    "end": time.monotonic(),
                    "stream": bool(isinstance(body, dict) and body.get("stream")),
                }
            )
            self.requests.clear()  # the parent keeps every request; a long run must not grow

    async def _records(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "records": self.records})

    async def _reset(self, request: web.Request) -> web.Response:
        self.records.clear()
        return web.json_response({"ok": True})


async def serve(host: str, port: int) -> None:
    llm = BenchLLM(host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await llm.start()
    try:
        print(f"READY {llm.base_url}", flush=True)
        await stop.wait()
    finally:
        await llm.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scripted LLM for the benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
