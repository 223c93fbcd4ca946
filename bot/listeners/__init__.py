"""Bolt listeners, one module per kind of input (messages, button clicks, modal submissions).

Each listener acks at once (Bolt's auto-ack for events; an explicit first ``ack()`` for
interactivity) and hands the work to :class:`bot.gateway.Gateway` after the ack.
"""
