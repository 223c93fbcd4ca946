"""``python -m bot``: the same as running ``ml-intern-slack``."""

from bot.cli import main

main()
