"""Talking to Slack: the Web API client, the rate-safe sender, the post ledger, thread
records, files, the Bolt middleware, session keys and message formatting."""
