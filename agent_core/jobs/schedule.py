"""How often the watcher asks the Hub about a job, as pure functions (easy to test and bench).

Polling starts fast (``poll_initial_s``) because the interesting transitions — scheduling to
running, an immediate crash — happen early, then grows by ``poll_backoff`` per poll up to
``poll_max_s``. A stage change resets it to fast again. Log tails are fetched on their own
fixed cadence (``log_tail_every_s``) while the job runs, and a log stream the server closes
(the job ended) triggers an immediate status check, so the finish is seen within a log-tail
period even when status polling has slowed to ``poll_max_s``.
"""

from __future__ import annotations

import math


def next_interval(current: float, initial: float, backoff: float, maximum: float) -> float:
    """The interval after ``current``: multiplied by ``backoff``, kept within [initial, maximum]."""
    return max(initial, min(maximum, current * backoff))


def intervals(initial: float, backoff: float, maximum: float, count: int) -> list[float]:
    """The first ``count`` polling intervals of a watch (for docs, tests and the benchmark)."""
    out: list[float] = []
    cur = max(initial, min(initial, maximum))
    for _ in range(count):
        out.append(cur)
        cur = next_interval(cur, initial, backoff, maximum)
    return out


def polls_within(seconds: float, initial: float, backoff: float, maximum: float) -> int:
    """How many status polls the schedule makes in the first ``seconds`` (the first at t=0)."""
    t, cur, n = 0.0, initial, 0
    while t <= seconds + 1e-9:
        n += 1
        t += cur
        cur = next_interval(cur, initial, backoff, maximum)
        if n > 1_000_000:  # guard against silly configs
            break
    return n


def steady_state_requests_per_minute(
    maximum: float, log_tail_every_s: float, running: bool = True
) -> float:
    """Requests per job per minute once the backoff has reached ``poll_max_s``."""
    rate = 60.0 / maximum
    if running:
        rate += 60.0 / log_tail_every_s
    return rate


def backoff_ramp_seconds(initial: float, backoff: float, maximum: float) -> float:
    """Seconds until the interval reaches ``maximum`` (the end of the "fast" phase)."""
    if backoff <= 1.0 or initial >= maximum:
        return 0.0
    steps = math.ceil(math.log(maximum / initial, backoff))
    return sum(intervals(initial, backoff, maximum, steps))
