"""Who is calling: a static API key or a Kling-style HS256 JWT, both as `Bearer <token>`.

Verified credentials are remembered for `auth_cache_seconds`, so the hot poll path usually
costs no database read for authentication; a revocation takes effect within that time. A
credential in use is read again in the background before it expires, so under steady
traffic no request waits for that read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt

from openkling.core.errors import Code, KlingError
from openkling.core.secrets import MasterKey, hash_api_key
from openkling.store.accounts import AccountStore
from openkling.store.records import AccountRecord, CredentialRecord

log = logging.getLogger(__name__)

JWT_LEEWAY_SECONDS = 5
#: A token may expire at most this far ahead (24 h; Kling's SDKs sign 30 minutes). Without a
#: bound a token with `exp` 10^30 is a credential that never lapses, which an API key already
#: is, and one that revoking nothing but the whole key can stop.
JWT_MAX_LIFETIME_SECONDS = 24 * 3600
#: Past this share of `auth_cache_seconds`, a request that uses a cached credential starts
#: reading it again in the background (the request itself is answered from the cache).
READ_AHEAD_AFTER = 0.5
_CACHE_LIMIT = 10_000
_T = TypeVar("_T")
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: int
    account_name: str
    credential_id: int


class Authenticator:
    def __init__(self, accounts: AccountStore, master: MasterKey, cache_seconds: float) -> None:
        self._accounts = accounts
        self._master = master
        self._ttl = cache_seconds
        # digest -> (read again from, trusted until, principal)
        self._api_keys: dict[str, tuple[float, float, Principal]] = {}
        # access key -> (read again from, trusted until, principal, secret key)
        self._jwt_secrets: dict[str, tuple[float, float, Principal, str]] = {}
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._unknown: dict[str, float] = {}  # "key:<hash>" / "ak:<access key>" -> unknown until

    async def authenticate(self, authorization: str | None) -> Principal:
        token = _bearer_token(authorization)
        if token.count(".") == 2 and token.startswith("eyJ"):
            return await self._from_jwt(token)
        return await self._from_api_key(token)

    async def _from_api_key(self, api_key: str) -> Principal:
        digest = hash_api_key(api_key)  # lookup by hash: no secret-dependent comparison
        now = time.monotonic()
        cached = self._api_keys.get(digest)
        if cached is not None and cached[1] > now:
            if cached[0] <= now:
                self._read_ahead("key:" + digest, lambda: self._load_api_key(digest))
            return cached[2]
        if self._unknown.get("key:" + digest, 0.0) > now:
            raise KlingError(Code.AUTH_INVALID, "Authorization: unknown key")
        return _usable(await self._once("key:" + digest, lambda: self._load_api_key(digest)))

    async def _load_api_key(self, digest: str) -> tuple[CredentialRecord, AccountRecord] | None:
        """Read a key and remember what was read: a usable principal, or that it is unknown."""
        found = await self._accounts.find_by_api_key_hash(digest)
        now = time.monotonic()
        self._api_keys.pop(digest, None)
        if found is None:  # remembered too: guessing keys must not cost a query each
            self._remember(self._unknown, "key:" + digest, now + self._ttl)
        elif (principal := _principal(found)) is not None:
            self._remember(self._api_keys, digest,
                           (now + self._ttl * READ_AHEAD_AFTER, now + self._ttl, principal))
        return found

    async def _from_jwt(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise KlingError(Code.AUTH_INVALID, "Authorization: malformed token") from exc
        if header.get("alg") != "HS256":
            raise KlingError(Code.AUTH_INVALID, "Authorization: token must be signed with HS256")
        access_key = claims.get("iss")
        if not isinstance(access_key, str) or not access_key or "\x00" in access_key:
            raise KlingError(Code.AUTH_INVALID, "Authorization: token has no iss (access key)")
        now = time.monotonic()
        cached = self._jwt_secrets.get(access_key)
        if cached is not None and cached[1] > now:
            if cached[0] <= now:
                self._read_ahead("ak:" + access_key, lambda: self._load_access_key(access_key))
            _, _, principal, secret = cached
        else:
            if self._unknown.get("ak:" + access_key, 0.0) > now:
                raise KlingError(Code.AUTH_INVALID, "Authorization: unknown key")
            found = await self._once("ak:" + access_key,
                                     lambda: self._load_access_key(access_key))
            principal = _usable(found)
            assert found is not None
            secret = self._master.decrypt(found[0].secret_key_enc)
        try:
            verified = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                leeway=JWT_LEEWAY_SECONDS,
                options={"require": ["exp", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise KlingError(Code.TOKEN_EXPIRED, "Authorization: token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise KlingError(
                Code.TOKEN_NOT_YET_VALID, "Authorization: token not yet valid (nbf)"
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise KlingError(Code.AUTH_INVALID, f"Authorization: invalid token ({exc})") from exc
        if float(verified["exp"]) > time.time() + JWT_MAX_LIFETIME_SECONDS + JWT_LEEWAY_SECONDS:
            raise KlingError(
                Code.AUTH_INVALID,
                "Authorization: token exp is more than 24 hours ahead (sign tokens that "
                "expire sooner; Kling's SDKs use 30 minutes)",
            )
        return principal

    async def _load_access_key(self, access_key: str
                               ) -> tuple[CredentialRecord, AccountRecord] | None:
        found = await self._accounts.find_by_access_key(access_key)
        now = time.monotonic()
        self._jwt_secrets.pop(access_key, None)
        if found is None:
            self._remember(self._unknown, "ak:" + access_key, now + self._ttl)
        elif (principal := _principal(found)) is not None:
            secret = self._master.decrypt(found[0].secret_key_enc)
            self._remember(self._jwt_secrets, access_key,
                           (now + self._ttl * READ_AHEAD_AFTER, now + self._ttl, principal,
                            secret))
        return found

    async def _once(self, key: str, fetch: Callable[[], Awaitable[_T]]) -> _T:
        """Single flight: when a cached credential expires under load, the many requests
        that notice it at once share one database read instead of each making their own."""
        result: _T = await asyncio.shield(self._start(key, fetch))
        return result

    def _read_ahead(self, key: str, fetch: Callable[[], Awaitable[Any]]) -> None:
        """Read a credential that is still trusted but past `READ_AHEAD_AFTER` of its period,
        without making anyone wait: under steady traffic an entry is renewed before it
        expires, so no request queues behind the database (each expiry stalled every poll
        in flight: docs/benchmarks.md). A failed read is left to the next one: once the
        entry expires, a request reads it and gets the error."""
        if key not in self._inflight:
            self._start(key, fetch).add_done_callback(_consume)

    def _start(self, key: str, fetch: Callable[[], Awaitable[_T]]) -> asyncio.Future[_T]:
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(fetch())
            self._inflight[key] = future
            future.add_done_callback(lambda _: self._inflight.pop(key, None))
        return future

    def _remember(self, cache: dict[str, _V], key: str, value: _V) -> None:
        if self._ttl <= 0:
            return
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = value


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.debug("reading a credential ahead of its expiry failed: %s", exc)


def _bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise KlingError(Code.AUTH_MISSING, "Authorization header is missing")
    scheme, _, token = authorization.strip().partition(" ")
    if not token:
        if scheme.lower() == "bearer":
            raise KlingError(Code.AUTH_MISSING, "Authorization header has no token")
        token = scheme  # a bare token without the scheme: accept it
    elif scheme.lower() != "bearer":
        raise KlingError(Code.AUTH_INVALID, "Authorization: use the Bearer scheme")
    return token.strip()


def _principal(found: tuple[CredentialRecord, AccountRecord]) -> Principal | None:
    """The principal a found credential stands for, or None when it may not be used."""
    try:
        return _usable(found)
    except KlingError:
        return None


def _usable(found: tuple[CredentialRecord, AccountRecord] | None) -> Principal:
    if found is None:
        raise KlingError(Code.AUTH_INVALID, "Authorization: unknown key")
    cred, account = found
    if cred.revoked_at is not None:
        raise KlingError(Code.AUTH_INVALID, "Authorization: key has been revoked")
    if account.disabled:
        raise KlingError(Code.ACCOUNT_EXCEPTION, "account is disabled")
    return Principal(account_id=account.id, account_name=account.name, credential_id=cred.id)
