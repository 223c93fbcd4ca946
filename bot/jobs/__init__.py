"""Hugging Face jobs in Slack: the job card, its buttons, and what the buttons do."""
