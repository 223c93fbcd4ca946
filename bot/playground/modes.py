"""Real or simulated: which model and which Hub the playground uses, decided once at start.

The rule a person can predict: a provider key (or ``OPENAI_API_BASE`` for a local server)
means the real model; ``HF_TOKEN`` means the real Hub (jobs still wait for approval and show
their cost). Without them, the scripted demo model and the simulated Hub take their place,
and the page says so in a banner on every screen. ``--simulation`` forces both simulations
even when keys are set (a safe demo on a machine with credentials).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# litellm's provider variables; any one of them means "a real model is configured".
PROVIDER_KEYS = (
    "OPENAI_API_KEY",
    "OPENAI_API_BASE",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GROQ_API_KEY",
    "MISTRAL_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "TOGETHERAI_API_KEY",
    "XAI_API_KEY",
    "AZURE_API_KEY",
)
HUB_TOKENS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@dataclass(frozen=True)
class Modes:
    model_real: bool
    hub_real: bool
    model_reason: str
    hub_reason: str

    @property
    def any_simulated(self) -> bool:
        return not (self.model_real and self.hub_real)

    def notices(self, model_name: str) -> list[dict[str, str]]:
        """What the page's banner says (``kind``: real or simulation)."""
        model = (
            {"part": "model", "kind": "real", "text": f"Model: {model_name} ({self.model_reason})"}
            if self.model_real
            else {
                "part": "model",
                "kind": "simulation",
                "text": "Model: SIMULATION — a scripted demo model, not a real LLM "
                f"({self.model_reason}).",
            }
        )
        hub = (
            {
                "part": "hub",
                "kind": "real",
                "text": f"Hub: the real Hugging Face Hub ({self.hub_reason}); jobs cost money and wait for approval.",
            }
            if self.hub_real
            else {
                "part": "hub",
                "kind": "simulation",
                "text": "Hub: SIMULATION — jobs run on a simulated Hub on a short time scale; "
                f"nothing is trained or billed ({self.hub_reason}).",
            }
        )
        return [model, hub]


def detect_modes(env: Mapping[str, str] | None = None, *, force_simulation: bool = False) -> Modes:
    environ = os.environ if env is None else env
    if force_simulation:
        why = "--simulation was given"
        return Modes(False, False, why, why)
    provider = next((k for k in PROVIDER_KEYS if environ.get(k, "").strip()), None)
    hub = next((k for k in HUB_TOKENS if environ.get(k, "").strip()), None)
    # A bare Hub model id goes through the HF router with HF_TOKEN: that is a real model too.
    model_real = provider is not None or hub is not None
    model_reason = f"{provider or hub} is set" if model_real else "no provider key is set"
    hub_reason = f"{hub} is set" if hub else "HF_TOKEN is not set"
    return Modes(model_real, hub is not None, model_reason, hub_reason)
