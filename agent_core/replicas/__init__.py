"""Several bot processes on one store: who drives a session, and how the others hand it over.

:mod:`.ownership` grants claims (leases on Postgres, free on SQLite) and carries wake-ups;
:mod:`.claims` renews and fences a claim; :mod:`.recovery` reports work a dead process cut off.
"""

from .claims import LOCAL_CLAIM, Claim, LeasedClaim, LeaseLost
from .ownership import (
    OPS_CHANNEL,
    RENDER_CHANNEL,
    STOP_CHANNEL,
    LeasedOwnership,
    LocalOwnership,
    Ownership,
    ownership_for,
)
from .recovery import report_cut_off, restart_notice

__all__ = [
    "LOCAL_CLAIM",
    "OPS_CHANNEL",
    "RENDER_CHANNEL",
    "STOP_CHANNEL",
    "Claim",
    "LeaseLost",
    "LeasedClaim",
    "LeasedOwnership",
    "LocalOwnership",
    "Ownership",
    "ownership_for",
    "report_cut_off",
    "restart_notice",
]
