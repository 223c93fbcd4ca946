"""The list of tool provider modules. Each exposes ``tools(services) -> list[ToolSpec]``.

Adding a tool family is one line here and one module beside it. A provider that cannot offer
its tools (missing optional config) returns an empty list rather than raising. Tools of other
layers (the ``notify`` tool of ``gateways``) are added by the host that runs that layer: the
engine never imports it.
"""

from __future__ import annotations

import importlib
import logging

from .base import Services, ToolSpec
from .router import ToolRouter

log = logging.getLogger(__name__)

PROVIDERS: list[str] = [
    "agent_core.tools.plan_tool",
    "agent_core.tools.workspace",
    "agent_core.tools.docs_tools",
    "agent_core.tools.github_tools",
    "agent_core.tools.web_search",
    "agent_core.tools.mcp_tools",
    "agent_core.tools.research_tool",
    "agent_core.tools.hf_jobs",
    "agent_core.tools.hf_datasets",
    "agent_core.tools.hf_repo_files",
    "agent_core.tools.hf_repo_git",
    "agent_core.tools.hf_papers",
    "agent_core.tools.hf_search",
]


def build_tools(services: Services, providers: list[str] | None = None) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for module_name in providers if providers is not None else PROVIDERS:
        module = importlib.import_module(module_name)
        specs.extend(module.tools(services))
    return specs


def build_router(services: Services, providers: list[str] | None = None) -> ToolRouter:
    cap = services.config.tools.output_cap_chars if services.config else 25_000
    return ToolRouter(build_tools(services, providers), default_cap=cap)
