"""litellm's import (~2.5 s of CPU), kept off the event loop — and skipped when nothing needs it.

Calls to OpenAI-compatible models (the HF router, OpenAI, a local server) go over the fast path
and never import litellm; importing it anyway right after connecting would hold the GIL for
seconds exactly when the first answer is being produced. So the runtime imports it in a thread
once Slack is connected (or before, when recovery will run turns at once) only when the
configured model goes through litellm (Anthropic, Bedrock, Vertex, Gemini, …, or
``llm_transport: litellm``). New turns wait for it (:meth:`LlmWarmup.wait`, only in the first
seconds after start), so the import never runs on the loop that acks Slack's envelopes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

log = logging.getLogger(__name__)


class LlmWarmup:
    def __init__(self, config: Any = None) -> None:
        """``config`` (the engine's): warm only when its model needs litellm; None: always."""
        self.config = config
        self.ready = asyncio.Event()

    def needed(self) -> bool:
        """Whether the configured model's calls go through litellm."""
        if self.config is None:
            return True
        from agent_core.llm.transport import model_needs_litellm

        return model_needs_litellm(self.config.model_name, self.config)

    async def wait(self, timeout: float = 60.0) -> None:
        """Hold until the client is imported; after ``timeout`` go ahead anyway."""
        if self.ready.is_set():
            return
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            log.warning("LLM warm-up is slow; starting the turn anyway")

    async def run(self) -> None:
        """Import litellm in a thread when the model needs it, then release the waiters (also
        when the import fails: the first turn then imports it and reports the error itself)."""
        if not self.needed():
            log.info("LLM fast path for %s: litellm not imported", self.config.model_name)
            self.ready.set()
            return
        from agent_core.llm import get_litellm

        started = time.perf_counter()
        try:
            await asyncio.to_thread(get_litellm)
            log.info("LLM client ready (%.1fs)", time.perf_counter() - started)
        except Exception:
            log.warning("litellm warm-up failed (it will be imported on first use)", exc_info=True)
        finally:
            self.ready.set()
