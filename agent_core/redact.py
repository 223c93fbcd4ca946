"""Secret scrubbing applied to every event payload and history message before it is stored,
emitted, logged or posted. Upstream only scrubbed at upload time; we scrub at the source.
"""

from __future__ import annotations

import os
import re
from typing import Any

# A secret-named key and its separator (``HF_TOKEN=``, ``"api_key": ``, ``password: ``).
_KEY = (
    r"(?i)\b([A-Z0-9_]*(?:TOKEN(?!S)|API_KEY|SECRET|PASSWORD|ACCESS_KEY_ID)[A-Z0-9_]*)"
    r"([\"']?\s*[=:]\s*)"
)
_KEY_NEEDLES = ("token", "api_key", "secret", "password", "access_key_id")

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
        # GitHub's ``Authorization: token …``, Basic/Digest credentials, a bare header value.
        ("authorization",),
        re.compile(
            r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
            r"((?:token|basic|digest|bearer)\s+)?(?!(?:token|basic|digest|bearer)\s|\[REDACTED)"
            r"[^\s\"',;}]{6,}"
        ),
        r"\1\2[REDACTED]",
    ),
    (
        # A password in URL userinfo: ``https://user:secret@host/…`` keeps the user, not the secret.
        ("://",),
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@\[\]]+):(?!\[REDACTED\])[^\s@/]+@"),
        r"\1:[REDACTED]@",
    ),
    (
        # ``TOKEN = "literal"``: a quoted literal assigned to a secret-named key is a secret.
        _KEY_NEEDLES,
        re.compile(_KEY + r"""(["'])(?![\[\$<{])[^"'\s]{6,}\3"""),
        r"\1\2\3[REDACTED]\3",
    ),
    (
        # ``TOKEN=value`` unquoted: a secret-looking value (a digit in it, or 20+ characters),
        # never code (``token = os.environ["HF_TOKEN"]``, ``api_key=get_key()``): scrubbing
        # those mangled scripts the approver read and the job then ran.
        _KEY_NEEDLES,
        re.compile(
            _KEY + r"(?![\[\$<{\"'])(?=[^\s\"',;}()\[\]]*\d|[^\s\"',;}()\[\]]{20})"
            r"[^\s\"',;}()\[\]]{6,}(?![(\[.\w])"
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
    "SLACK_SIGNING_SECRET",
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
    return _scrub_text(text, _literals())


def _scrub_text(text: str, literals: list[str]) -> str:
    if not text:
        return text
    for literal in literals:
        if literal in text:
            text = text.replace(literal, "[REDACTED]")
    lowered = text.lower()
    for needles, pattern, repl in _PATTERNS:
        if any(n in lowered for n in needles):
            text = pattern.sub(repl, text)
            lowered = text.lower()
    return text


# A mapping key that names a secret: its string value is withheld whatever its shape
# (``{"WANDB_API_KEY": "0123abcd"}`` in a job's env, a ``password`` field in a tool's arguments).
_SECRET_KEY = re.compile(r"(?i)(?:^|[_-])(?:token|api_?key|secret|password|passwd|access_key_id)$")
_PLACEHOLDER = ("$", "[", "<", "{")


def _scrub_item(key: Any, value: Any, literals: list[str]) -> tuple[Any, Any]:
    if (
        isinstance(key, str)
        and isinstance(value, str)
        and len(value) >= 6
        and not value.startswith(_PLACEHOLDER)
        and _SECRET_KEY.search(key)
    ):
        return _scrub_text(key, literals), "[REDACTED]"
    key = _scrub_text(key, literals) if isinstance(key, str) else key
    return key, _scrub(value, literals)


def scrub(value: Any) -> Any:
    """Recursively scrub strings in dicts (keys too)/lists/tuples; other values pass through.

    The secret values to look for are read once per call, not once per string: reading the
    environment for every key of every event was the largest cost of a turn's scrubbing."""
    return _scrub(value, _literals())


def _scrub(value: Any, literals: list[str]) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, literals)
    if isinstance(value, dict):
        return dict(_scrub_item(k, v, literals) for k, v in value.items())
    if isinstance(value, list):
        return [_scrub(v, literals) for v in value]
    if isinstance(value, tuple):
        return tuple(_scrub(v, literals) for v in value)
    return value


def scrub_checked(value: Any) -> Any:
    """``scrub(value)`` for a value that usually holds nothing to scrub (a Slack event on the
    bot's ack path): its strings are scanned once, joined, and only if that finds something
    (or a secret-named key holds a value) is the value scrubbed string by string. A match in
    one string is a match in the joined text (no pattern is anchored, and the separator is a
    non-word whitespace character), so nothing is missed; it is ~5× faster when clean."""
    strings: list[str] = []
    if not _collect_strings(value, strings):
        return scrub(value)
    joined = "\n".join(strings)
    return value if scrub_text(joined) == joined else scrub(value)


def _collect_strings(value: Any, out: list[str]) -> bool:
    """Every string in ``value`` (keys too) into ``out``; False at a secret-named key."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                if isinstance(item, str) and _SECRET_KEY.search(key):
                    return False
                out.append(key)
            if not _collect_strings(item, out):
                return False
    elif isinstance(value, list | tuple):
        return all(_collect_strings(item, out) for item in value)
    return True


class StreamScrubber:
    """Scrubs a text that arrives in pieces (LLM deltas) so no secret survives the split.

    Scrubbing each delta alone lets a token cut over two deltas through in halves, and the
    halves, stored as separate events, rebuild it. This holds back the last
    :attr:`HOLD_WORDS` whitespace-separated words (every secret shape is at most three words:
    ``Authorization: token X``, ``KEY = value``, ``Bearer X``, one run for the rest) and releases
    a prefix ending on whitespace only if scrubbing it alone gives the same text as scrubbing it
    together with what follows, so no match can straddle the cut. A configured secret with
    whitespace in it makes the held tail at least that long. Releases are coalesced to at least
    :attr:`MIN_RELEASE` characters. ``feed`` returns the scrubbed text that is now final
    (possibly ``""``); ``flush`` the rest.
    """

    HOLD_WORDS = 3
    # Release at least this much at a time: a row per 4-character provider delta made five
    # answers 2,500 events; a Slack message is not edited faster than about once a second.
    MIN_RELEASE = 120

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, delta: str) -> str:
        self._pending += delta
        text = self._pending
        cut = _word_boundary_before(text, self.HOLD_WORDS)
        spaced = [len(v) for v in _literals() if any(c.isspace() for c in v)]
        if spaced:
            cut = min(cut, _space_end_at_or_before(text, len(text) - max(spaced) - 1))
        if cut < self.MIN_RELEASE:
            return ""
        whole = scrub_text(text)
        while cut > 0:
            head = scrub_text(text[:cut])
            if head + scrub_text(text[cut:]) == whole:
                self._pending = text[cut:]
                return head
            cut = _space_end_at_or_before(text, cut - 1)
        return ""

    def flush(self) -> str:
        out, self._pending = scrub_text(self._pending), ""
        return out


def _space_end_at_or_before(text: str, limit: int) -> int:
    """The largest ``i <= limit`` with ``text[i - 1]`` whitespace, or 0."""
    for i in range(min(limit, len(text)), 0, -1):
        if text[i - 1].isspace():
            return i
    return 0


def _word_boundary_before(text: str, words: int) -> int:
    """Where the last ``words`` whitespace-separated words (and the text after them) begin."""
    cut = len(text)
    for _ in range(words):
        # skip trailing whitespace, then the word itself
        while cut > 0 and text[cut - 1].isspace():
            cut -= 1
        cut = _space_end_at_or_before(text, cut)
        if cut <= 0:
            return 0
    return cut
