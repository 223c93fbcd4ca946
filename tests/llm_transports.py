"""Both LLM transports for one suite: ``llm_transport: auto`` (the lean OpenAI-compatible client
for the HF router, OpenAI and local servers) and ``llm_transport: litellm`` (everything through
litellm). A suite that uses the :func:`llm_transport` fixture runs every test on each, so
"choosing a path never changes behaviour" is tested rather than claimed.

:func:`tests.engine_harness.make_config` reads :data:`TRANSPORT_ENV` (set per test here), so
configs built anywhere in a test — the engine harness, a bare ``LLMClient`` — follow it.
"""

from __future__ import annotations

import pytest

TRANSPORT_ENV = "ML_INTERN_TEST_LLM_TRANSPORT"
TRANSPORTS = ("auto", "litellm")


@pytest.fixture(params=TRANSPORTS)
def llm_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TRANSPORT_ENV, request.param)
    return str(request.param)
