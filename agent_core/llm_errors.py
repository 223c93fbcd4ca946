"""Moved to :mod:`agent_core.llm.errors`; kept until every importer uses the new path."""

from .llm.errors import *  # noqa: F403
from .llm.errors import CONTEXT_OVERFLOW, LLMError, classify  # noqa: F401
