"""Which host a model id goes to, and with which key — one rule, decided before anything is sent.

The rule (in order; the first that matches wins):

1. ``huggingface/<org>/<model>[:tag]`` → the Hugging Face router (prefix stripped).
2. A litellm provider prefix that is *not* also a Hub organisation (``gemini/``, ``groq/``,
   ``ollama/`` …) → that provider, exactly as litellm would route it.
3. ``openai/…`` and ``anthropic/…`` are both litellm prefixes and Hub organisations
   (``openai/gpt-oss-120b``, ``anthropic/claude-opus-4.8:fal-ai`` are router ids). They go to the
   provider only when the id has no ``:provider`` tag and either litellm's price map knows the
   model for that provider (``anthropic/claude-sonnet-4-5``, ``openai/gpt-4o-mini``) or the
   provider's base URL was pointed somewhere on purpose (``OPENAI_API_BASE``,
   ``ANTHROPIC_API_BASE``/``ANTHROPIC_BASE_URL`` — a local vLLM, a proxy, a test fake).
   Anything else → the router.
4. Any other ``org/model[:tag]`` → the router.
5. An id without ``/`` (``gpt-4o-mini``, ``claude-sonnet-4-5``) → the provider litellm infers.

The router's URL is ``ML_INTERN_HF_ROUTER_URL``, else the config's ``hf_router_url``. Keys never
cross hosts: the router gets only an HF token (``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN`` or the
token ``hf auth login`` cached), OpenAI only ``OPENAI_API_KEY``, Anthropic only
``ANTHROPIC_API_KEY``. A missing key is a :class:`~.errors.LLMError` of kind ``auth`` raised here,
before any request, naming the variable to set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from ..config import Config
from ..tools.http_util import hf_token
from . import model_map
from .errors import AUTH, LLMError

ROUTER = "hf_router"
ROUTER_URL_ENV = "ML_INTERN_HF_ROUTER_URL"
LOCAL_PLACEHOLDER_KEY = "sk-local-no-key-required"

# litellm provider prefixes (those a user may plausibly write; litellm knows more).
PROVIDER_PREFIXES = frozenset(
    """openai anthropic azure azure_ai gemini vertex_ai bedrock ollama ollama_chat groq mistral
    together_ai deepseek fireworks_ai openrouter xai cohere perplexity hosted_vllm lm_studio
    vllm cerebras nvidia_nim sambanova databricks watsonx text-completion-openai litellm_proxy
    custom_openai friendliai cloudflare replicate ai21 nlp_cloud deepinfra anyscale moonshot
    novita nebius dashscope""".split()
)
# Prefixes that are also organisations on the Hub: ambiguous, resolved by rule 3.
SHARED_WITH_HUB = frozenset({"openai", "anthropic"})
# Routes whose wire is OpenAI's chat completions at a known base URL: the fast path can carry
# them (:mod:`.transport`); every other provider goes through litellm.
OPENAI_WIRE_PROVIDERS = frozenset({ROUTER, "openai"})
OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"
# Providers whose keys the engine checks itself (others: litellm.validate_environment).
_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
_BASE_ENV = {
    "openai": ("OPENAI_API_BASE", "OPENAI_BASE_URL"),
    "anthropic": ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"),
}


@dataclass(frozen=True)
class Route:
    """Where one model id goes. ``kwargs`` is what litellm needs on top of the request."""

    model: str
    """The id as the user wrote it (``huggingface/`` stripped)."""
    provider: str
    """``hf_router``, ``anthropic``, ``openai`` or another litellm provider name."""
    litellm_model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    key_env: str | None = None
    """The variable a person sets to fix a missing or rejected key."""
    local: bool = False
    """An OpenAI-compatible server of the user's own (no effort, no prompt_cache_key)."""
    router_tag: str | None = None
    """The ``:provider`` / ``:policy`` suffix of a router id (``fal-ai``, ``fastest``)."""

    @property
    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.litellm_model}
        if self.api_base:
            out["api_base"] = self.api_base
        if self.api_key:
            out["api_key"] = self.api_key
        return out

    @property
    def hub_id(self) -> str:
        """The router id without its ``:tag`` (what the price map and context tables key on)."""
        return self.model.split(":", 1)[0]


def router_url(config: Config) -> str:
    return (os.environ.get(ROUTER_URL_ENV) or config.hf_router_url).rstrip("/")


def resolve(model: str, config: Config, *, require_key: bool = True) -> Route:
    """Apply the routing rule to ``model``. Raises ``LLMError(auth)`` for a missing key."""
    model = model.strip()
    if model.startswith("huggingface/"):
        return _router(model[len("huggingface/") :], config, require_key)
    prefix, _, rest = model.partition("/")
    if not rest:
        return _inferred(model, require_key)
    if prefix in SHARED_WITH_HUB:
        if ":" not in rest and (_base_override(prefix) or _known_to_litellm(prefix, rest)):
            return _direct(prefix, model, require_key)
        return _router(model, config, require_key)
    if prefix in PROVIDER_PREFIXES:
        return _other_provider(prefix, model, require_key)
    return _router(model, config, require_key)


def _router(model: str, config: Config, require_key: bool) -> Route:
    token = hf_token()
    if token is None and require_key:
        raise missing_key("HF_TOKEN", model, "Hugging Face router models (or run `hf auth login`)")
    tag = model.split(":", 1)[1] if ":" in model else None
    return Route(model=model, provider=ROUTER, litellm_model=f"openai/{model}",
                 api_base=router_url(config), api_key=token, key_env="HF_TOKEN", router_tag=tag)  # fmt: skip


def _direct(provider: str, model: str, require_key: bool) -> Route:
    base = _base_override(provider)
    key_env = _KEY_ENV[provider]
    key = os.environ.get(key_env, "").strip() or None
    local = provider == "openai" and base is not None and _is_private(base)
    if key is None and local:
        key = LOCAL_PLACEHOLDER_KEY  # vLLM/Ollama/LM Studio accept anything; the SDK needs a value
    if key is None and require_key:
        raise missing_key(key_env, model, f"{provider} models")
    return Route(model=model, provider=provider, litellm_model=model, api_base=base, api_key=key,
                 key_env=key_env, local=local)  # fmt: skip


def _other_provider(provider: str, model: str, require_key: bool) -> Route:
    if require_key:
        _check_litellm_env(model)
    local = provider in ("ollama", "ollama_chat", "lm_studio", "hosted_vllm", "vllm")
    return Route(model=model, provider=provider, litellm_model=model, local=local)


def _inferred(model: str, require_key: bool) -> Route:
    provider = _litellm_provider(model)
    if provider in _KEY_ENV:
        return _direct(provider, f"{provider}/{model}", require_key)
    if require_key:
        _check_litellm_env(model)
    return Route(model=model, provider=provider or "unknown", litellm_model=model)


def missing_key(env: str, model: str, what: str) -> LLMError:
    return LLMError(
        kind=AUTH,
        message=f"No API key for model `{model}`: set {env} (used for {what}) and restart the bot.",
        original=f"missing credentials: {env} is not set",
    )


def _base_override(provider: str) -> str | None:
    for name in _BASE_ENV.get(provider, ()):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _is_private(url: str) -> bool:
    import ipaddress

    host = urlparse(url).hostname or ""
    if host in ("localhost", "host.docker.internal") or host.endswith(".local"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


def _litellm() -> Any:
    from .client import get_litellm

    return get_litellm()


@lru_cache(maxsize=512)
def _known_to_litellm(provider: str, name: str) -> bool:
    """Whether litellm's map lists ``provider/name`` for that provider. ``openai/…`` is answered
    from the map read as JSON (:mod:`.model_map`; no litellm import on a router or OpenAI
    turn). ``anthropic/…`` asks litellm itself: its lookup also generalises unlisted Claude
    aliases (``claude-opus-4-1``), and that route needs litellm anyway."""
    if provider == "openai":
        return model_map.model_info(f"{provider}/{name}", provider) is not None
    try:
        info = _litellm().get_model_info(f"{provider}/{name}")
    except Exception:
        return False
    return info.get("litellm_provider") == provider


@lru_cache(maxsize=512)
def _litellm_provider(model: str) -> str | None:
    """The provider litellm infers for a bare id: the map's listing when it has one."""
    listed = model_map.provider_of(model)
    if listed is not None:
        return listed
    try:
        return str(_litellm().get_llm_provider(model)[1])
    except Exception:
        return None


def _check_litellm_env(model: str) -> None:
    try:
        report = _litellm().validate_environment(model=model)
    except Exception:
        return
    missing = report.get("missing_keys") or []
    if missing and not report.get("keys_in_environment"):
        raise missing_key(" / ".join(missing), model, f"`{model.split('/', 1)[0]}` models")
