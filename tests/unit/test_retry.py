"""The one retry-timing module: Retry-After parsing and backoff."""

from email.utils import formatdate

from agent_core.retry import backoff_delay, parse_retry_after, retry_after_from_headers


def test_parse_retry_after_forms():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(2.5) == 2.5
    assert parse_retry_after(["3"]) == 3.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after(True) is None
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30.0


def test_headers_any_case_and_ms_wins():
    assert retry_after_from_headers({"Retry-After": "2"}) == 2.0
    assert retry_after_from_headers({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_from_headers({}) is None
    assert retry_after_from_headers(None) is None


def test_backoff_is_exponential_capped_and_floors_at_retry_after():
    assert backoff_delay(1, base=1, cap=10, jitter=False) == 1
    assert backoff_delay(3, base=1, cap=10, jitter=False) == 4
    assert backoff_delay(10, base=1, cap=10, jitter=False) == 10
    assert backoff_delay(1, base=1, cap=10, retry_after=6, jitter=False) == 6
    # a bogus week-long Retry-After is capped
    assert backoff_delay(1, base=1, cap=10, retry_after=604800, jitter=False) == 10
    assert backoff_delay(1, base=1, cap=10, retry_after=50, retry_after_cap=60, jitter=False) == 50
    for _ in range(50):
        assert 0.8 <= backoff_delay(1, base=1, cap=10) <= 1.2
