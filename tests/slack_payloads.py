"""Slack payload fixtures from ``tests/data/slack/``: documented examples and SDK fixtures.

Each file is ``{"_source": where it comes from, "_note"?: what we changed, "payload": …}`` so the
origin of every sample sits beside it. :func:`load` returns a deep copy of the payload.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "slack"


@cache
def _read(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def load(name: str) -> dict[str, Any]:
    """The payload of ``tests/data/slack/<name>.json`` (a fresh copy each call)."""
    return copy.deepcopy(_read(name)["payload"])


def event(name: str) -> dict[str, Any]:
    """The ``event`` of an Events API body, or the payload itself if it is a bare message."""
    payload = load(name)
    return payload.get("event", payload)


def source(name: str) -> str:
    return str(_read(name)["_source"])


def names() -> list[str]:
    return sorted(p.stem for p in DATA.glob("*.json"))


def said(content: str | None) -> str:
    """What a user message given to the model says, without the author line the gateway
    puts first ("Message from @alice (the requester):")."""
    text = str(content or "")
    first, _, rest = text.partition("\n")
    if first.startswith(("Message from @", "(edited) Message from @")) and first.endswith(":"):
        return rest
    return text
