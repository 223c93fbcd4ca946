"""Secret scrubbing applied to every event payload and history message before it is stored,
emitted, logged or posted. Upstream only scrubbed at upload time; we scrub at the source.
"""

from __future__ import annotations

import os
import re
from typing import Any

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"hf_[A-Za-z0-9]{30,}"), "[REDACTED_HF_TOKEN]"),
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"), "[REDACTED_SLACK_TOKEN]"),
    (re.compile(r"xapp-[A-Za-z0-9-]{10,}"), "[REDACTED_SLACK_TOKEN]"),
    (re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}"), "[REDACTED_PROVIDER_API_KEY]"),
    (re.compile(r"sk-(?!ant-)(?:proj-)?[A-Za-z0-9_-]{32,}"), "[REDACTED_PROVIDER_API_KEY]"),
    (re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"), "[REDACTED_GITHUB_TOKEN]"),
    (re.compile(r"github_pat_[A-Za-z0-9_]{36,}"), "[REDACTED_GITHUB_TOKEN]"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "[REDACTED_AWS_KEY_ID]"),
    (
        re.compile(r"(?i)\baws_secret_access_key\b\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{40}[\"']?"),
        "aws_secret_access_key=[REDACTED]",
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9_\-.=]{20,}"), "Bearer [REDACTED]"),
    (
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


def _literals() -> list[str]:
    vals = {os.environ.get(name, "") for name in SECRET_ENV_VARS} | _extra_literals
    return sorted((v for v in vals if len(v) >= 8), key=len, reverse=True)


def scrub_text(text: str) -> str:
    if not text:
        return text
    for literal in _literals():
        if literal in text:
            text = text.replace(literal, "[REDACTED]")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
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
