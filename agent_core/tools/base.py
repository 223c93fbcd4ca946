"""What a tool is, what it gets when it runs, and how its output is bounded.

A tool is a :class:`ToolSpec`: a name, an OpenAI-style JSON schema, and an async handler that
returns ``(text, ok)``. Everything a handler may touch arrives in its :class:`ToolContext` —
no module-global state, so two sessions can run the same tool at once without sharing a plan,
a read-set or a cache they should not share (an upstream defect we do not repeat).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config
    from ..events import Event
    from ..policy import ApprovalRequirement
    from ..store import Store

ToolHandler = Callable[[dict[str, Any], "ToolContext"], Awaitable[tuple[str, bool]]]
CleanupHook = Callable[[], Awaitable[None]]


@dataclass
class Services:
    """Process-wide collaborators shared by every session (built once at startup).

    Fields are optional so a test can build only what it needs; a tool whose collaborator is
    missing returns a clear error instead of crashing.
    """

    store: Store | None = None
    config: Config | None = None
    hub: Any = None  # agent_core.hub.HubClient (huggingface_hub access, cached whoami)
    jobs: Any = None  # agent_core.jobs.JobWatcher
    notifier: Any = None  # gateways' NotificationService (notify tool)
    mcp: Any = None  # agent_core.tools.mcp_tools.MCPManager
    http: Any = None  # a shared httpx.AsyncClient for research tools
    state_dir: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolContext:
    """Everything one tool call may use. Built by the loop per call."""

    session_id: str
    tool_call_id: str
    origin: dict[str, Any]
    services: Services
    emit: Callable[[str, dict[str, Any]], Awaitable[Event]]
    cancel_event: asyncio.Event
    session_state: dict[str, Any]
    register_cleanup: Callable[[str, CleanupHook], None]
    model: str = ""

    async def log(self, text: str, tool: str = "", **extra: Any) -> None:
        """Emit a ``tool_log`` line for this call (shown compactly in the thread)."""
        await self.emit("tool_log", {"tool": tool or "system", "log": text, **extra})

    @property
    def config(self) -> Config:
        assert self.services.config is not None
        return self.services.config

    def workspace(self) -> Path:
        """This session's private directory (created on first use)."""
        path = session_workspace(self.services.state_dir, self.session_id)
        path.mkdir(parents=True, exist_ok=True)
        return path


def session_workspace(state_dir: Path | None, session_id: str) -> Path:
    """Where a session's files live; the one rule, shared with the Slack gateway, which saves
    the files people share there before the turn starts."""
    root = state_dir or Path.cwd() / ".ml-intern-state"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in session_id)
    return root / "workspaces" / safe


@dataclass
class ToolSpec:
    """One tool offered to the model.

    ``read_only`` marks tools the research sub-agent may call. ``approval`` lets a tool declare
    its own gate (MCP tools, bash); the built-in Hub tools are gated by :mod:`agent_core.policy`.
    ``key_argument`` names the argument shown in compact progress lines ("hf_jobs run a10g").
    """

    name: str
    description: str
    parameters: dict[str, Any]
    handler: ToolHandler
    read_only: bool = False
    approval: Callable[[dict[str, Any], Config], ApprovalRequirement | None] | None = None
    output_cap: int | None = None
    timeout_s: float | None = None
    key_argument: str | None = None

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def cap_output(text: str, limit: int, hint: str = "") -> str:
    """Keep the head and the tail of an over-long output, saying how much was cut.

    The tail usually holds the error or the result, so it gets the larger share.
    """
    if limit <= 0 or len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    cut = len(text) - head - tail
    note = f"\n\n…[{cut} characters cut{'; ' + hint if hint else ''}]…\n\n"
    return text[:head] + note + text[-tail:]
