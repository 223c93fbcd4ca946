"""The LLM client's import (``import litellm``, ~2.5 s), kept off the event loop.

The runtime imports it in a thread once Slack is connected (or before, when recovery will run
turns at once). New turns wait for it (:meth:`LlmWarmup.wait`, only in the first seconds after
start), so the import never runs on the loop that acks Slack's envelopes.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger(__name__)


class LlmWarmup:
    def __init__(self) -> None:
        self.ready = asyncio.Event()

    async def wait(self, timeout: float = 60.0) -> None:
        """Hold until the client is imported; after ``timeout`` go ahead anyway."""
        if self.ready.is_set():
            return
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            log.warning("LLM warm-up is slow; starting the turn anyway")

    async def run(self) -> None:
        """Import litellm in a thread, then release the waiters (also when the import fails:
        the first turn then imports it and reports the error itself)."""
        from agent_core.llm import get_litellm

        started = time.perf_counter()
        try:
            await asyncio.to_thread(get_litellm)
            log.info("LLM client ready (%.1fs)", time.perf_counter() - started)
        except Exception:
            log.warning("litellm warm-up failed (it will be imported on first use)", exc_info=True)
        finally:
            self.ready.set()
