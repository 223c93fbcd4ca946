"""A scripted Anthropic Messages API server (``POST /v1/messages``) that enforces the API's rules.

Why this exists
---------------
Claude is reached through litellm's Anthropic adapter, which rewrites OpenAI-style messages into
Messages-API content blocks and parses Anthropic's own SSE events back. The bugs users hit on day
one live in that translation (thinking blocks dropped, tool results unpaired, cache usage
ignored), so the fake speaks the real wire format and refuses what the real API refuses. Point
litellm at it with ``ANTHROPIC_API_BASE=<base_url>`` (or ``api_base=``) and any key it was given.

Shapes and rules, with their documentation source
-------------------------------------------------
* Request headers ``x-api-key`` and ``anthropic-version``; errors are
  ``{"type": "error", "error": {"type", "message"}, "request_id"}`` with a ``request-id`` header
  (docs.claude.com "Errors": 400 ``invalid_request_error``, 401 ``authentication_error``, 429
  ``rate_limit_error`` + ``retry-after``, 500 ``api_error``, 529 ``overloaded_error``).
* Streaming (docs.claude.com "Streaming messages"): ``message_start`` (usage with
  ``input_tokens``, ``cache_creation_input_tokens``, ``cache_read_input_tokens``), ``ping``, per
  block ``content_block_start`` / ``content_block_delta`` (``text_delta``, ``thinking_delta``,
  ``signature_delta``, ``input_json_delta``) / ``content_block_stop``, ``message_delta``
  (``stop_reason``, cumulative ``output_tokens``), ``message_stop``; an ``error`` event may arrive
  mid-stream (e.g. ``overloaded_error``).
* Tool use (docs.claude.com "Implement tool use"): every ``tool_use`` id needs a ``tool_result``
  in the very next (user) message, and every ``tool_result`` must answer a ``tool_use`` of the
  message just before; error texts follow the API's wording.
* Extended thinking (docs.claude.com "Building with extended thinking"): ``budget_tokens`` ≥ 1024
  and < ``max_tokens``; with thinking on, the last assistant turn holding ``tool_use`` must start
  with its ``thinking`` / ``redacted_thinking`` block, passed back unmodified — the fake signs
  every thinking block it emits and rejects an altered or unsigned one ("Invalid `signature` in
  `thinking` block"), exactly the 400 users see.
* Prompt caching (docs.claude.com "Prompt caching"): at most 4 ``cache_control`` breakpoints; the
  cached prefix is tools → system → messages; a breakpoint hits if the same prefix was written
  before at it or at one of the 20 block boundaries before it. Usage then reports
  ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` and ``input_tokens`` counts only
  the uncached rest. Token counts are the JSON length / 4 (deterministic, not a tokenizer).

Scripting mirrors :mod:`tests.fakes.fake_llm`: ``push(reply(...))`` FIFO, a ``responder``, a
``default``; nothing scripted → HTTP 500 naming the request, so an under-scripted test fails loudly.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from aiohttp import web

from .server import FakeServer

__all__ = [
    "Block",
    "FakeAnthropic",
    "Reply",
    "error",
    "redacted_thinking",
    "reply",
    "text",
    "thinking",
    "tool_use",
]

API_KEY = "sk-ant-fake-test-key-0000000000000000"
MIN_THINKING_BUDGET = 1024
MAX_CACHE_BREAKPOINTS = 4
CACHE_LOOKBACK_BLOCKS = 20
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")

BlockKind = Literal["text", "thinking", "redacted_thinking", "tool_use"]


@dataclass(frozen=True)
class Block:
    """One content block of a scripted assistant message."""

    kind: BlockKind
    text: str = ""
    name: str = ""
    input_json: str = "{}"
    id: str | None = None
    signature: str | None = None
    """For thinking blocks: ``None`` → the fake's valid signature; anything else is sent as is."""


@dataclass(frozen=True)
class Reply:
    """One answer to ``POST /v1/messages``: content blocks, an HTTP error, or a broken stream."""

    blocks: tuple[Block, ...] = ()
    stop_reason: str | None = None
    """``None`` → ``tool_use`` when a tool_use block is present, else ``end_turn``."""
    chunk_size: int = 8
    output_tokens: int | None = None
    # HTTP error instead of a message
    status: int = 200
    error_type: str = ""
    message: str = ""
    retry_after: float | None = None
    # broken streams
    error_event_after: int | None = None
    """Send this many SSE events, then an ``error`` event (``error_type``/``message``) and close."""
    end_after: int | None = None
    """Send this many SSE events, then end the response cleanly without ``message_stop``."""
    gate: asyncio.Event | None = None


def text(content: str) -> Block:
    return Block("text", text=content)


def thinking(content: str, *, signature: str | None = None) -> Block:
    return Block("thinking", text=content, signature=signature)


def redacted_thinking(
    data: str = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr",
) -> Block:
    return Block("redacted_thinking", text=data)


def tool_use(name: str, arguments: Mapping[str, Any] | None = None, *, id: str | None = None,
             raw: str | None = None) -> Block:  # fmt: skip
    return Block("tool_use", name=name, input_json=raw if raw is not None else json.dumps(dict(arguments or {})), id=id)  # fmt: skip


def reply(*blocks: Block | str, stop_reason: str | None = None, **kw: Any) -> Reply:
    """An assistant message; a bare ``str`` is a text block."""
    converted = tuple(text(b) if isinstance(b, str) else b for b in blocks)
    return Reply(blocks=converted, stop_reason=stop_reason, **kw)


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                500: "api_error", 529: "overloaded_error"}  # fmt: skip


def error(status: int, message: str = "", *, error_type: str | None = None,
          retry_after: float | None = None) -> Reply:  # fmt: skip
    """An HTTP error with Anthropic's body; 429 gets ``retry-after`` when given."""
    kind = error_type or _ERROR_TYPES.get(status, "api_error")
    return Reply(status=status, error_type=kind, message=message or kind.replace("_", " ").capitalize(),
                 retry_after=retry_after)  # fmt: skip


class Recorded(dict[str, Any]):
    """A request body, plus lower-cased ``headers``."""

    def __init__(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        super().__init__(body)
        self.headers = {k.lower(): v for k, v in headers.items()}


class _Invalid(Exception):
    def __init__(
        self, message: str, status: int = 400, error_type: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.status, self.error_type = status, error_type


class FakeAnthropic(FakeServer):
    """The Messages API on 127.0.0.1. ``base_url`` is what litellm's ``api_base`` wants."""

    client_max_size = 64 * 1024**2

    def __init__(self, *, api_key: str = API_KEY, default: Reply | None = None,
                 responder: Callable[[Recorded], Reply | None] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.api_key = api_key
        self.default = default
        self.responder = responder
        self.requests: list[Recorded] = []
        self.rejections: list[str] = []
        """Messages of every 4xx the fake returned for a rule violation (not scripted errors)."""
        self.usages: list[dict[str, int]] = []
        """The usage object reported for every answered message, in order."""
        self._script: deque[Reply] = deque()
        self._secret = b"fake-anthropic-signing-key"
        self._redacted: set[str] = set()
        self._cache: set[str] = set()
        self._ids = itertools.count(1)
        self._cond = asyncio.Condition()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._handle)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (litellm appends ``/v1/messages``)."""
        return self.http_url

    def push(self, *replies: Any) -> None:
        """Queue replies: this module's :class:`Reply`, or a :mod:`tests.fakes.fake_llm` script
        (``text``/``tool_calls``/``error``/``str``), translated to what Claude would send."""
        self._script.extend(replies)

    @property
    def remaining(self) -> int:
        return len(self._script)

    async def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[Recorded]:
        async with asyncio.timeout(timeout), self._cond:
            await self._cond.wait_for(lambda: len(self.requests) >= n)
        return self.requests[:n]

    def sign(self, thinking_text: str) -> str:
        """The signature the fake attaches to (and expects back on) a thinking block."""
        return hmac.new(self._secret, thinking_text.encode(), hashlib.sha256).hexdigest()

    # -- request handling -------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._error(
                400, "invalid_request_error", "There was an issue with the format of your request"
            )
        recorded = Recorded(body if isinstance(body, dict) else {}, request.headers)
        async with self._cond:
            self.requests.append(recorded)
            self._cond.notify_all()
        try:
            self._check_headers(recorded.headers)
            self._validate(recorded)
        except _Invalid as exc:
            self.rejections.append(str(exc))
            return self._error(exc.status, exc.error_type, str(exc))
        scripted = self._next(recorded)
        if scripted is None:
            return self._error(
                500,
                "api_error",
                f"FakeAnthropic script exhausted at request #{len(self.requests) - 1}",
            )
        if scripted.gate is not None:
            await scripted.gate.wait()
        if scripted.status != 200:
            headers = (
                {"retry-after": _num(scripted.retry_after)}
                if scripted.retry_after is not None
                else {}
            )
            return self._error(scripted.status, scripted.error_type, scripted.message, headers)
        usage = self._usage(recorded, scripted)
        self.usages.append(usage)
        message = self._message(recorded, scripted, usage)
        if not recorded.get("stream"):
            return web.json_response(
                message, headers={"request-id": f"req_fake_{len(self.requests)}"}
            )
        return await self._stream(request, scripted, message)

    def _next(self, recorded: Recorded) -> Reply | None:
        produced: Any = None
        if self._script:
            produced = self._script.popleft()
        elif self.responder is not None:
            produced = self.responder(recorded)
        if produced is None:
            produced = self.default
        if produced is None or isinstance(produced, Reply):
            return produced
        return from_openai_script(
            produced, thinking_on=_thinking_on(recorded), n=len(self.requests)
        )

    def _error(
        self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        request_id = f"req_fake_{len(self.requests)}"
        payload = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": request_id,
        }
        return web.json_response(
            payload, status=status, headers={"request-id": request_id, **(headers or {})}
        )

    def _check_headers(self, headers: Mapping[str, str]) -> None:
        key = headers.get("x-api-key")
        if not key:
            raise _Invalid("x-api-key header is required", 401, "authentication_error")
        if key != self.api_key:
            raise _Invalid("invalid x-api-key", 401, "authentication_error")
        if not headers.get("anthropic-version"):
            raise _Invalid("anthropic-version: header is required")

    def _validate(self, body: Mapping[str, Any]) -> None:
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise _Invalid("model: Field required")
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise _Invalid("max_tokens: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Invalid("messages: at least one message is required")
        for tool in body.get("tools") or []:
            if not _TOOL_NAME.match(str(tool.get("name", ""))) or "input_schema" not in tool:
                raise _Invalid(f"tools: invalid tool definition {tool.get('name')!r}")
        thinking_on = self._check_thinking_param(body.get("thinking"), max_tokens)
        breakpoints = 0
        for block in _all_blocks(body):
            breakpoints += "cache_control" in block
        if breakpoints > MAX_CACHE_BREAKPOINTS:
            raise _Invalid(
                f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}."
            )
        previous_uses: list[str] = []
        for i, msg in enumerate(messages):
            role = msg.get("role")
            if role not in ("user", "assistant"):
                raise _Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            blocks = _blocks(msg.get("content"))
            if role == "user":
                results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
                for j, rid in enumerate(results):
                    if rid not in previous_uses:
                        raise _Invalid(
                            f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {rid}. "
                            "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                        )
                missing = [u for u in previous_uses if u not in results]
                if missing:
                    raise _Invalid(
                        f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                        f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
                    )
                previous_uses = []
                continue
            if previous_uses:
                raise _Invalid(
                    f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(previous_uses)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
                )
            for j, block in enumerate(blocks):
                self._check_signed(block, i, j)
            previous_uses = [str(b.get("id")) for b in blocks if b.get("type") == "tool_use"]
        if previous_uses:
            raise _Invalid(
                f"messages.{len(messages) - 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(previous_uses)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
            )
        if thinking_on:
            self._check_final_assistant_thinking(messages)

    def _check_thinking_param(self, param: Any, max_tokens: int) -> bool:
        if not param or param.get("type") == "disabled":
            return False
        if param.get("type") == "adaptive":
            return True
        if param.get("type") != "enabled":
            raise _Invalid("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'")
        budget = param.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
            raise _Invalid(
                f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}"
            )
        if budget >= max_tokens:
            raise _Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
        return True

    def _check_signed(self, block: Mapping[str, Any], i: int, j: int) -> None:
        if block.get("type") == "thinking":
            signature = block.get("signature")
            if not signature or signature != self.sign(str(block.get("thinking", ""))):
                raise _Invalid(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
        elif block.get("type") == "redacted_thinking" and block.get("data") not in self._redacted:
            raise _Invalid(f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block")

    @staticmethod
    def _check_final_assistant_thinking(messages: list[Mapping[str, Any]]) -> None:
        last = messages[-1]
        if last.get("role") != "user" or not any(
            b.get("type") == "tool_result" for b in _blocks(last.get("content"))
        ):
            return
        for i in range(len(messages) - 1, -1, -1):
            if messages[i].get("role") != "assistant":
                continue
            blocks = _blocks(messages[i].get("content"))
            first = blocks[0].get("type") if blocks else "nothing"
            if first not in ("thinking", "redacted_thinking"):
                raise _Invalid(
                    f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. "
                    "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
                    "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
                    "thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult "
                    "our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                )
            return

    # -- usage and prompt caching -----------------------------------------------------------

    def _usage(self, body: Mapping[str, Any], scripted: Reply) -> dict[str, int]:
        blocks = list(_all_blocks(body))
        boundaries: list[tuple[str, int]] = []  # (prefix hash, prefix tokens) after each block
        digest = hashlib.sha256(str(body.get("model")).encode())
        size = 0
        for block in blocks:
            raw = json.dumps(
                {k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True
            )
            digest.update(raw.encode())
            size += len(raw)
            boundaries.append((digest.hexdigest(), size // 4))
        total = max(1, size // 4)
        marks = [i for i, b in enumerate(blocks) if "cache_control" in b]
        read = 0
        for mark in marks:
            for k in range(mark, max(-1, mark - CACHE_LOOKBACK_BLOCKS - 1), -1):
                if boundaries[k][0] in self._cache:
                    read = max(read, boundaries[k][1])
                    break
        written = max((boundaries[m][1] for m in marks), default=0)
        creation = max(0, written - read)
        for mark in marks:
            self._cache.add(boundaries[mark][0])
        output = scripted.output_tokens
        if output is None:
            output = max(1, sum(len(b.text) + len(b.input_json) for b in scripted.blocks) // 4)
        return {
            "input_tokens": max(0, total - read - creation),
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "output_tokens": output,
        }

    # -- responses --------------------------------------------------------------------------

    def _content(self, scripted: Reply) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for n, block in enumerate(scripted.blocks):
            if block.kind == "text":
                out.append({"type": "text", "text": block.text})
            elif block.kind == "thinking":
                sig = self.sign(block.text) if block.signature is None else block.signature
                out.append({"type": "thinking", "thinking": block.text, "signature": sig})
            elif block.kind == "redacted_thinking":
                self._redacted.add(block.text)
                out.append({"type": "redacted_thinking", "data": block.text})
            else:
                tool_id = block.id or f"toolu_fake{len(self.requests):03d}{n:02d}"
                out.append(
                    {
                        "type": "tool_use",
                        "id": tool_id,
                        "name": block.name,
                        "input": _loads(block.input_json),
                    }
                )
        return out

    def _message(
        self, body: Mapping[str, Any], scripted: Reply, usage: dict[str, int]
    ) -> dict[str, Any]:
        content = self._content(scripted)
        stop = scripted.stop_reason or (
            "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        )
        return {
            "id": f"msg_fake{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    async def _stream(
        self, request: web.Request, scripted: Reply, message: dict[str, Any]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "request-id": f"req_fake_{len(self.requests)}"})  # fmt: skip
        await response.prepare(request)
        events = list(_events(message, scripted))
        for sent, (name, data) in enumerate(events):
            if scripted.error_event_after is not None and sent >= scripted.error_event_after:
                err = {"type": "error", "error": {"type": scripted.error_type or "overloaded_error",
                                                  "message": scripted.message or "Overloaded"}}  # fmt: skip
                await response.write(_sse("error", err))
                break
            if scripted.end_after is not None and sent >= scripted.end_after:
                break
            await response.write(_sse(name, data))
        await response.write_eof()
        return response


def _thinking_on(body: Mapping[str, Any]) -> bool:
    param = body.get("thinking") or {}
    return param.get("type") in ("enabled", "adaptive")


def from_openai_script(script: Any, *, thinking_on: bool, n: int) -> Reply:
    """A :mod:`tests.fakes.fake_llm` reply as Claude would give it, so tests written for the
    OpenAI fake run on this wire unchanged. With thinking on, Claude opens every answer with a
    signed thinking block, so one is added."""
    from . import fake_llm

    if isinstance(script, str):
        script = fake_llm.text(script)
    if script.kind == "error":
        return replace(
            error(script.status, script.message, retry_after=script.retry_after), gate=script.gate
        )
    blocks: list[Block] = [thinking(f"Working out step {n}.")] if thinking_on else []
    if script.content:
        blocks.append(text(script.content))
    blocks.extend(tool_use(c.name, raw=c.arguments, id=c.id) for c in script.calls)
    stop = {"length": "max_tokens", "content_filter": "refusal"}.get(script.finish_reason or "")
    return Reply(blocks=tuple(blocks), stop_reason=stop, gate=script.gate,
                 output_tokens=script.completion_tokens)  # fmt: skip


def openai_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Messages-API request seen as chat-completions messages (for provider-agnostic asserts)."""
    messages: list[dict[str, Any]] = []
    system = _blocks(body.get("system"))
    if system:
        messages.append({"role": "system", "content": "".join(b.get("text", "") for b in system)})
    for msg in body.get("messages") or []:
        blocks = _blocks(msg.get("content"))
        texts = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        if msg.get("role") == "assistant":
            calls = [{"id": b["id"], "type": "function",
                      "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {})}}
                     for b in blocks if b.get("type") == "tool_use"]  # fmt: skip
            out: dict[str, Any] = {"role": "assistant", "content": texts or None}
            if calls:
                out["tool_calls"] = calls
            messages.append(out)
            continue
        for b in blocks:
            if b.get("type") == "tool_result":
                content = b.get("content")
                if isinstance(content, list):
                    content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
                messages.append(
                    {"role": "tool", "tool_call_id": b.get("tool_use_id"), "content": content}
                )
        if texts or not any(b.get("type") == "tool_result" for b in blocks):
            messages.append({"role": "user", "content": texts})
    return {"model": body.get("model"), "messages": messages, "tools": body.get("tools") or []}


def _events(message: dict[str, Any], scripted: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
    """The documented event sequence for one message."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    size = scripted.chunk_size
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "text":
            yield _block_start(index, {"type": "text", "text": ""})
            for piece in _split(block["text"], size):
                yield _delta(index, {"type": "text_delta", "text": piece})
        elif kind == "thinking":
            yield _block_start(index, {"type": "thinking", "thinking": "", "signature": ""})
            for piece in _split(block["thinking"], size):
                yield _delta(index, {"type": "thinking_delta", "thinking": piece})
            yield _delta(index, {"type": "signature_delta", "signature": block["signature"]})
        elif kind == "redacted_thinking":
            yield _block_start(index, dict(block))
        else:
            yield _block_start(
                index, {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            )
            raw = json.dumps(block["input"])
            for piece in _split(raw, size):
                yield _delta(index, {"type": "input_json_delta", "partial_json": piece})
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                            "usage": {"output_tokens": usage["output_tokens"]}}  # fmt: skip
    yield "message_stop", {"type": "message_stop"}


def _block_start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_start", {
        "type": "content_block_start",
        "index": index,
        "content_block": block,
    }


def _delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _sse(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _split(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)] or [""]


def _loads(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return {}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _all_blocks(body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Blocks in cache-prefix order: tools, system, then messages."""
    yield from (t for t in body.get("tools") or [] if isinstance(t, dict))
    yield from _blocks(body.get("system"))
    for msg in body.get("messages") or []:
        for block in _blocks(msg.get("content")):
            yield {"role": msg.get("role"), **block}


def with_gate(r: Reply, gate: asyncio.Event) -> Reply:
    """``r`` held until the test sets ``gate`` (pins "the call is in flight" without sleeps)."""
    return replace(r, gate=gate)
