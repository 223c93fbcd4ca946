"""The notification destinations' health as text, for the bot's ``status`` command."""

from __future__ import annotations

import time
from typing import Any

from agent_core.durations import format_duration


def format_status(rows: list[dict[str, Any]], now: float | None = None) -> str:
    """One line per destination for a chat ``status`` command."""
    if not rows:
        return "Notifications: no destinations configured."
    now = time.time() if now is None else now
    lines = ["Notifications:"]
    for r in rows:
        line = (
            f"• {r['destination']} ({r['provider']}): {r['sent']} sent, "
            f"{r['pending']} pending, {r['failed']} failed"
        )
        if r.get("last_error"):
            ago = format_duration(now - (r.get("last_error_at") or now), "exact") or "0s"
            line += f" — last error {ago} ago: {r['last_error']}"
        if r.get("paused_until"):
            line += f" — rate-limited for {format_duration(r['paused_until'] - now, 'exact')}"
        lines.append(line)
    return "\n".join(lines)
