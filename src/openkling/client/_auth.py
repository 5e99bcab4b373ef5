"""Bearer credentials: a static API key, or a Kling JWT re-signed before it expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import jwt


class Credentials(Protocol):
    """What a client needs from its credentials: the token to send now, and a way to drop it."""

    def token(self) -> str: ...

    def invalidate(self) -> None:
        """Forget any cached token so the next `token()` is fresh (after a 1004 reply)."""
        ...


class APIKeyAuth:
    """An opaque key issued by openkling or a gateway, sent as is."""

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._api_key = api_key

    def token(self) -> str:
        return self._api_key

    def invalidate(self) -> None:
        """Nothing cached: a static key cannot be refreshed."""

    def __repr__(self) -> str:
        return "APIKeyAuth(api_key=***)"


class JWTAuth:
    """Kling's access key / secret key scheme: HS256, iss=access key, exp=now+lifetime, nbf=now-5.

    The token is cached and re-signed once less than `refresh_margin` seconds of it remain, so
    a long-running client never sends an expired token. Thread-safe, since one client may be
    shared by threads.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        lifetime: float = 1800.0,
        refresh_margin: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not access_key or not secret_key:
            raise ValueError("access_key and secret_key must both be non-empty")
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        self.access_key = access_key
        self._secret_key = secret_key
        self.lifetime = lifetime
        # Default: refresh with a tenth of the lifetime left, at most a minute early.
        self.refresh_margin = min(60.0, lifetime / 10) if refresh_margin is None else refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._expires_at - self.refresh_margin:
                self._token, self._expires_at = self._sign(now)
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _sign(self, now: float) -> tuple[str, float]:
        # Kling's claims are whole seconds; round exp up so a short lifetime never becomes 0.
        expires_at = int(now + self.lifetime + 0.999)
        claims = {"iss": self.access_key, "exp": expires_at, "nbf": int(now) - 5}
        token = jwt.encode(claims, self._secret_key, algorithm="HS256",
                           headers={"typ": "JWT"})
        return token, float(expires_at)

    def __repr__(self) -> str:
        return f"JWTAuth(access_key={self.access_key!r}, secret_key=***)"
