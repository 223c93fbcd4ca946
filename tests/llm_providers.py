"""One scripted LLM, three wires: OpenAI-compatible, Anthropic Messages, the HF router.

Engine tests written against :class:`~tests.fakes.fake_llm.FakeLLM`'s scripting (``push``,
``default``, ``requests[i]["messages"]``) run unchanged on each provider through
:func:`serve_llm`: the Anthropic fake translates the scripts into what Claude sends (a signed
thinking block first when thinking is on) and shows its requests as chat-completions messages.
``env`` holds exactly the variables a person would set for that provider; the other providers'
keys are set too, to prove they never travel to the wrong host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tests.fakes.fake_anthropic import API_KEY, FakeAnthropic, openai_view
from tests.fakes.fake_hf_router import HF_TOKEN, FakeHFRouter
from tests.fakes.fake_llm import FakeLLM

PROVIDERS = ("openai", "anthropic", "hf_router")
MODELS = {
    "openai": "openai/fake",
    "anthropic": "anthropic/claude-sonnet-4-5",
    "hf_router": "moonshotai/Kimi-K2.6",
}
WRONG_HOST_KEYS = {
    "OPENAI_API_KEY": "sk-fake-test-key",
    "ANTHROPIC_API_KEY": API_KEY,
    "HF_TOKEN": HF_TOKEN,
}


class ClaudeScript:
    """:class:`FakeAnthropic` behind FakeLLM's scripting surface."""

    def __init__(self) -> None:
        self.fake = FakeAnthropic()

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [openai_view(r) for r in self.fake.requests]

    @property
    def rejections(self) -> list[str]:
        return self.fake.rejections

    @property
    def remaining(self) -> int:
        return self.fake.remaining

    @property
    def default(self) -> Any:
        return self.fake.default

    @default.setter
    def default(self, value: Any) -> None:
        self.fake.default = value

    def push(self, *replies: Any) -> None:
        self.fake.push(*replies)

    async def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        await self.fake.wait_for_requests(n, timeout)
        return self.requests[:n]


@dataclass
class ServedLLM:
    provider: str
    llm: Any
    """FakeLLM, FakeHFRouter or ClaudeScript — all scripted the FakeLLM way."""
    model: str
    env: dict[str, str]

    @property
    def rejections(self) -> list[str]:
        """Requests the provider refused for breaking its rules (should stay empty)."""
        return list(self.llm.rejections)


@asynccontextmanager
async def serve_llm(provider: str, monkeypatch: Any = None) -> AsyncIterator[ServedLLM]:
    """The fake for ``provider``; with ``monkeypatch``, its ``env`` is set for the test too."""
    async with _serve(provider) as served:
        if monkeypatch is not None:
            for name, value in served.env.items():
                monkeypatch.setenv(name, value)
        yield served


@asynccontextmanager
async def _serve(provider: str) -> AsyncIterator[ServedLLM]:
    if provider == "anthropic":
        script = ClaudeScript()
        async with script.fake:
            env = {**WRONG_HOST_KEYS, "ANTHROPIC_API_BASE": script.base_url}
            yield ServedLLM(provider, script, MODELS[provider], env)
        return
    fake: FakeLLM = FakeHFRouter() if provider == "hf_router" else FakeLLM(strict=True)
    async with fake:
        env = dict(WRONG_HOST_KEYS)
        env["ML_INTERN_HF_ROUTER_URL" if provider == "hf_router" else "OPENAI_API_BASE"] = (
            fake.base_url
        )
        yield ServedLLM(provider, fake, MODELS[provider], env)
