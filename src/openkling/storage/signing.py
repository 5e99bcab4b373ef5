"""Signed, expiring download URLs for locally stored files (HMAC over key and expiry)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import quote, urlencode

_HEX64 = re.compile(r"[0-9a-f]{64}")


class UrlSigner:
    def __init__(self, key: bytes, base_url: str, ttl_seconds: int) -> None:
        self._key = key
        self._base = base_url.rstrip("/")
        self._ttl = ttl_seconds

    def signature(self, key: str, expires: int) -> str:
        return hmac.new(self._key, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, key: str, *, now: float | None = None) -> str:
        # Round expiry up to the minute so repeated polls return the same URL (cache-friendly).
        raw = int((time.time() if now is None else now) + self._ttl)
        expires = raw - raw % 60 + 60
        query = urlencode({"expires": expires, "signature": self.signature(key, expires)})
        return f"{self._base}/files/{quote(key)}?{query}"

    def verify(self, key: str, expires: int, signature: str, *, now: float | None = None) -> bool:
        if expires < (time.time() if now is None else now) or not _HEX64.fullmatch(signature):
            return False
        return hmac.compare_digest(self.signature(key, expires), signature)
