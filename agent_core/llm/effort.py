"""Reasoning effort per provider, with upstream's probe-and-heal so a refused level never sticks.

The preference (config ``reasoning_effort``, default ``high`` like upstream) is what a person
wants; what is sent depends on the route:

* Anthropic: litellm maps the level to ``thinking`` (a token budget, or adaptive thinking with
  ``output_config.effort`` on the models that take it). ``xhigh``/``max`` are sent only where
  litellm's model map says the model supports them, otherwise the next level down.
* The HF router: ``low``/``medium``/``high`` as ``extra_body.reasoning_effort`` (``minimal`` →
  ``low``, higher levels → ``high``), as upstream does; the router forwards it to the host.
* OpenAI: litellm's ``reasoning_effort`` (it drops it for models without reasoning).
* A user's own OpenAI-compatible server: nothing (many reject unknown fields).

When a provider still rejects the level, :meth:`EffortBook.heal` steps down the cascade
(``max → xhigh → high → medium → low → off``) and remembers the result per model for the life of
the process; :meth:`EffortBook.forget` clears it when the preference changes.
"""

from __future__ import annotations

from typing import Any

from . import model_map
from .routing import ROUTER, Route

LEVELS = ("minimal", "low", "medium", "high", "xhigh", "max")
_CASCADE = {
    "max": "xhigh",
    "xhigh": "high",
    "high": "medium",
    "medium": "low",
    "minimal": "low",
    "low": None,
}
_ROUTER_LEVEL = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
OFF = "off"


def next_level(level: str | None) -> str | None:
    """The level to try after ``level`` was refused (None: turn reasoning off)."""
    return _CASCADE.get(level or "", None)


def _supports(route: Route, level: str) -> bool:
    """litellm's map flags for ``xhigh``/``max``; other levels are assumed supported."""
    if level not in ("xhigh", "max"):
        return True
    info = model_map.model_info(route.litellm_model)
    return bool(info and info.get(f"supports_{level}_reasoning_effort"))


def clamp(route: Route, level: str | None) -> str | None:
    """The highest level at or below ``level`` that this route is known to accept."""
    if level is None or route.local:
        return None
    if route.provider == ROUTER:
        return _ROUTER_LEVEL.get(level, level)
    while level in ("max", "xhigh") and not _supports(route, level):
        level = _CASCADE[level]
    return level


def effort_kwargs(route: Route, level: str | None) -> dict[str, Any]:
    """The litellm kwargs that carry ``level`` on this route."""
    if level is None:
        return {}
    if route.provider == ROUTER:
        return {"extra_body": {"reasoning_effort": level}}
    return {"reasoning_effort": level}


class EffortBook:
    """What each model actually accepts, learnt from rejections (process-wide, per model)."""

    def __init__(self, preference: str | None) -> None:
        self.preference = preference
        self._effective: dict[str, str] = {}

    def level_for(self, route: Route) -> str | None:
        learnt = self._effective.get(route.model)
        if learnt == OFF:
            return None
        return clamp(route, learnt or self.preference)

    def heal(self, route: Route, refused: str | None) -> str | None:
        """Record that ``refused`` was rejected; returns the level to try next (None = off)."""
        lower = next_level(refused)
        self._effective[route.model] = lower or OFF
        return lower

    def learnt(self, route: Route) -> str | None:
        return self._effective.get(route.model)

    def forget(self, model: str | None = None) -> None:
        if model is None:
            self._effective.clear()
        else:
            self._effective.pop(model, None)
