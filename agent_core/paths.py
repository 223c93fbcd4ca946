"""Where the bot keeps its state on disk when the user does not say otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """The per-user state directory (XDG on Linux, the usual places elsewhere)."""
    override = os.environ.get("ML_INTERN_STATE_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "ml-intern-slack"


def default_db_path() -> Path:
    """``ML_INTERN_DB`` if set, else ``<state dir>/ml-intern.db``."""
    explicit = os.environ.get("ML_INTERN_DB")
    if explicit:
        return Path(explicit).expanduser()
    return state_dir() / "ml-intern.db"
