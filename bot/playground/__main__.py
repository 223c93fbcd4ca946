"""``python -m bot.playground`` — the same as ``ml-intern-slack playground``."""

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
