"""What a process finds of work that was cut off, and how it says so.

The same words whether this process restarted (SQLite: every operation left ``running``) or
this replica took a session over from one that died (Postgres: that session's operations left
``running``, once its lease expired): the operation is reported as interrupted and never run
again — it may have spent money, posted or submitted a job — and the person decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..events import EventType

Emit = Callable[[str, str, dict[str, Any]], Awaitable[Any]]


def restart_notice(kind: str) -> dict[str, Any]:
    """The ``error`` event's data for an operation of ``kind`` cut off by a restart."""
    return {
        "error": (
            f"The bot restarted while working on this ({kind.replace('_', ' ')}). "
            "Nothing was lost up to the last step shown; reply to continue."
        ),
        "kind": "restart",
    }


async def report_cut_off(emit: Emit, cut_off: Sequence[tuple[int, str, str]]) -> None:
    """Tell each session about its operations (``(id, session, kind)``) cut off mid-way."""
    for _op_id, session_id, kind in cut_off:
        await emit(session_id, EventType.ERROR, restart_notice(kind))
