"""A tiny MCP server (official ``mcp`` SDK, v2 ``MCPServer``) for the MCP manager tests.

Tools: ``add(a, b)`` (read-only hint), ``slow(seconds)`` (sleeps, for call timeouts),
``fail()`` (raises, so the result has ``is_error``), and ``hf_whoami()`` — a name the manager
must skip, as upstream did.

Run it:

* over stdio: ``python -m tests.fakes.mcp_server --stdio`` (what an ``mcpServers`` entry with
  ``command``/``args`` launches);
* over streamable HTTP in-process on a random loopback port::

      async with serve_http() as url:   # "http://127.0.0.1:PORT/mcp"
          ...

  The socket is bound and listening before ``serve_http`` yields, so a client can connect at
  once (connections queue in the backlog until uvicorn accepts them) — no readiness polling.
* over streamable HTTP as a process: ``python -m tests.fakes.mcp_server --http --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import anyio
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations


def build_server(name: str = "fake-mcp") -> MCPServer:
    server = MCPServer(name)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def add(a: float, b: float) -> str:
        """Add two numbers."""
        total = a + b
        return str(int(total) if total == int(total) else total)

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep for a while, then answer."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    def fail() -> str:
        """Always fails."""
        raise ValueError("this tool always fails")

    @server.tool()
    def hf_whoami() -> str:
        """A tool name the agent must not import (it has its own)."""
        return "nobody"

    return server


@contextlib.asynccontextmanager
async def serve_http(path: str = "/mcp") -> AsyncIterator[str]:
    """Serve the fake over streamable HTTP on 127.0.0.1 in this event loop; yield its URL."""
    import uvicorn

    app = build_server().streamable_http_app(streamable_http_path=path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, 10)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--stdio", action="store_true")
    mode.add_argument("--http", action="store_true")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = build_server()
    if args.stdio:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
