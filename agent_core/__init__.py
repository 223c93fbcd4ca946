"""ml-intern-slack's agent engine: sessions, the agentic loop, tools, approvals, the store.

Nothing in this package imports Slack libraries; gateways talk to it through
:mod:`agent_core.events` only.
"""

__version__ = "0.1.0"
