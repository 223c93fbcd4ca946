"""Running one conversation: dispatch and state, the agentic loop, tools, approvals, guards.

``Session`` (in :mod:`.session`) is what the manager loads and feeds operations to; the other
modules are the seams of its work, each usable on its own in a test.
"""

from .interruption import TurnCancelled
from .session import Session

__all__ = ["Session", "TurnCancelled"]
