"""The conversation in a thread: a mention becomes a session (intake), in-thread commands,
the progress message, the final answer and the short notices."""
