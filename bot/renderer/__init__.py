"""Engine events → Slack: one worker per thread (:mod:`.worker`) renders each event through the
handler table (:mod:`.handlers`) into the thread's state (:mod:`.state`) and writes through the
ledger-backed output (:mod:`.output`). What a message looks like is decided by each feature's
pure functions (``bot.conversation``, ``bot.approvals``, ``bot.jobs``): no Slack, store or clock
there (``now`` is a parameter), so a restart re-renders exactly the same card.
"""
