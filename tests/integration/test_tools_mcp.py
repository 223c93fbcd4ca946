"""MCP manager against the fake MCP server: stdio and streamable HTTP happy paths, a server
down at start (reported once, others keep working), connect and call timeouts, approval class,
read-only marking, name sanitising and the skipped upstream names."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pytest  # noqa: E402
from aiohttp import web  # noqa: E402

from agent_core import policy  # noqa: E402
from agent_core.config import Config  # noqa: E402
from agent_core.tools import catalog, mcp_tools  # noqa: E402
from agent_core.tools.base import Services  # noqa: E402
from agent_core.tools.mcp_tools import MCPManager, sanitize_tool_name  # noqa: E402
from agent_core.tools.router import ToolRouter  # noqa: E402
from tests.fakes.mcp_server import serve_http  # noqa: E402
from tests.fakes.server import FakeServer  # noqa: E402
from tests.tool_harness import make_harness  # noqa: E402

STDIO = {
    "command": sys.executable,
    "args": ["-m", "tests.fakes.mcp_server", "--stdio"],
    "cwd": str(REPO_ROOT),
}


def config(servers: dict, **tools) -> Config:
    return Config.model_validate(
        {"model_name": "openai/fake", "mcpServers": servers, "tools": tools}
    )


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
async def http_url():
    async with serve_http() as url:
        yield url


async def test_stdio_and_http_happy_path(http_url, tmp_path):
    manager = MCPManager(config({"local": STDIO, "remote": {"url": http_url}}), log_dir=tmp_path)
    try:
        await manager.start()
        assert manager.failures == {}
        services = Services(config=manager.config, mcp=manager)
        router = ToolRouter(mcp_tools.tools(services))
        names = set(router.names)
        assert {"local__add", "local__slow", "local__fail", "remote__add", "remote__slow"} <= names
        assert not any("hf_whoami" in n for n in names)
        spec = router.get("remote__add")
        assert spec.parameters["type"] == "object" and "a" in spec.parameters["properties"]
        assert "[MCP server 'remote']" in spec.description
        h = make_harness(tmp_path)
        assert await router.call("local__add", {"a": 1, "b": 2}, h.ctx) == ("3", True)
        assert await router.call("remote__add", {"a": 1, "b": 2.5}, h.ctx) == ("3.5", True)
        text, ok = await router.call("local__fail", {}, h.ctx)
        assert not ok and "fail" in text
        status = manager.status()
        assert status["local"]["connected"] and status["remote"]["tools"] == 3
    finally:
        await manager.close()


async def test_server_down_at_start_reported_once(http_url, tmp_path, caplog):
    servers = {
        "good": {"url": http_url},
        "nocmd": {"command": "/nonexistent/mcp-server-binary"},
        "refused": {"url": f"http://127.0.0.1:{closed_port()}/mcp"},
        "exits": {"command": sys.executable, "args": ["-c", "import sys; sys.exit(3)"]},
        "off": {"url": "http://127.0.0.1:1/mcp", "enabled": False},
    }
    manager = MCPManager(config(servers, mcp_connect_timeout_s=20))
    caplog.set_level(logging.WARNING, logger="agent_core.tools.mcp_tools")
    try:
        await manager.start()
        assert set(manager.failures) == {"nocmd", "refused", "exits"}
        assert "off" not in manager.status()
        warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(warnings) == 3
        names = [s.name for s in manager.tool_specs()]
        assert names and all(n.startswith("good__") for n in names)
        assert await manager.call("good", "add", {"a": 2, "b": 2}) == ("4", True)
        text, ok = await manager.call("refused", "add", {})
        assert not ok and "unavailable" in text
        await manager.start()  # idempotent: no second report
        assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 3
    finally:
        await manager.close()


async def test_connect_timeout(tmp_path):
    # a stdio "server" that never answers the handshake
    silent = {"command": sys.executable, "args": ["-c", "import sys\nfor _ in sys.stdin: pass"]}
    manager = MCPManager(config({"silent": silent}, mcp_connect_timeout_s=0.5))
    try:
        await manager.start()
        assert "did not connect within" in manager.failures["silent"]
        assert manager.tool_specs() == []
    finally:
        await manager.close()


async def test_call_timeout_then_server_still_usable(http_url, tmp_path):
    manager = MCPManager(config({"remote": {"url": http_url}}, mcp_timeout_s=0.5))
    try:
        await manager.start()
        router = ToolRouter(manager.tool_specs())
        h = make_harness(tmp_path)
        text, ok = await router.call("remote__slow", {"seconds": 30}, h.ctx)
        assert not ok and "timed out" in text
        assert await router.call("remote__add", {"a": 1, "b": 1}, h.ctx) == ("2", True)
    finally:
        await manager.close()


async def test_approval_and_read_only(http_url):
    servers = {"open": {"url": http_url}, "gated": {"url": http_url, "needs_approval": True}}
    manager = MCPManager(config(servers))
    try:
        await manager.start()
        specs = {s.name: s for s in manager.tool_specs()}
        cfg = manager.config
        assert specs["open__add"].read_only  # readOnlyHint and no approval
        assert not specs["open__slow"].read_only  # no hint → not for the research agent
        assert policy.decide("open__add", {"a": 1}, cfg, {}, "c", spec=specs["open__add"]) is None
        req = policy.decide("gated__add", {"a": 1, "b": 2}, cfg, {}, "c", spec=specs["gated__add"])
        assert req.required and req.approval_class == policy.MCP and "gated/add" in req.reason
        assert not specs["gated__add"].read_only
    finally:
        await manager.close()
    # the global switch gates every server that does not say otherwise
    manager = MCPManager(config({"s": {"url": http_url}}, mcp_tools_need_approval=True))
    try:
        await manager.start()
        spec = next(s for s in manager.tool_specs() if s.name == "s__add")
        req = policy.decide(spec.name, {}, manager.config, {}, "c", spec=spec)
        assert req.required and req.approval_class == policy.MCP
    finally:
        await manager.close()


def test_sanitize_tool_name():
    assert sanitize_tool_name("hf.co server", "repo/search") == "hf_co_server__repo_search"
    a = sanitize_tool_name("s" * 40, "tool_" + "x" * 40 + "a")
    b = sanitize_tool_name("s" * 40, "tool_" + "x" * 40 + "b")
    assert len(a) <= 64 and len(b) <= 64 and a != b


def test_provider_without_manager():
    assert mcp_tools.tools(Services()) == []
    assert "agent_core.tools.mcp_tools" in catalog.PROVIDERS


class NotAnMcpServer(FakeServer):
    """Answers every ``/mcp`` request with a 500, recording the Authorization header."""

    def __init__(self) -> None:
        super().__init__()
        self.authorizations: list[str | None] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/mcp", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization"))
        return web.Response(status=500, text="not an MCP server")


async def test_hf_token_only_sent_to_hub_origin_mcp(monkeypatch, tmp_path):
    hub_server, other_server = await NotAnMcpServer().start(), await NotAnMcpServer().start()
    seen = {"hub": hub_server.authorizations, "other": other_server.authorizations}
    hub, other = hub_server.http_url, other_server.http_url
    monkeypatch.setenv("HF_ENDPOINT", hub)
    monkeypatch.setenv("HF_TOKEN", "hf_" + "t" * 34)
    servers = {
        "hub": {"url": f"{hub}/mcp"},
        "other": {"url": f"{other}/mcp"},
    }
    services = Services(config=config(servers, mcp_connect_timeout_s=10), state_dir=tmp_path)
    try:
        manager = await mcp_tools.start_mcp(services)
        assert services.mcp is manager and set(manager.failures) == {"hub", "other"}
        assert seen["hub"] and all(a == "Bearer hf_" + "t" * 34 for a in seen["hub"])
        assert seen["other"] and all(a is None for a in seen["other"])
        await manager.close()
    finally:
        await hub_server.stop()
        await other_server.stop()
    assert await mcp_tools.start_mcp(Services(config=config({}))) is None
