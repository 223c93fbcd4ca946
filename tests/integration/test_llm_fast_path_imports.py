"""A turn on an OpenAI-compatible model never imports litellm or the openai SDK.

``import litellm`` costs ~2.5 s of CPU and its first call another ~1.3 s of lazy imports: on
the first answer after a start that is most of the wait. The check runs in a fresh interpreter
(this test process has litellm loaded already): routing, the model switch check (the effort
probe, not streamed), a streamed tool turn with effort and a cache key, pricing, the context
window and the warm-up decision — then looks at ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = r"""
import asyncio, json, os, sys
from tests.fakes.fake_hf_router import HF_TOKEN, FakeHFRouter
from tests.fakes.fake_llm import call, text, tool_calls

async def main():
    async with FakeHFRouter() as router:
        os.environ["ML_INTERN_HF_ROUTER_URL"] = router.base_url
        os.environ["HF_TOKEN"] = HF_TOKEN
        from agent_core.llm import LLMClient, context_window
        from bot.llm_warmup import LlmWarmup
        from tests.engine_harness import make_config
        model = sys.argv[1]
        config = make_config(model_name=model, llm_transport=sys.argv[2], context_window=None)
        warmup = LlmWarmup(config)
        await warmup.run()
        llm = LLMClient(config)
        router.push(text("pong"), tool_calls(call("read", {"path": "a"})))
        await llm.check_model(model)
        tools = [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}]
        result = await llm.complete([{"role": "user", "content": "hi"}], model=model, tools=tools,
                                    cache_key="s1")
        window = context_window(model, config)
        await llm.aclose()
        print(json.dumps({"litellm": "litellm" in sys.modules, "openai": "openai" in sys.modules,
                          "calls": len(result.tool_calls), "cost": result.cost_usd,
                          "window": window, "requests": len(router.requests)}))

asyncio.run(main())
"""


@pytest.mark.parametrize("transport", ["auto", "litellm"])
def test_a_router_turn_imports_neither_litellm_nor_the_openai_sdk(transport: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, "moonshotai/Kimi-K2.6:together", transport],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(ROOT / ".no-home")},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["calls"] == 1 and seen["requests"] == 2 and seen["cost"] > 0
    assert seen["window"] > 100_000  # litellm's map, read as JSON
    if transport == "auto":
        assert seen["litellm"] is False and seen["openai"] is False
    else:  # the control: the switch is what keeps litellm out
        assert seen["litellm"] is True
