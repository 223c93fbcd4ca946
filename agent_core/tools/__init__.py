"""The agent's tools. See :mod:`agent_core.tools.catalog` for the list."""

from .base import Services, ToolContext, ToolSpec, cap_output
from .router import ToolRouter

__all__ = ["Services", "ToolContext", "ToolSpec", "ToolRouter", "cap_output"]
