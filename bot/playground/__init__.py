"""``ml-intern-slack playground``: try the bot with no Slack workspace.

A Slack-compatible workspace served on 127.0.0.1 by this package — the Web API methods and the
Socket Mode protocol the bot uses (:mod:`.web_api`, :mod:`.socket_mode`, :mod:`.slack_routes`)
— and a page that feels like a Slack channel (:mod:`.page_routes`, ``static/``). The real bot
(:class:`bot.runtime.BotRuntime`) connects to it exactly as to Slack. Without model or Hub
credentials, a scripted demo model (:mod:`.demo_model`) and a simulated Hub (:mod:`.sim_hub`)
stand in, always labelled as simulations (:mod:`.modes`). :mod:`.launch` puts it together;
:mod:`.cli` is the command.
"""

from .launch import Playground

__all__ = ["Playground"]
