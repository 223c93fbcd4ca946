"""Pure rendering: engine events and render state in, Slack text and Block Kit out.

Nothing in this package talks to Slack, the store or the clock (``now`` is a parameter), so
every function is testable without a network and a restart re-renders exactly the same card.
"""
