"""Which models a thread may switch to with ``model <id>``.

The model id decides where the bot sends the whole conversation (and which key it uses): an
arbitrary id let anyone in the channel point a session at ``ollama/x`` — a request to
``localhost:11434`` from the bot's host — or at a provider nobody configured. So a switch is
allowed only to ids matching ``allowed_models`` (``fnmatch`` patterns such as
``"anthropic/claude-*"``), or, when that list is empty, to the configured model and other ids
that route to the same provider (all Hub ids go to the HF router). Ids are plain ``provider/name`` strings: no URLs, no whitespace.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+/-]{0,199}")


def provider_of(model: str, config: Any) -> str:
    """Where ``model`` would be sent, by the one routing rule (``hf_router`` for Hub ids such
    as ``moonshotai/Kimi-K2.6``, else the provider) — not its first path segment."""
    from .llm.routing import resolve  # the LLM layer decides routes; imported when checking

    try:
        return resolve(model, config, require_key=False).provider
    except Exception:  # noqa: BLE001 - an id the router cannot place is no provider at all
        return ""


def model_refusal(model: str, config: Any) -> str | None:
    """Why ``model`` may not be used in this deployment, or None when it may."""
    model = model.strip()
    configured = str(config.model_name)
    if model == configured:
        return None
    if not _MODEL_ID.fullmatch(model) or "://" in model or "//" in model:
        return f"'{model[:80]}' is not a model id (use provider/name, e.g. {configured})"
    patterns = list(getattr(config, "allowed_models", None) or [])
    if patterns:
        if any(fnmatchcase(model, p) for p in patterns):
            return None
        return f"'{model}' is not in this deployment's allowed models ({', '.join(patterns)})"
    if provider_of(model, config) != provider_of(configured, config):
        return (
            f"'{model}' is from another provider than the configured model ({configured}); "
            "an admin can allow it with the allowed_models setting"
        )
    return None
