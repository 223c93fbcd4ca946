"""Talking to Slack: the Web API client, the rate-safe sender, the post ledger, thread
records, files, the Bolt middleware, session keys, message formatting, and the transport
(Socket Mode or HTTP) that brings Slack's requests in."""
