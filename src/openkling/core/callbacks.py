"""Callback signatures: signing what we send (the URL guard is `core/outbound.py`).

Each delivery carries `X-Openkling-Timestamp` (Unix seconds) and
`X-Openkling-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, keyed with the account's
callback secret, so a receiver can check origin and freshness. The body is Kling's bare task
object, unchanged.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Openkling-Signature"
TIMESTAMP_HEADER = "X-Openkling-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
