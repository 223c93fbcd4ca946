"""Secret scrubbing applied to every event payload and history message before it is stored,
emitted, logged or posted. Upstream only scrubbed at upload time; we scrub at the source.
"""

from __future__ import annotations

import os
import re
from typing import Any

# (needles, pattern, replacement): a pattern only runs when one of its needles occurs in the
# lower-cased text, so the common case — text with no secret in it — costs a few substring
# scans instead of a dozen regex passes.
_PATTERNS: list[tuple[tuple[str, ...], re.Pattern[str], str]] = [
    (("hf_",), re.compile(r"hf_[A-Za-z0-9]{30,}"), "[REDACTED_HF_TOKEN]"),
    (("xox",), re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"), "[REDACTED_SLACK_TOKEN]"),
    (("xapp-",), re.compile(r"xapp-[A-Za-z0-9-]{10,}"), "[REDACTED_SLACK_TOKEN]"),
    (("sk-ant-",), re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}"), "[REDACTED_PROVIDER_API_KEY]"),
    (
        ("sk-",),
        re.compile(r"sk-(?!ant-)(?:proj-)?[A-Za-z0-9_-]{32,}"),
        "[REDACTED_PROVIDER_API_KEY]",
    ),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"),
        "[REDACTED_GITHUB_TOKEN]",
    ),
    (("github_pat_",), re.compile(r"github_pat_[A-Za-z0-9_]{36,}"), "[REDACTED_GITHUB_TOKEN]"),
    (("akia", "asia"), re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "[REDACTED_AWS_KEY_ID]"),
    (
        ("aws_secret_access_key",),
        re.compile(r"(?i)\baws_secret_access_key\b\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{40}[\"']?"),
        "aws_secret_access_key=[REDACTED]",
    ),
    (("bearer",), re.compile(r"(?i)\bbearer\s+[A-Za-z0-9_\-.=]{20,}"), "Bearer [REDACTED]"),
    (
        ("token", "api_key", "secret", "password", "access_key_id"),
        re.compile(
            r"(?i)\b([A-Z0-9_]*(?:TOKEN|API_KEY|SECRET|PASSWORD|ACCESS_KEY_ID)[A-Z0-9_]*)"
            r"(\s*[=:]\s*)(?![\[\$<{])([\"']?)[^\s\"',;}]{6,}\3"
        ),
        r"\1\2[REDACTED]",
    ),
]

# Values of these environment variables are scrubbed verbatim wherever they appear, even if
# they do not match a known shape (a custom LLM key, a self-hosted token).
SECRET_ENV_VARS = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GITHUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "LLM_API_KEY",
)

_extra_literals: set[str] = set()


def register_secret(value: str | None) -> None:
    """Scrub this exact string everywhere from now on (tokens loaded from config files)."""
    if value and len(value) >= 8:
        _extra_literals.add(value)


_literal_cache: tuple[tuple[str, ...], list[str]] = ((), [])


def _literals() -> list[str]:
    """Secret values to scrub verbatim, longest first (recomputed only when they change)."""
    global _literal_cache
    key = tuple(os.environ.get(name, "") for name in SECRET_ENV_VARS) + tuple(
        sorted(_extra_literals)
    )
    if key != _literal_cache[0]:
        values = {v for v in key if len(v) >= 8}
        _literal_cache = (key, sorted(values, key=len, reverse=True))
    return _literal_cache[1]


def scrub_text(text: str) -> str:
    if not text:
        return text
    for literal in _literals():
        if literal in text:
            text = text.replace(literal, "[REDACTED]")
    lowered = text.lower()
    for needles, pattern, repl in _PATTERNS:
        if any(n in lowered for n in needles):
            text = pattern.sub(repl, text)
            lowered = text.lower()
    return text


def scrub(value: Any) -> Any:
    """Recursively scrub strings in dicts/lists/tuples; other values pass through untouched."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub(v) for v in value)
    return value
