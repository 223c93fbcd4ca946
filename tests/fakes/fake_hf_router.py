"""The Hugging Face inference router, faked: OpenAI-compatible chat completions behind an HF token.

The router (``https://router.huggingface.co/v1``; huggingface.co/docs/inference-providers
"Chat completion") speaks OpenAI's chat-completions wire format — scripting, streaming and error
injection are :class:`~tests.fakes.fake_llm.FakeLLM`'s — and adds its own rules, enforced here:

* ``Authorization: Bearer <HF token>`` (``hf_…``). Anything else — no header, an OpenAI
  ``sk-…`` key sent by mistake — is refused with 401 and the Hub's body
  ``{"error": "Invalid credentials in Authorization header"}`` (the wording users report, e.g.
  huggingface/huggingface_hub#3368). ``leaked_keys`` records any non-HF credential that arrived,
  so a test can assert that a provider key never reached the router.
* Model ids are Hub ids ``org/model`` with an optional ``:provider`` / ``:policy`` suffix
  (``:fal-ai``, ``:novita``, ``:fastest``); a litellm-style ``openai/openai/…`` or a bare name is
  a 400 "model not supported".
* The history is validated like OpenAI's (tool-message pairing, no unknown message fields such
  as ``thinking_blocks``); with ``rejects_reasoning_content`` (default) an assistant message
  carrying ``reasoning_content`` is refused, as reported for the router (reference notes).
* ``session_ids`` records the ``X-HF-Session-id`` header of every request (prompt-cache routing).
"""

from __future__ import annotations

import re
from typing import Any

from .fake_llm import FakeLLM, RecordedRequest, Reply, error

HF_TOKEN = "hf_FakeRouterToken0123456789abcdefghijkl"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(:[\w.-]+)?$")


class FakeHFRouter(FakeLLM):
    """``base_url`` (``http://127.0.0.1:PORT/v1``) is what ``ML_INTERN_HF_ROUTER_URL`` takes."""

    def __init__(
        self, *, token: str = HF_TOKEN, rejects_reasoning_content: bool = True, **kw: Any
    ) -> None:
        super().__init__(strict=True, **kw)
        self.token = token
        self.rejects_reasoning_content = rejects_reasoning_content
        self.leaked_keys: list[str] = []
        self.session_ids: list[str | None] = []

    def check_request(self, request: RecordedRequest) -> Reply | None:
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        self.session_ids.append(request.headers.get("x-hf-session-id"))
        if bearer and not bearer.startswith("hf_"):
            self.leaked_keys.append(bearer)
        if bearer != self.token:
            return error(401, "Invalid credentials in Authorization header")
        model = str(request.get("model") or "")
        if not _HUB_ID.match(model) or model.count("/") != 1:
            return error(400, f"The requested model '{model}' is not supported by any provider you have enabled.",
                         code="model_not_supported")  # fmt: skip
        if self.rejects_reasoning_content:
            for i, m in enumerate(request.get("messages") or []):
                if m.get("role") == "assistant" and "reasoning_content" in m:
                    return error(
                        400,
                        f"messages.[{i}]: 'reasoning_content' is not permitted on input messages",
                    )
        return super().check_request(request)
