"""HMAC-SHA256 signatures for generic webhooks, and the check a receiver runs.

Scheme (documented for receivers)::

    X-ML-Intern-Timestamp: <unix seconds>
    X-ML-Intern-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body bytes)>

Signing the timestamp with the body lets a receiver reject replays (old timestamps) as well as
forgeries. Compare in constant time; verify the raw bytes, before any JSON parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-ML-Intern-Signature"
TIMESTAMP_HEADER = "X-ML-Intern-Timestamp"
DELIVERY_HEADER = "X-ML-Intern-Delivery"  # the idempotency key; also sent as Idempotency-Key
EVENT_HEADER = "X-ML-Intern-Event"


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def sign(secret: str | bytes, body: bytes, timestamp: str | int) -> str:
    """The ``X-ML-Intern-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(_as_bytes(secret), _as_bytes(str(timestamp)) + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str | bytes,
    body: bytes,
    timestamp: str | int | None,
    signature: str | None,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """True when ``signature`` is ours for this body and the timestamp is fresh enough.

    ``tolerance_s=0`` disables the freshness check (for replaying stored deliveries).
    """
    if not signature or timestamp is None:
        return False
    try:
        sent_at = int(str(timestamp))
    except ValueError:
        return False
    if tolerance_s and abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, sent_at), signature.strip())
