"""Kling's access-key authentication: a short-lived HS256 JWT signed with the secret key.

The server signs with it when relaying to an upstream Kling account; `core.auth` verifies
the same shape from our own clients.
"""

from __future__ import annotations

import time

import jwt

TOKEN_LIFETIME = 1800
NOT_BEFORE_SKEW = 5


def sign_token(access_key: str, secret_key: str, now: float | None = None) -> str:
    """A token exactly as Kling's SDKs build it: iss = AK, exp = now+1800, nbf = now-5."""
    issued = int(time.time() if now is None else now)
    claims = {"iss": access_key, "exp": issued + TOKEN_LIFETIME, "nbf": issued - NOT_BEFORE_SKEW}
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"typ": "JWT"})
