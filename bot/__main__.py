"""``python -m bot``: the same as running ``ml-intern-slack``."""

from agent_core.cli import main

main()
