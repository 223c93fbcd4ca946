"""``ml-intern-slack playground``: try the bot with no Slack workspace.

A Slack-compatible workspace served on 127.0.0.1 by this package — the Web API methods and the
Socket Mode protocol the bot uses (:mod:`.web_api`, :mod:`.socket_mode`, :mod:`.slack_routes`)
— and a page that feels like a Slack channel (:mod:`.page_routes`, ``static/``). The real bot
(:class:`bot.runtime.BotRuntime`) connects to it exactly as to Slack. Without model or Hub
credentials, a scripted demo model (:mod:`.demo_model`) and a simulated Hub (:mod:`.sim_hub`)
stand in, always labelled as simulations (:mod:`.modes`). :mod:`.launch` puts it together;
:mod:`.cli` is the command.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .launch import Playground


def __getattr__(name: str) -> Any:
    """``Playground`` on first use: the bot's console script imports this package for its
    ``playground`` subcommand, and the workspace's modules (~0.3 s) should not slow ``run``."""
    if name == "Playground":
        from .launch import Playground

        return Playground
    raise AttributeError(name)


__all__ = ["Playground"]
