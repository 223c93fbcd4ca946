"""Which models a thread may switch to with ``model <id>``.

The model id decides where the bot sends the whole conversation (and which key it uses): an
arbitrary id let anyone in the channel point a session at ``ollama/x`` — a request to
``localhost:11434`` from the bot's host — or at a provider nobody configured. So a switch is
allowed only to ids matching ``allowed_models`` (``fnmatch`` patterns such as
``"anthropic/claude-*"``), or, when that list is empty, to the configured model and other ids
of the same provider. Ids are plain ``provider/name`` strings: no URLs, no whitespace.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+/-]{0,199}")


def provider_of(model: str) -> str:
    return model.split("/", 1)[0].lower() if "/" in model else ""


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
    if provider_of(model) != provider_of(configured):
        return (
            f"'{model}' is from another provider than the configured model ({configured}); "
            "an admin can allow it with the allowed_models setting"
        )
    return None
