"""Approvals in Slack: the card, its buttons and modals, and the flow that claims decisions."""
