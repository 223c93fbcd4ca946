"""Language models for the engine: routing, calls, stream assembly, thinking, caching, cost.

One module per concern — :mod:`.routing` (which host and key), :mod:`.client` (the call, retries
and heals), :mod:`.transport` (litellm or the lean OpenAI-compatible client, one shared HTTP
session), :mod:`.openai_wire` (that client's request body and SSE parsing), :mod:`.model_map`
(litellm's prices and context windows read as JSON), :mod:`.result` (assembling what came back), :mod:`.textcalls` (tool calls written as
text), :mod:`.effort` (reasoning effort per provider), :mod:`.caching` (prompt caching and what
each provider may see of the history), :mod:`.pricing` (cost and context windows),
:mod:`.errors` (what a failure means and what to tell a person).
"""

from .client import LLMClient, context_window, count_tokens, get_litellm, resolve_model_params
from .errors import CONTEXT_OVERFLOW, LLMError, classify
from .pricing import describe_llm_usage, record_llm_call
from .result import LLMResult

__all__ = [
    "CONTEXT_OVERFLOW",
    "LLMClient",
    "LLMError",
    "LLMResult",
    "classify",
    "context_window",
    "count_tokens",
    "describe_llm_usage",
    "get_litellm",
    "record_llm_call",
    "resolve_model_params",
]
