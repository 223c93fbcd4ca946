"""Scripted OpenAI-compatible chat-completions server for offline tests and benchmarks.

Why this exists
---------------
The engine talks to OpenAI-compatible LLMs over its own lean client (``llm_transport: auto``)
or through litellm (``llm_transport: litellm``, and always for Anthropic & co). Pointing either
at a real provider is impossible here (no network) and litellm's ``mock_response=`` skips the
HTTP, SSE and exception-mapping code that breaks in production. ``FakeLLM`` is an aiohttp
server on 127.0.0.1 that speaks the OpenAI wire format, so the *whole* path of either transport
runs: request building, SSE parsing, tool-call fragment accumulation, error mapping and
``Retry-After`` headers. :func:`wire` replies send exact bytes for wire-level quirks.

How the engine reaches it::

    litellm.acompletion(
        model="openai/<anything>",   # "openai/" prefix is stripped; server sees "<anything>"
        api_base=llm.base_url,       # "http://127.0.0.1:PORT/v1"
        api_key="sk-fake",
        num_retries=0,               # see "Retries" below
        messages=..., stream=True, stream_options={"include_usage": True},
    )

Scripting
---------
Replies are consumed FIFO, one per ``POST /v1/chat/completions``::

    async with FakeLLM(default=text("ok")) as llm:
        llm.push(
            tool_calls(call("plan_tool", {"todos": ["a", "b"]})),
            text("all done", chunk_size=3),
            error(status=429, message="Rate limit reached", retry_after=1),
        )

When the queue is empty the server asks ``responder(request_json)`` (sync or async; it may
return a :class:`Reply`, a ``str`` meaning ``text(str)``, or ``None`` to pass), then falls back
to ``default``. If nothing answers, it returns HTTP 500 "FakeLLM script exhausted" so a test
that under-scripts fails loudly instead of hanging.

Verified litellm 1.106.2 behaviour (see ``tests/unit/test_fake_llm.py``)
------------------------------------------------------------------------
Retries
    ``num_retries=0`` is the kwarg to pass. In ``litellm.main.completion`` a non-None
    ``num_retries`` overwrites ``max_retries``, and the value is handed to the OpenAI SDK client
    as its ``max_retries``. Without it the SDK default (``openai.DEFAULT_MAX_RETRIES`` == 2)
    applies and a 429/5xx is retried silently, honouring ``Retry-After``: the fake then sees
    3 requests for one call. ``max_retries=0`` alone works too; ``num_retries=0`` wins if both
    are given. The engine does its own retries, so always pass ``num_retries=0``.
Exception classes (all subclasses of the corresponding ``openai`` exceptions)
    * 429 → ``litellm.RateLimitError`` (``status_code == 429``).
    * 400 whose message contains "This model's maximum context length is" →
      ``litellm.ContextWindowExceededError`` (subclass of ``litellm.BadRequestError``).
      litellm matches on the *message text* (``ExceptionCheckers.is_error_str_context_window_
      exceeded``), not on ``code``; the fake sends the real OpenAI body anyway
      (``type="invalid_request_error"``, ``param="messages"``, ``code="context_length_exceeded"``).
    * 400 other → ``litellm.BadRequestError``; 401 → ``litellm.AuthenticationError``.
    * 500 → ``litellm.InternalServerError``; 503 → ``litellm.ServiceUnavailableError``
      (both subclasses of ``openai.APIStatusError``, not of ``litellm.APIError``).
    * 502 → ``litellm.BadGatewayError``.
    * For streaming calls the HTTP error is raised by the ``await litellm.acompletion(...)``
      itself, before any chunk is yielded.
Reading Retry-After from a ``litellm.RateLimitError`` ``exc``
    Use ``exc.litellm_response_headers.get("retry-after")`` (an ``httpx.Headers``,
    case-insensitive; the attribute is set on every mapped HTTP error, may be ``None`` in
    general so guard with ``getattr(exc, "litellm_response_headers", None)``).
    **``exc.response.headers`` is EMPTY**: litellm rebuilds ``exc.response`` as a dummy
    ``httpx.Response`` without the provider's headers. Same for streaming and non-streaming.
    Other fields: ``exc.status_code == 429``, ``exc.code == "429"`` (litellm overwrites it),
    ``exc.body`` is the parsed ``error`` object (``{"message", "type", "param", "code"}``).
    For ``ContextWindowExceededError`` ``body``/``code`` are ``None``: match on the class.
Connection refused / dropped before the response (fake stopped, stalled non-stream request)
    ``litellm.InternalServerError`` with status 500 and message "... Connection error." —
    litellm maps the openai SDK's ``APIConnectionError`` to it, so only the message tells it
    apart from a real HTTP 500.
Connection dropped mid-stream (``drop_after_chunks``)
    Iterating the stream raises ``litellm.exceptions.MidStreamFallbackError`` (a subclass of
    ``litellm.ServiceUnavailableError``, status 503) after the chunks already delivered.

CLI (for benchmarks where the bot runs in another process)::

    python -m tests.fakes.fake_llm --port 0 --mode echo
    # prints "READY http://127.0.0.1:PORT/v1" on stdout, then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gzip as gzip_module
import inspect
import itertools
import json
import math
import signal
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

__all__ = [
    "FakeLLM",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ToolCall",
    "call",
    "delay",
    "echo_responder",
    "error",
    "last_user_text",
    "openai_history_violation",
    "raw",
    "run_forever",
    "text",
    "tool_calls",
    "wire",
]

ReplyKind = Literal["text", "tool_calls", "error", "wire"]

_DEFAULT_TEXT_CHUNK_SIZE = 8
_DEFAULT_ARGS_CHUNK_SIZE = 5

_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    # OpenAI reports which limit was hit ("requests" / "tokens") in `type` for 429s.
    429: "requests",
}


# --------------------------------------------------------------------------------------------
# Reply descriptions (pure data; built with the helper functions below)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """One function call inside an assistant turn. Build with :func:`call`."""

    name: str
    arguments: str
    """The JSON text sent as ``function.arguments`` (may be deliberately malformed)."""
    id: str | None = None
    """Tool call id; ``None`` → deterministic ``call_fake_<reply#>_<index>``, where reply# counts
    the non-error replies this FakeLLM has served (from 1)."""


@dataclass(frozen=True)
class Reply:
    """Everything the fake needs to answer one chat-completions request.

    Build with :func:`text`, :func:`tool_calls` or :func:`error`; tweak with
    ``dataclasses.replace`` or :func:`delay`. Frozen so a reply object can be pushed twice.
    """

    kind: ReplyKind
    content: str | None = None
    calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    """``None`` → "stop" for text, "tool_calls" when calls are present."""

    # -- stream shape
    chunks: int | None = None
    """Split the text into this many content deltas (mutually exclusive with chunk_size)."""
    chunk_size: int | None = None
    """Characters per content delta (default 8)."""
    args_chunk_size: int = _DEFAULT_ARGS_CHUNK_SIZE
    """Characters per ``function.arguments`` fragment when streaming tool calls."""
    interleave: bool = False
    """Round-robin argument fragments of parallel calls (stresses client accumulators)."""

    # -- usage reported to the client
    prompt_tokens: int | None = None
    """``None`` → a deterministic estimate (request messages' JSON length / 4)."""
    completion_tokens: int | None = None
    """``None`` → a deterministic estimate (output length / 4, at least 1)."""

    # -- timing / failure injection
    delay: float = 0.0
    """Seconds to wait before sending the status line (after recording the request)."""
    per_chunk_delay: float = 0.0
    """Seconds to wait between SSE events."""
    stall_after_chunks: int | None = None
    """Send this many SSE events, then hang until the client disconnects (or the fake stops).
    Events counted are the content / tool-call deltas (the role rides on the first one), so
    ``text("abcdef", chunk_size=2, stall_after_chunks=2)`` delivers exactly "abcd".
    For non-streaming requests any value means "never answer"."""
    drop_after_chunks: int | None = None
    """Send this many SSE events (counted as above), then abort the TCP connection."""
    raw_deltas: tuple[dict[str, Any], ...] | None = None
    """Stream exactly these ``delta`` objects (wire-level quirks of open-model servers: two calls
    sharing ``index`` 0, a name repeated in every chunk, reused ids). Build with :func:`raw`."""
    end_clean_after_chunks: int | None = None
    """Send this many deltas, then ``[DONE]`` with no ``finish_reason`` (a clean but early end)."""
    reasoning: str | None = None
    """Streamed first as ``reasoning_content`` deltas (reasoning models on vLLM/SGLang and the HF
    router do this); returned as ``message.reasoning_content`` when not streaming."""
    gate: asyncio.Event | None = None
    """Hold the response (after ``delay``) until the test sets this event. Lets a test pin
    "the LLM call is in flight" deterministically, without sleeps."""

    # -- error replies
    status: int = 200
    message: str = ""
    code: str | None = None
    error_type: str | None = None
    param: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers (any reply kind)."""

    # -- exact wire bytes (kind "wire", built with :func:`wire`)
    body: bytes = b""
    content_type: str = "text/event-stream"
    gzip: bool = False
    """Send ``body`` gzip-compressed with ``Content-Encoding: gzip``."""
    hang_after_body: bool = False
    """Send ``body``, then keep the connection open without another byte."""


def call(
    name: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    raw_arguments: str | None = None,
    id: str | None = None,
) -> ToolCall:
    """A tool call. ``arguments`` is JSON-encoded; ``raw_arguments`` is sent verbatim
    (use it for malformed JSON such as ``'{"a": '``)."""
    if arguments is not None and raw_arguments is not None:
        raise ValueError("pass either arguments or raw_arguments, not both")
    args = raw_arguments if raw_arguments is not None else json.dumps(dict(arguments or {}))
    return ToolCall(name=name, arguments=args, id=id)


def text(
    content: str,
    *,
    chunks: int | None = None,
    chunk_size: int | None = None,
    finish_reason: str | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    delay: float = 0.0,
    per_chunk_delay: float = 0.0,
    stall_after_chunks: int | None = None,
    drop_after_chunks: int | None = None,
    gate: asyncio.Event | None = None,
    headers: Mapping[str, str] | None = None,
    reasoning: str | None = None,
) -> Reply:
    """A plain assistant message, streamed as many content deltas (after ``reasoning``)."""
    if chunks is not None and chunk_size is not None:
        raise ValueError("pass either chunks or chunk_size, not both")
    if (chunks is not None and chunks < 1) or (chunk_size is not None and chunk_size < 1):
        raise ValueError("chunks/chunk_size must be >= 1")
    return Reply(
        kind="text",
        content=content,
        chunks=chunks,
        chunk_size=chunk_size,
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        delay=delay,
        per_chunk_delay=per_chunk_delay,
        stall_after_chunks=stall_after_chunks,
        drop_after_chunks=drop_after_chunks,
        gate=gate,
        headers=dict(headers or {}),
        reasoning=reasoning,
    )


def tool_calls(
    *calls: ToolCall,
    text: str | None = None,
    chunk_size: int | None = None,
    args_chunk_size: int = _DEFAULT_ARGS_CHUNK_SIZE,
    interleave: bool = False,
    finish_reason: str | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    delay: float = 0.0,
    per_chunk_delay: float = 0.0,
    stall_after_chunks: int | None = None,
    drop_after_chunks: int | None = None,
    gate: asyncio.Event | None = None,
    headers: Mapping[str, str] | None = None,
    reasoning: str | None = None,
) -> Reply:
    """An assistant turn with one or more (parallel) tool calls, optionally preceded by text.

    Streamed the way OpenAI does it: per call, a header delta with ``index``, ``id``, ``type``,
    ``function.name`` and empty arguments, then ``function.arguments`` fragments of
    ``args_chunk_size`` characters; ``finish_reason`` defaults to "tool_calls".
    """
    if not calls:
        raise ValueError("tool_calls() needs at least one call(...)")
    if args_chunk_size < 1:
        raise ValueError("args_chunk_size must be >= 1")
    return Reply(
        kind="tool_calls",
        content=text,
        calls=tuple(calls),
        chunk_size=chunk_size,
        args_chunk_size=args_chunk_size,
        interleave=interleave,
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        delay=delay,
        per_chunk_delay=per_chunk_delay,
        stall_after_chunks=stall_after_chunks,
        drop_after_chunks=drop_after_chunks,
        gate=gate,
        headers=dict(headers or {}),
        reasoning=reasoning,
    )


def error(
    status: int = 500,
    message: str = "The server had an error while processing your request. Sorry about that!",
    *,
    code: str | None = None,
    error_type: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
    delay: float = 0.0,
    gate: asyncio.Event | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An HTTP error with OpenAI's body ``{"error": {"message", "type", "param", "code"}}``.

    ``error_type`` defaults per status the way OpenAI does (400 → "invalid_request_error",
    429 → "requests", 5xx → "server_error"). ``retry_after`` adds a ``Retry-After`` header.
    Context overflow: ``error(400, "This model's maximum context length is 8192 tokens. ...",
    code="context_length_exceeded", param="messages")`` → ``litellm.ContextWindowExceededError``.
    """
    if status < 400:
        raise ValueError("error() needs a 4xx/5xx status")
    return Reply(
        kind="error",
        status=status,
        message=message,
        code=code,
        error_type=error_type,
        param=param,
        retry_after=retry_after,
        delay=delay,
        gate=gate,
        headers=dict(headers or {}),
    )


def wire(
    body: bytes,
    *,
    status: int = 200,
    content_type: str = "text/event-stream",
    headers: Mapping[str, str] | None = None,
    gzip: bool = False,
    hang_after_body: bool = False,
) -> Reply:
    """Exactly these response bytes, for wire-level quirks the scripted replies cannot express:
    multi-line SSE events, keep-alive comments, an ``error`` object mid-stream (the HF router
    and vLLM send one), a 200 whose JSON body is an error, a 3xx, a stream that never ends."""
    return Reply(kind="wire", body=body, status=status, content_type=content_type,
                 headers=dict(headers or {}), gzip=gzip, hang_after_body=hang_after_body)  # fmt: skip


def raw(*deltas: dict[str, Any], finish_reason: str = "tool_calls") -> Reply:
    """A stream of exactly these deltas, then ``finish_reason`` (streaming requests only)."""
    return Reply(kind="tool_calls", raw_deltas=tuple(deltas), finish_reason=finish_reason)


def delay(seconds: float, reply: Reply) -> Reply:
    """Return ``reply`` answered only after ``seconds`` (e.g. to simulate a slow first token)."""
    return dataclasses.replace(reply, delay=seconds)


# --------------------------------------------------------------------------------------------
# Request recording and responders
# --------------------------------------------------------------------------------------------


class RecordedRequest(dict[str, Any]):
    """The parsed JSON body of one request (so ``req["messages"]`` works), plus metadata.

    ``headers`` has lower-cased names (e.g. ``req.headers["authorization"]``).
    """

    def __init__(
        self, body: Mapping[str, Any], *, headers: Mapping[str, str], path: str, index: int
    ) -> None:
        super().__init__(body)
        self.headers: dict[str, str] = {k.lower(): v for k, v in headers.items()}
        self.path = path
        self.index = index
        self.peer: tuple[str, int] | None = None
        """The client's address (the same port twice means a reused connection)."""


Responder = Callable[[RecordedRequest], Reply | str | None | Awaitable[Reply | str | None]]
"""``(request) -> reply``; may be async; ``str`` means ``text(str)``; ``None`` passes on."""


def last_user_text(body: Mapping[str, Any]) -> str:
    """Text of the last ``role == "user"`` message (joins list-of-parts content), or ""."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        return ""
    return ""


def echo_responder(body: RecordedRequest) -> Reply:
    """Answer with ``echo: <last user message>`` (the benchmarks' default script)."""
    return text(f"echo: {last_user_text(body)}")


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Abort(Exception):
    """Raised inside a handler to drop the connection without a normal response."""


class FakeLLM:
    """Scripted OpenAI-compatible server. Start it inside the running event loop.

    ``default``/``responder`` may be reassigned at any time; ``push`` may be called while
    requests are in flight (replies are taken when a request *arrives*).
    """

    def __init__(
        self,
        *,
        default: Reply | str | None = None,
        responder: Responder | None = None,
        models: tuple[str, ...] = ("fake",),
        host: str = "127.0.0.1",
        port: int = 0,
        strict: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.default: Reply | None = _as_reply(default)
        self.responder: Responder | None = responder
        self.models = models
        self.requests: list[RecordedRequest] = []
        """Every chat-completions request, in arrival order (including unanswered ones)."""
        self.disconnects: int = 0
        """Responses cut short because the client went away (stall, delay or mid-stream)."""
        self.script_misses: int = 0
        """Requests answered with the "script exhausted" 500."""
        self.responder_errors: list[BaseException] = []
        """Exceptions raised by ``responder`` (each answered with a 500 naming it)."""
        self._host = host
        self._port = port
        self._ssl = ssl_context
        """Serve HTTPS with this context (TLS tests: a CA the client must be told to trust)."""
        self._script: deque[Reply] = deque()
        self._cond = asyncio.Condition()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._reply_seq = itertools.count(1)
        self.strict = strict
        self.rejections: list[str] = []
        """Messages of the 4xx answers the fake gave for rule violations (see ``check_request``)."""

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> FakeLLM:
        """Bind (port 0 → random free port) and serve; returns ``self`` for chaining."""
        if self._runner is not None:
            raise RuntimeError("FakeLLM already started")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._handle_chat)
        app.router.add_get("/v1/models", self._handle_models)
        # handler_cancellation: aiohttp cancels the handler task when the client disconnects,
        # which is how a stalled stream notices an interrupt (aiohttp's default is False).
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, ssl_context=self._ssl)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._base_url = f"{'https' if self._ssl else 'http'}://{host}:{port}/v1"
        return self

    async def stop(self) -> None:
        """Release stalled/gated handlers and shut the server down. Idempotent."""
        self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeLLM:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` — pass as litellm's ``api_base``."""
        if self._base_url is None:
            raise RuntimeError("FakeLLM not started")
        return self._base_url

    # -- scripting --------------------------------------------------------------------------

    def push(self, *replies: Reply | str) -> None:
        """Queue replies (a bare ``str`` means ``text(str)``), answered FIFO."""
        for reply in replies:
            converted = _as_reply(reply)
            assert converted is not None
            self._script.append(converted)

    @property
    def remaining(self) -> int:
        """Scripted replies not consumed yet (assert ``== 0`` at the end of a test)."""
        return len(self._script)

    def clear(self) -> None:
        """Drop queued replies (recorded requests are kept)."""
        self._script.clear()

    # -- waiting (condition-based, no polling) ------------------------------------------------

    async def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests arrived; returns the first ``n``."""
        await self._wait(lambda: len(self.requests) >= n, timeout, f"{n} request(s)")
        return self.requests[:n]

    async def wait_for_disconnects(self, n: int = 1, timeout: float = 5.0) -> None:
        """Wait until at least ``n`` client disconnects were recorded."""
        await self._wait(lambda: self.disconnects >= n, timeout, f"{n} disconnect(s)")

    async def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout):
                async with self._cond:
                    await self._cond.wait_for(predicate)
        except TimeoutError:
            raise TimeoutError(
                f"FakeLLM: timed out after {timeout}s waiting for {what}; "
                f"have {len(self.requests)} request(s), {self.disconnects} disconnect(s)"
            ) from None

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    # -- HTTP handlers ----------------------------------------------------------------------

    async def _handle_models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error_response(
                error(400, "FakeLLM: request body is not valid JSON", code="invalid_json")
            )
        if not isinstance(body, dict):
            return _error_response(error(400, "FakeLLM: request body must be a JSON object"))
        recorded = RecordedRequest(
            body, headers=request.headers, path=request.path, index=len(self.requests)
        )
        peer = request.transport.get_extra_info("peername") if request.transport else None
        recorded.peer = tuple(peer[:2]) if peer else None
        self.requests.append(recorded)
        await self._notify()
        refused = self.check_request(recorded)
        if refused is not None:
            self.rejections.append(refused.message)
            return _error_response(refused)

        try:
            reply = await self._next_reply(recorded)
        except Exception as exc:  # a bug in a test's responder must not look like a hang
            self.responder_errors.append(exc)
            return _error_response(
                error(500, f"FakeLLM responder raised {exc!r}", code="responder_error")
            )
        try:
            if reply is None:
                self.script_misses += 1
                return _error_response(
                    error(
                        500,
                        f"FakeLLM script exhausted: no reply scripted for request "
                        f"#{recorded.index} (last user message: {last_user_text(body)[:200]!r})",
                        code="script_exhausted",
                        error_type="fake_llm_error",
                    )
                )
            await self._sleep(reply.delay)
            if reply.gate is not None:
                await self._wait_or_close(reply.gate.wait())
            if reply.kind == "error":
                return _error_response(reply)
            if reply.kind == "wire":
                return await self._wire(request, reply)
            if body.get("stream"):
                return await self._stream(request, recorded, reply)
            if reply.stall_after_chunks is not None:
                await self._wait_or_close(asyncio.Event().wait())
                raise _Abort
            return web.json_response(self._completion(recorded, reply), headers=dict(reply.headers))
        except (asyncio.CancelledError, ConnectionResetError):
            # Client went away: aiohttp cancels the handler (handler_cancellation=True) or a
            # write fails on the closing transport.
            self.disconnects += 1
            await asyncio.shield(self._notify())
            raise
        except _Abort:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=499)  # never reaches the client

    def check_request(self, request: RecordedRequest) -> Reply | None:
        """A rule violation → the error reply the real service gives; ``None`` → fine.

        With ``strict=True`` (the default; pass ``strict=False`` to script a malformed history on
        purpose): OpenAI's tool-message pairing (platform.openai.com "Function
        calling": every ``tool_calls`` id answered by a ``tool`` message right after it, and no
        ``tool`` message without its call) and unknown message fields (OpenAI's schema
        validation: "Additional properties are not allowed").
        """
        if not self.strict:
            return None
        return openai_history_violation(request.get("messages") or [])

    async def _next_reply(self, body: RecordedRequest) -> Reply | None:
        if self._script:
            return self._script.popleft()
        if self.responder is not None:
            produced = self.responder(body)
            if inspect.isawaitable(produced):
                produced = await produced
            reply = _as_reply(produced)
            if reply is not None:
                return reply
        return self.default

    async def _stream(
        self, request: web.Request, body: RecordedRequest, reply: Reply
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **reply.headers,
            }
        )
        await response.prepare(request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        seq = next(self._reply_seq)
        envelope = _Envelope(body, seq, include_usage)

        deltas = (
            list(reply.raw_deltas) if reply.raw_deltas is not None else _stream_deltas(reply, seq)
        )
        for sent, delta in enumerate(deltas):
            if reply.end_clean_after_chunks is not None and sent >= reply.end_clean_after_chunks:
                await response.write(b"data: [DONE]\n\n")  # no finish_reason: an early, clean end
                await response.write_eof()
                return response
            if reply.stall_after_chunks is not None and sent >= reply.stall_after_chunks:
                await self._wait_or_close(asyncio.Event().wait())
                raise _Abort  # fake is stopping: hang up instead of finishing the stream
            if reply.drop_after_chunks is not None and sent >= reply.drop_after_chunks:
                raise _Abort
            if sent and reply.per_chunk_delay:
                await self._sleep(reply.per_chunk_delay)
            await response.write(_sse(envelope.chunk(delta)))

        await response.write(_sse(envelope.chunk({}, _finish_reason(reply))))
        if include_usage:
            await response.write(_sse(envelope.usage_chunk(_usage(body, reply))))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _wire(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        payload = gzip_module.compress(reply.body) if reply.gzip else reply.body
        headers = {"Content-Type": reply.content_type, **reply.headers}
        if reply.gzip:
            headers["Content-Encoding"] = "gzip"
        response = web.StreamResponse(status=reply.status, headers=headers)
        await response.prepare(request)
        await response.write(payload)
        if reply.hang_after_body:
            await self._wait_or_close(asyncio.Event().wait())
            raise _Abort
        await response.write_eof()
        return response

    def _completion(self, body: RecordedRequest, reply: Reply) -> dict[str, Any]:
        seq = next(self._reply_seq)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.calls:
            message["tool_calls"] = [
                {
                    "id": tc.id or _call_id(seq, i),
                    "type": "function",
                    "function": {"name": tc.name, "arguments": tc.arguments},
                }
                for i, tc in enumerate(reply.calls)
            ]
        return {
            "id": f"chatcmpl-fake-{seq}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": _finish_reason(reply),
                }
            ],
            "usage": _usage(body, reply),
        }

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake early (and abort the response) when the fake is stopping."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._closing.wait()
            if self._closing.is_set():
                raise _Abort

    async def _wait_or_close(self, awaitable: Awaitable[Any]) -> None:
        """Await ``awaitable`` unless the fake stops first (then abort the response)."""
        waiter = asyncio.ensure_future(awaitable)
        closer = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({waiter, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            closer.cancel()
        if self._closing.is_set():
            raise _Abort


# --------------------------------------------------------------------------------------------
# Wire-format helpers
# --------------------------------------------------------------------------------------------


class _Envelope:
    """Builds ``chat.completion.chunk`` objects sharing one id/created/model."""

    def __init__(self, body: Mapping[str, Any], seq: int, include_usage: bool) -> None:
        self._base: dict[str, Any] = {
            "id": f"chatcmpl-fake-{seq}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "system_fingerprint": "fp_fake",
        }
        self._include_usage = include_usage

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        out = {**self._base, "choices": [choice]}
        if self._include_usage:
            out["usage"] = None  # OpenAI sends usage: null on every chunk but the last
        return out

    def usage_chunk(self, usage: dict[str, int]) -> dict[str, Any]:
        return {**self._base, "choices": [], "usage": usage}


def _stream_deltas(reply: Reply, seq: int) -> Iterator[dict[str, Any]]:
    """One ``delta`` per SSE event; the role rides on the first one (so N events = N pieces)."""
    deltas: list[dict[str, Any]] = []
    if reply.reasoning:
        deltas.extend(
            {"reasoning_content": piece}
            for piece in _split_text(replace_content(reply, reply.reasoning))
        )
    if reply.content:
        deltas.extend({"content": piece} for piece in _split_text(reply))

    per_call: list[list[dict[str, Any]]] = []
    for i, tc in enumerate(reply.calls):
        header = {
            "index": i,
            "id": tc.id or _call_id(seq, i),
            "type": "function",
            "function": {"name": tc.name, "arguments": ""},
        }
        fragments = [
            {"index": i, "function": {"arguments": piece}}
            for piece in _split(tc.arguments, reply.args_chunk_size)
        ]
        per_call.append([header, *fragments])
    if reply.interleave:
        ordered = [d for group in itertools.zip_longest(*per_call) for d in group if d]
    else:
        ordered = [d for group in per_call for d in group]
    deltas.extend({"tool_calls": [d]} for d in ordered)

    if not deltas:  # empty text reply: still announce the role
        deltas.append({"content": ""})
    deltas[0] = {"role": "assistant", **({"content": None} if reply.calls else {}), **deltas[0]}
    yield from deltas


def replace_content(reply: Reply, content: str) -> Reply:
    return dataclasses.replace(reply, content=content)


_MESSAGE_FIELDS = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"},
    "tool": {"role", "content", "tool_call_id", "name"},
}


def openai_history_violation(messages: list[Mapping[str, Any]]) -> Reply | None:
    """The 400 OpenAI's chat completions gives for a malformed history, or ``None``."""
    pending: list[str] = []
    for i, m in enumerate(messages):
        role = m.get("role")
        extra = set(m) - _MESSAGE_FIELDS.get(str(role), set())
        if extra:
            return error(400, f"Additional properties are not allowed ({', '.join(sorted(map(repr, extra)))} "
                         f"was unexpected) - 'messages.{i}'", param=f"messages.[{i}]")  # fmt: skip
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                return error(400, "Invalid parameter: messages with role 'tool' must be a response to a "
                             "preceeding message with 'tool_calls'.", param=f"messages.[{i}].role")  # fmt: skip
            pending.remove(m.get("tool_call_id"))
            continue
        if pending:
            return _unanswered(pending)
        pending = [tc.get("id") for tc in m.get("tool_calls") or []] if role == "assistant" else []
    return _unanswered(pending) if pending else None


def _unanswered(ids: list[str]) -> Reply:
    return error(400, "An assistant message with 'tool_calls' must be followed by tool messages responding "
                 f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                 f"{', '.join(map(str, ids))}", param="messages")  # fmt: skip


def _split_text(reply: Reply) -> list[str]:
    content = reply.content or ""
    if reply.chunks is not None:
        size = max(1, math.ceil(len(content) / reply.chunks))
        return _split(content, size)
    return _split(content, reply.chunk_size or _DEFAULT_TEXT_CHUNK_SIZE)


def _split(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)]


def _call_id(seq: int, index: int) -> str:
    return f"call_fake_{seq}_{index}"


def _finish_reason(reply: Reply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.calls else "stop"


def _usage(body: Mapping[str, Any], reply: Reply) -> dict[str, int]:
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
    completion = reply.completion_tokens
    if completion is None:
        out_len = len(reply.content or "") + sum(
            len(c.name) + len(c.arguments) for c in reply.calls
        )
        completion = max(1, out_len // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _sse(obj: Mapping[str, Any]) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def _error_response(reply: Reply) -> web.Response:
    error_type = reply.error_type or _ERROR_TYPES.get(
        reply.status, "server_error" if reply.status >= 500 else "invalid_request_error"
    )
    payload = {
        "error": {
            "message": reply.message,
            "type": error_type,
            "param": reply.param,
            "code": reply.code,
        }
    }
    headers = dict(reply.headers)
    if reply.retry_after is not None:
        ra = reply.retry_after
        headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
    return web.json_response(payload, status=reply.status, headers=headers)


def _as_reply(value: Reply | str | None) -> Reply | None:
    if value is None or isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return text(value)
    raise TypeError(f"expected a Reply or str, got {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# CLI: standalone server for out-of-process benchmarks
# --------------------------------------------------------------------------------------------


async def run_forever(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    mode: str = "echo",
    chunk_size: int | None = None,
    per_chunk_delay: float = 0.0,
    first_token_delay: float = 0.0,
) -> None:
    """Serve until SIGINT/SIGTERM, printing ``READY <base_url>`` once listening.

    Modes: ``echo`` replies ``echo: <last user message>``; ``ok`` replies ``ok``.
    """

    def shape(reply: Reply) -> Reply:
        return dataclasses.replace(
            reply, chunk_size=chunk_size, per_chunk_delay=per_chunk_delay, delay=first_token_delay
        )

    if mode == "echo":
        llm = FakeLLM(responder=lambda body: shape(echo_responder(body)), host=host, port=port)
    elif mode == "ok":
        llm = FakeLLM(default=shape(text("ok")), host=host, port=port)
    else:
        raise ValueError(f"unknown mode {mode!r}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with llm:
        print(f"READY {llm.base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=("echo", "ok"), default="echo")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--per-chunk-delay", type=float, default=0.0)
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    asyncio.run(
        run_forever(
            host=args.host,
            port=args.port,
            mode=args.mode,
            chunk_size=args.chunk_size,
            per_chunk_delay=args.per_chunk_delay,
            first_token_delay=args.first_token_delay,
        )
    )


if __name__ == "__main__":
    main()
