"""The engine stands alone: importing all of ``agent_core`` loads no Slack layer.

``agent_core`` is the Slack-free engine that the bot, the gateways and the terminal chat are
built on. An import of ``bot`` or ``gateways`` from it (directly, or as a module name in a
list such as the tool catalogue) would make the engine depend on the layers above it.
"""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("bot", "gateways", "slack_sdk", "slack_bolt")

PROBE = """
import importlib, json, pkgutil, sys
import agent_core
from agent_core.config import Config
from agent_core.tools.base import Services
from agent_core.tools.catalog import build_router

names = [m.name for m in pkgutil.walk_packages(agent_core.__path__, "agent_core.")]
for name in names:
    importlib.import_module(name)
build_router(Services(config=Config(model_name="openai/x")))
top = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"modules": names, "top": top}))
"""


def test_importing_every_engine_module_loads_no_slack_layer() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "agent_core.session.turn" in report["modules"]  # the walk really saw the engine
    assert not set(FORBIDDEN) & set(report["top"])
