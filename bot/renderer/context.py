"""What an event handler is given: the thread's output, the settings, the clock and the few
stores it reads. Handlers receive it explicitly — they never reach into the renderer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_core.approvals import ApprovalBook
    from agent_core.events import Event
    from agent_core.store import Store
    from bot.renderer.output import ThreadOutput
    from bot.renderer.state import TurnState
    from bot.settings import SlackSettings
    from bot.slack.ledger import Ledger
    from bot.slack.threads import ThreadRecord, ThreadStore

LIVE_WINDOW_S = 60.0  # older events are replays: no "is working…" status for them


@dataclass
class RenderContext:
    store: Store
    approvals: ApprovalBook
    settings: SlackSettings
    threads: ThreadStore
    ledger: Ledger
    out: ThreadOutput
    clock: Callable[[], float]
    # Ask the worker to post the progress message after ``progress_delay_s`` if the turn is
    # still running then (a quick answer needs no progress message).
    schedule_tick: Callable[[ThreadRecord, TurnState], None]

    def live(self, event: Event) -> bool:
        """Is ``event`` happening now (not replayed after a restart)?"""
        return self.clock() - event.ts < LIVE_WINDOW_S


# Renders one event into its thread; True when the thread's render state changed.
Handler = Callable[["RenderContext", "ThreadRecord", "Event"], Awaitable[bool]]
