"""MCP servers from ``config.mcpServers``, exposed as tools named ``<server>__<tool>``.

:class:`MCPManager` connects every configured server at startup, concurrently, each bounded by
``tools.mcp_connect_timeout_s``. A server that fails (bad command, refused connection, handshake
error, timeout) is logged once, kept in :attr:`MCPManager.failures` for status displays, and
skipped — the others and the rest of the agent keep working (upstream dropped *all* MCP tools
when one server failed). Each call is bounded by ``tools.mcp_timeout_s``.

Config entries (``${VAR}`` already substituted by the config loader)::

    "mcpServers": {
      "local":  {"command": "python", "args": ["-m", "my_server"], "env": {"KEY": "…"}},
      "remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer …"},
                 "needs_approval": true}
    }

Optional per-server keys: ``needs_approval`` (overrides ``tools.mcp_tools_need_approval``),
``enabled`` (false → skipped silently), ``cwd`` (stdio). Stdio servers get the SDK's minimal
default environment plus ``env`` — never our tokens. A remote server on the Hub's own origin
gets the HF token as a bearer (as upstream's ``hf-mcp-server``) unless it sets its own
``Authorization``; no other server ever gets it.

Approval and the research agent: a tool of a server that needs approval gets approval class
``mcp``. A tool is ``read_only`` (usable by the research sub-agent) only when its server does
not need approval *and* the server marks it ``readOnlyHint``.

Tools named ``hf_jobs``, ``hf_doc_search``, ``hf_doc_fetch`` and ``hf_whoami`` are skipped: the
agent has its own, and a remote twin of ``hf_jobs`` would bypass the jobs approval rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .. import policy
from ..policy import ApprovalRequirement
from .base import Services, ToolContext, ToolSpec
from .http_util import hf_token, hub_endpoint, same_origin

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger(__name__)

SKIPPED_TOOL_NAMES = frozenset({"hf_jobs", "hf_doc_search", "hf_doc_fetch", "hf_whoami"})
MAX_TOOL_NAME = 64
MAX_LIST_PAGES = 20
_NAME_BAD = re.compile(r"[^a-zA-Z0-9_-]")


def sanitize_tool_name(server: str, tool: str) -> str:
    """``<server>__<tool>`` restricted to ``[a-zA-Z0-9_-]`` and ≤64 chars (OpenAI's rule).

    Over-long names keep a short hash of the full name so two long names stay distinct.
    """
    name = _NAME_BAD.sub("_", f"{server}__{tool}")
    if len(name) <= MAX_TOOL_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_TOOL_NAME - 9]}_{digest}"


@dataclass
class MCPServerState:
    """One configured server: its connection task, client, tool list and health."""

    name: str
    spec: dict[str, Any]
    needs_approval: bool
    tools: list[Any] = field(default_factory=list)
    client: Any = None
    error: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class MCPManager:
    """Owns the MCP client connections for the process. Build once, ``start``, ``close``."""

    def __init__(self, config: Config, log_dir: Path | None = None):
        self.config = config
        self.log_dir = log_dir
        self.failures: dict[str, str] = {}
        self._servers: dict[str, MCPServerState] = {}
        self._started = False
        self._errlogs: list[TextIO] = []

    # ------------------------------------------------------------------ lifecycle
    @property
    def connect_timeout_s(self) -> float:
        return float(self.config.tools.mcp_connect_timeout_s)

    @property
    def call_timeout_s(self) -> float:
        return float(self.config.tools.mcp_timeout_s)

    async def start(self) -> None:
        """Connect all enabled servers concurrently; failures are recorded, never raised."""
        if self._started:
            return
        self._started = True
        default_approval = bool(self.config.tools.mcp_tools_need_approval)
        for name, raw in (self.config.mcpServers or {}).items():
            spec = dict(raw or {})
            if spec.get("enabled", True) is False:
                continue
            needs = spec.get("needs_approval")
            self._servers[name] = MCPServerState(
                name=name,
                spec=spec,
                needs_approval=default_approval if needs is None else bool(needs),
            )
        await asyncio.gather(*(self._connect(s) for s in self._servers.values()))

    async def close(self) -> None:
        """Ask every connection task to exit its client context, then wait (bounded)."""
        tasks = []
        for state in self._servers.values():
            state.stop.set()
            if state.task is not None:
                tasks.append(state.task)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=10)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        for fh in self._errlogs:
            with contextlib.suppress(OSError):
                fh.close()
        self._errlogs.clear()

    def status(self) -> dict[str, Any]:
        """Per-server health for a status command: connected tool counts and failures."""
        return {
            name: {
                "connected": s.client is not None and s.error is None,
                "tools": len(s.tools),
                "error": s.error,
            }  # fmt: skip
            for name, s in self._servers.items()
        }

    # ------------------------------------------------------------------ connecting
    def _fail(self, state: MCPServerState, message: str) -> None:
        if state.name in self.failures:
            return
        state.error = message
        self.failures[state.name] = message
        log.warning("MCP server %r unavailable, skipped: %s", state.name, message)

    async def _connect(self, state: MCPServerState) -> None:
        state.task = asyncio.create_task(self._run(state), name=f"mcp:{state.name}")
        try:
            await asyncio.wait_for(state.ready.wait(), self.connect_timeout_s)
        except TimeoutError:
            self._fail(state, f"did not connect within {self.connect_timeout_s:.0f}s")
            state.task.cancel()
            with contextlib.suppress(BaseException):
                await state.task
            return
        if state.error:
            self._fail(state, state.error)

    def _errlog(self, name: str) -> TextIO:
        """Where a stdio server's stderr goes: a per-server file in ``log_dir``, else devnull."""
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            fh = open(self.log_dir / f"mcp-{_NAME_BAD.sub('_', name)}.log", "a")  # noqa: SIM115
        else:
            fh = open(os.devnull, "w")  # noqa: SIM115
        self._errlogs.append(fh)
        return fh

    async def _transport(self, state: MCPServerState, stack: AsyncExitStack) -> Any:
        from mcp.client.stdio import StdioServerParameters, stdio_client
        from mcp.client.streamable_http import streamable_http_client

        spec = state.spec
        transport = str(spec.get("transport") or spec.get("type") or "").lower()
        if spec.get("command"):
            params = StdioServerParameters(
                command=str(spec["command"]),
                args=[str(a) for a in spec.get("args") or []],
                env={str(k): str(v) for k, v in (spec.get("env") or {}).items()} or None,
                cwd=spec.get("cwd"),
            )
            return stdio_client(params, errlog=self._errlog(state.name))
        if spec.get("url"):
            if transport == "sse":
                raise ValueError("the legacy SSE transport is not supported; use streamable HTTP")
            from mcp.shared._httpx_utils import create_mcp_http_client

            url = str(spec["url"])
            headers = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}
            token = hf_token()
            has_auth = any(k.lower() == "authorization" for k in headers)
            if token and not has_auth and same_origin(url, hub_endpoint()):
                headers["Authorization"] = f"Bearer {token}"
            http = await stack.enter_async_context(create_mcp_http_client(headers=headers or None))
            return streamable_http_client(url, http_client=http)
        raise ValueError("needs either 'command' (stdio) or 'url' (streamable HTTP)")

    async def _run(self, state: MCPServerState) -> None:
        """Hold one client open for the process lifetime (the SDK's task groups must be entered
        and exited by the same task, so every connection lives in its own task)."""
        from mcp import Client

        try:
            async with AsyncExitStack() as stack:
                transport = await self._transport(state, stack)
                client = await stack.enter_async_context(
                    Client(transport, read_timeout_seconds=self.call_timeout_s)
                )
                tools: list[Any] = []
                cursor: str | None = None
                for _ in range(MAX_LIST_PAGES):
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
                state.tools = [t for t in tools if t.name not in SKIPPED_TOOL_NAMES]
                state.client = client
                state.ready.set()
                await state.stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # ExceptionGroup from the SDK's task groups included
            state.error = _describe(exc)
            state.client = None
        finally:
            state.client = None if state.error else state.client
            state.ready.set()

    # ------------------------------------------------------------------ tools
    def tool_specs(self) -> list[ToolSpec]:
        specs: list[ToolSpec] = []
        used: set[str] = set()
        for state in self._servers.values():
            if state.error or state.client is None:
                continue
            for tool in state.tools:
                name = sanitize_tool_name(state.name, tool.name)
                if name in used:
                    log.warning(
                        "MCP tool name clash %s; %s/%s skipped", name, state.name, tool.name
                    )
                    continue
                used.add(name)
                specs.append(self._spec(state, tool, name))
        return specs

    def _spec(self, state: MCPServerState, tool: Any, name: str) -> ToolSpec:
        schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
        schema = dict(schema) or {"type": "object", "properties": {}}
        schema.setdefault("type", "object")
        annotations = getattr(tool, "annotations", None)
        read_only_hint = bool(getattr(annotations, "read_only_hint", False))
        description = (tool.description or tool.title or tool.name).strip()
        server, remote = state.name, tool.name

        async def handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
            return await self.call(server, remote, args)

        approval = None
        if state.needs_approval:

            def approval(args: dict[str, Any], config: Any) -> ApprovalRequirement:
                shown = json.dumps(args, ensure_ascii=False, sort_keys=True)
                shown = shown if len(shown) <= 300 else shown[:300] + "…"
                return ApprovalRequirement(True, policy.MCP, f"MCP {server}/{remote} {shown}")

        return ToolSpec(
            name=name,
            description=f"[MCP server '{server}'] {description}"[:1024],
            parameters=schema,
            handler=handler,
            read_only=read_only_hint and not state.needs_approval,
            approval=approval,
            timeout_s=self.call_timeout_s + 5.0,
        )

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> tuple[str, bool]:
        """Call one remote tool, bounded by ``mcp_timeout_s``; errors come back as text."""
        state = self._servers.get(server)
        if state is None or state.client is None or state.error:
            why = state.error if state and state.error else "not connected"
            return f"ERROR: MCP server '{server}' is unavailable ({why})", False
        timeout = self.call_timeout_s
        try:
            result = await asyncio.wait_for(
                state.client.call_tool(tool, args or {}, read_timeout_seconds=timeout),
                timeout + 1.0,
            )
        except TimeoutError:
            return f"ERROR: MCP tool {server}/{tool} timed out after {timeout:.0f}s", False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            text = _describe(exc)
            if "timed out" in text.lower():
                return f"ERROR: MCP tool {server}/{tool} timed out after {timeout:.0f}s", False
            return f"ERROR: MCP tool {server}/{tool} failed: {text}", False
        return render_result(result), not bool(getattr(result, "is_error", False))


def _describe(exc: BaseException) -> str:
    """The innermost useful message (the SDK wraps failures in exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def render_result(result: Any) -> str:
    """MCP content blocks as text: text verbatim, images/audio as a short note, resources by
    their text or URI; structured content as JSON when there is no text."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            size = len(getattr(block, "data", "") or "") * 3 // 4
            parts.append(f"[{kind}: {getattr(block, 'mime_type', '?')}, ~{size} bytes]")
        elif kind == "resource":
            res = block.resource
            parts.append(getattr(res, "text", None) or f"[resource {getattr(res, 'uri', '')}]")
        elif kind == "resource_link":
            parts.append(f"[resource link {getattr(block, 'uri', '')}]")
        else:
            parts.append(str(block))
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False, indent=2))
    return "\n".join(parts) or "(no output)"


async def start_mcp(services: Services, log_dir: Path | None = None) -> MCPManager | None:
    """Build, start and install the manager in ``services.mcp`` (call before building the
    tool router, so MCP tools are in it). None when no server is configured."""
    config = services.config
    if config is None or not config.mcpServers:
        return None
    if log_dir is None and services.state_dir is not None:
        log_dir = services.state_dir / "logs"
    manager = MCPManager(config, log_dir=log_dir)
    await manager.start()
    services.mcp = manager
    return manager


def tools(services: Services) -> list[ToolSpec]:
    """The provider hook: whatever the started manager in ``services.mcp`` offers."""
    manager = services.mcp
    if manager is None or not hasattr(manager, "tool_specs"):
        return []
    return manager.tool_specs()
