"""In-thread text commands (Slack does not deliver slash commands inside threads).

A message is a command only when it is *just* the command (``stop``, ``model gpt-x``), so
"stop using Adam and try SGD" still goes to the agent. Commands act at once — they are not
queued behind the running turn — except those that change the conversation (``compact``,
``undo``, ``model``, ``yolo``), which the engine runs between turns, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_YOLO = re.compile(r"^yolo\s+(on|off)(?:\s+\$?(\d+(?:\.\d+)?))?$")
_MODEL = re.compile(r"^(?:model|/model)\s+(\S{1,200})$", re.IGNORECASE)
_SIMPLE = {
    "stop": "stop",
    "status": "status",
    "compact": "compact",
    "undo": "undo",
    "help": "help",
    "cancel jobs": "cancel_jobs",
    "cancel job": "cancel_jobs",
}


@dataclass(frozen=True)
class Command:
    name: str  # stop | status | compact | undo | help | yolo | model | cancel_jobs
    enabled: bool | None = None  # yolo
    cap_usd: float | None = None  # yolo on <cap>
    model: str | None = None


def parse_command(text: str) -> Command | None:
    """The command ``text`` is, or None when it is a normal message for the agent."""
    normal = " ".join((text or "").split()).strip()
    normal = normal.rstrip(".!").lstrip("/!")
    low = normal.lower()
    if low in _SIMPLE:
        return Command(_SIMPLE[low])
    m = _YOLO.match(low)
    if m:
        cap = float(m.group(2)) if m.group(2) else None
        return Command("yolo", enabled=m.group(1) == "on", cap_usd=cap)
    m = _MODEL.match(normal)
    if m and normal.split()[0].lower() in ("model", "/model"):
        return Command("model", model=m.group(1).strip("`"))
    return None
