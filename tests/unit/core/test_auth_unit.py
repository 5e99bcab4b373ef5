"""Authentication in process, on a real SQLite account store: both token forms, every
refusal, and the caches, observed by counting the SELECTs that reach the database.

Expected codes and messages come from kling-api.md and docs/api.md (1001 / 1002 / 1003 /
1004 / 1100); the Kling JWT is built the way Kling's own SDKs build it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import event

from openkling.core import auth
from openkling.core.auth import Authenticator, Principal
from openkling.core.errors import KlingError
from openkling.core.secrets import MasterKey, hash_api_key
from openkling.store.accounts import AccountStore
from openkling.store.database import Database
from openkling.store.tables import metadata

API_KEY = "ok-test-api-key-0123456789abcdefghijklmnopqrstuvwxyz"
ACCESS_KEY = "AKTESTACCESSKEY0123456789"
SECRET_KEY = "test-secret-key-long-enough-for-hs512-too-0123456789abcdefghijklmnopq"
HOUR = 3600.0


@dataclass
class Store:
    accounts: AccountStore
    master: MasterKey
    selects: list[str]
    principal: Principal
    engine: Any  # the synchronous engine under the store, for SQLAlchemy event hooks

    def authenticator(self, cache_seconds: float = HOUR) -> Authenticator:
        return Authenticator(self.accounts, self.master, cache_seconds)

    def reads(self) -> int:
        return len(self.selects)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    master = MasterKey("unit-test-master-key")
    accounts = AccountStore(db)
    account, _ = await accounts.get_or_create("carol", now=1, callback_secret_enc=b"x")
    cred = await accounts.add_credential(
        account.id, label="carol", api_key_hash=hash_api_key(API_KEY), api_key_hint="ok-...",
        access_key=ACCESS_KEY, secret_key_enc=master.encrypt(SECRET_KEY), now=1)
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    yield Store(accounts, master, selects,
                Principal(account_id=account.id, account_name="carol", credential_id=cred.id),
                db.engine.sync_engine)
    await db.dispose()


def kling_jwt(iss: Any = ACCESS_KEY, secret: str = SECRET_KEY, *, exp_in: float | None = 1800,
              nbf_in: float | None = -5, alg: str = "HS256") -> str:
    """As the official Kling SDKs make it: HS256, iss = access key, exp now+1800, nbf now-5."""
    now = time.time()
    claims: dict[str, Any] = {"iss": iss}
    if exp_in is not None:
        claims["exp"] = int(now + exp_in)
    if nbf_in is not None:
        claims["nbf"] = int(now + nbf_in)
    return jwt.encode(claims, secret, algorithm=alg, headers={"typ": "JWT"})


def hand_signed_jwt(claims: dict[str, Any], secret: str = SECRET_KEY, alg: str = "HS256") -> str:
    """A JWT built by hand (RFC 7519), for claims PyJWT refuses to encode; always signed with
    HMAC-SHA256, whatever `alg` the header names."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (part(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "."
                     + part(json.dumps(claims).encode()))
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + part(mac)


async def refusal(authenticator: Authenticator, authorization: str | None) -> tuple[int, int, str]:
    with pytest.raises(KlingError) as info:
        await authenticator.authenticate(authorization)
    return info.value.http_status, int(info.value.code), info.value.message


# ----- caches, observed by counting SELECTs -------------------------------------------------

async def test_a_verified_api_key_costs_one_read_per_cache_period(store: Store) -> None:
    authenticator = store.authenticator()
    for _ in range(5):
        assert await authenticator.authenticate(f"Bearer {API_KEY}") == store.principal
    assert store.reads() == 1


async def test_a_verified_jwt_issuer_costs_one_read_and_each_token_is_still_checked(
        store: Store) -> None:
    authenticator = store.authenticator()
    for _ in range(3):
        assert await authenticator.authenticate(f"Bearer {kling_jwt()}") == store.principal
    assert store.reads() == 1
    # The cached secret still verifies every token: a forged or expired one is refused.
    assert (await refusal(authenticator, f"Bearer {kling_jwt(secret='y' * 40)}"))[1] == 1002
    assert (await refusal(authenticator, f"Bearer {kling_jwt(exp_in=-60)}"))[1] == 1004
    assert store.reads() == 1


async def test_unknown_keys_and_issuers_are_remembered_too(store: Store) -> None:
    authenticator = store.authenticator()
    for _ in range(3):
        assert (await refusal(authenticator, "Bearer ok-guess"))[2] == (
            "Authorization: unknown key")
        assert (await refusal(authenticator, f"Bearer {kling_jwt('AKGUESS')}"))[2] == (
            "Authorization: unknown key")
    assert store.reads() == 2
    # A key that exists is not caught by another key's negative entry.
    assert await authenticator.authenticate(f"Bearer {API_KEY}") == store.principal
    assert await authenticator.authenticate(f"Bearer {kling_jwt()}") == store.principal
    assert store.reads() == 4


async def test_cache_entries_expire_after_the_configured_seconds(store: Store) -> None:
    authenticator = store.authenticator(cache_seconds=0.9)  # a period under one second works
    for _ in range(2):
        await authenticator.authenticate(f"Bearer {API_KEY}")
        await authenticator.authenticate(f"Bearer {kling_jwt()}")
        await refusal(authenticator, "Bearer ok-guess")
        await refusal(authenticator, f"Bearer {kling_jwt('AKGUESS')}")
    assert store.reads() == 4
    await asyncio.sleep(1.0)
    await authenticator.authenticate(f"Bearer {API_KEY}")
    await authenticator.authenticate(f"Bearer {kling_jwt()}")
    await refusal(authenticator, "Bearer ok-guess")
    await refusal(authenticator, f"Bearer {kling_jwt('AKGUESS')}")
    assert store.reads() == 8


async def test_revocation_shows_once_the_cache_period_is_over(store: Store) -> None:
    cached, uncached = store.authenticator(), store.authenticator(cache_seconds=0)
    assert await cached.authenticate(f"Bearer {API_KEY}") == store.principal
    assert await cached.authenticate(f"Bearer {kling_jwt()}") == store.principal
    await store.accounts.revoke(ACCESS_KEY, now=2)
    assert await cached.authenticate(f"Bearer {API_KEY}") == store.principal
    assert await cached.authenticate(f"Bearer {kling_jwt()}") == store.principal
    assert (await refusal(uncached, f"Bearer {API_KEY}"))[1] == 1002


@contextmanager
def database_held(engine: Any) -> Iterator[None]:
    """Every statement on `engine` waits until the block is left (the store stays real)."""
    gate = threading.Event()

    def hold(*_: Any) -> None:
        gate.wait(10)

    event.listen(engine, "before_cursor_execute", hold)
    try:
        yield
    finally:
        gate.set()
        event.remove(engine, "before_cursor_execute", hold)


async def reads_reach(store: Store, count: int) -> None:
    for _ in range(200):
        if store.reads() >= count:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("form", ["api key", "jwt"])
async def test_a_credential_in_use_is_read_again_before_it_expires_without_waiting(
        store: Store, form: str) -> None:
    """Past half its period, a cached credential answers at once and is read again behind
    the request; that read renews it, so steady traffic never waits on the database."""
    header = (lambda: f"Bearer {API_KEY}") if form == "api key" else (
        lambda: f"Bearer {kling_jwt()}")
    authenticator = store.authenticator(cache_seconds=0.6)
    assert await authenticator.authenticate(header()) == store.principal
    await asyncio.sleep(0.15)
    assert await authenticator.authenticate(header()) == store.principal
    await asyncio.sleep(0.05)
    assert store.reads() == 1  # before half the period: no read ahead
    await asyncio.sleep(0.15)  # past half of 0.6 s, still trusted
    with database_held(store.engine):
        answered = await asyncio.wait_for(authenticator.authenticate(header()), 2)
        assert answered == store.principal  # answered while its read waits on the database
        await reads_reach(store, 2)
        assert store.reads() == 2  # the read ahead started, and only one
    await asyncio.sleep(0.4)  # 0.75 s after the first read: only the renewal keeps it
    with database_held(store.engine):
        answered = await asyncio.wait_for(authenticator.authenticate(header()), 2)
        assert answered == store.principal


async def test_a_failed_read_ahead_leaves_the_entry_until_it_expires(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    authenticator = store.authenticator(cache_seconds=0.6)
    assert await authenticator.authenticate(f"Bearer {API_KEY}") == store.principal
    await asyncio.sleep(0.35)

    def fail(*_: Any) -> None:
        raise ConnectionError("database unreachable")

    event.listen(store.engine, "before_cursor_execute", fail)
    try:
        with caplog.at_level(logging.DEBUG):
            # The read ahead fails behind this request, which is answered from the cache.
            assert await authenticator.authenticate(f"Bearer {API_KEY}") == store.principal
            await asyncio.sleep(0.05)
            assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
            await asyncio.sleep(0.3)  # expired: now a request meets the failure itself
            with pytest.raises(Exception, match="database unreachable"):
                await authenticator.authenticate(f"Bearer {API_KEY}")
    finally:
        event.remove(store.engine, "before_cursor_execute", fail)
    assert await authenticator.authenticate(f"Bearer {API_KEY}") == store.principal


@pytest.mark.parametrize("form", ["api key", "jwt"])
async def test_a_revocation_read_ahead_refuses_the_next_request(store: Store, form: str) -> None:
    authenticator = store.authenticator(cache_seconds=2.0)
    header = (lambda: f"Bearer {API_KEY}") if form == "api key" else (
        lambda: f"Bearer {kling_jwt()}")
    assert await authenticator.authenticate(header()) == store.principal
    await store.accounts.revoke(ACCESS_KEY, now=2)
    await asyncio.sleep(1.1)  # past half the period
    assert await authenticator.authenticate(header()) == store.principal  # from the cache
    await reads_reach(store, 2)
    await asyncio.sleep(0.05)  # the read's answer is remembered
    assert (await refusal(authenticator, header())) == (
        401, 1002, "Authorization: key has been revoked")  # before the 2 s were over


async def test_zero_cache_seconds_reads_every_time(store: Store) -> None:
    authenticator = store.authenticator(cache_seconds=0)
    for _ in range(3):
        await authenticator.authenticate(f"Bearer {API_KEY}")
        await authenticator.authenticate(f"Bearer {kling_jwt()}")
        await refusal(authenticator, "Bearer ok-guess")
    assert store.reads() == 9


async def test_concurrent_first_requests_share_one_read(store: Store) -> None:
    authenticator = store.authenticator()
    results = await asyncio.gather(
        *(authenticator.authenticate(f"Bearer {API_KEY}") for _ in range(10)),
        *(authenticator.authenticate(f"Bearer {kling_jwt()}") for _ in range(10)))
    assert results == [store.principal] * 20
    assert store.reads() == 2
    outcomes = await asyncio.gather(
        *(authenticator.authenticate("Bearer ok-guess") for _ in range(10)),
        return_exceptions=True)
    assert [getattr(e, "code", None) for e in outcomes] == [1002] * 10
    assert store.reads() == 3


async def test_a_full_cache_is_emptied_rather_than_grown(store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_CACHE_LIMIT", 2)  # the real bound is 10,000 entries
    authenticator = store.authenticator()
    for key in ("ok-guess-1", "ok-guess-2"):
        await refusal(authenticator, f"Bearer {key}")
    await refusal(authenticator, "Bearer ok-guess-1")
    assert store.reads() == 2  # both remembered: the cache holds 2
    await refusal(authenticator, "Bearer ok-guess-3")  # full: emptied, then this one kept
    await refusal(authenticator, "Bearer ok-guess-3")
    await refusal(authenticator, "Bearer ok-guess-1")
    assert store.reads() == 4


def test_the_cache_bound_holds_for_any_size(store: Store,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_CACHE_LIMIT", int("300"))  # not one of CPython's cached ints
    cache = {f"k{i}": 0.0 for i in range(299)}
    authenticator = store.authenticator()
    authenticator._remember(cache, "k299", 0.0)
    assert len(cache) == 300
    authenticator._remember(cache, "k300", 0.0)
    assert cache == {"k300": 0.0}


# ----- the Authorization header -------------------------------------------------------------

def test_a_principal_is_an_immutable_value() -> None:
    principal = Principal(account_id=1, account_name="a", credential_id=2)
    assert principal == Principal(1, "a", 2) and hash(principal) == hash(Principal(1, "a", 2))
    with pytest.raises(AttributeError):
        principal.account_id = 3  # type: ignore[misc]


@pytest.mark.parametrize("header", [f"Bearer {API_KEY}", f"bearer {API_KEY}",
                                    f"BEARER   {API_KEY}  ", f"  Bearer {API_KEY}", API_KEY,
                                    f" {API_KEY} "])
async def test_bearer_and_bare_api_keys_are_accepted(store: Store, header: str) -> None:
    assert await store.authenticator().authenticate(header) == store.principal


@pytest.mark.parametrize("header,message", [
    (None, "Authorization header is missing"), ("", "Authorization header is missing"),
    ("   ", "Authorization header is missing"), ("Bearer", "Authorization header has no token"),
    ("bearer  ", "Authorization header has no token"),
])
async def test_missing_token_is_1001(store: Store, header: str | None, message: str) -> None:
    assert await refusal(store.authenticator(), header) == (401, 1001, message)
    assert store.reads() == 0


@pytest.mark.parametrize("header", [f"Basic {API_KEY}", f"Token {API_KEY}"])
async def test_other_schemes_are_1002(store: Store, header: str) -> None:
    assert await refusal(store.authenticator(), header) == (
        401, 1002, "Authorization: use the Bearer scheme")


@pytest.mark.parametrize("token", ["ok-not-a-real-key", "eyJnot-a-jwt", "a.b.c", "eyJa.b.c.d"])
async def test_unknown_api_keys_are_1002(store: Store, token: str) -> None:
    assert await refusal(store.authenticator(), f"Bearer {token}") == (
        401, 1002, "Authorization: unknown key")


@pytest.mark.parametrize("token", ["abc", "Bear", "a.b.c"])
async def test_a_bare_unknown_token_is_an_unknown_key_whatever_it_spells(store: Store,
                                                                        token: str) -> None:
    assert await refusal(store.authenticator(), token) == (
        401, 1002, "Authorization: unknown key")


async def test_a_bare_jwt_is_accepted(store: Store) -> None:
    assert await store.authenticator().authenticate(kling_jwt()) == store.principal
    token = hand_signed_jwt({"iss": ACCESS_KEY, "exp": int(time.time()) + 60})
    assert await store.authenticator().authenticate(token) == store.principal


# ----- JWTs -----------------------------------------------------------------------------------

async def test_a_kling_sdk_jwt_is_accepted(store: Store) -> None:
    assert await store.authenticator().authenticate(f"Bearer {kling_jwt()}") == store.principal


@pytest.mark.parametrize("iss", [123, 1.5, ["AK"], {"k": "v"}, True, "", "AK\x00"])
async def test_an_iss_that_is_not_a_usable_string_is_1002(store: Store, iss: Any) -> None:
    token = hand_signed_jwt({"iss": iss, "exp": int(time.time()) + 60})
    assert await refusal(store.authenticator(), f"Bearer {token}") == (
        401, 1002, "Authorization: token has no iss (access key)")
    assert store.reads() == 0


async def test_a_token_without_iss_is_1002(store: Store) -> None:
    token = jwt.encode({"exp": int(time.time()) + 60}, SECRET_KEY, algorithm="HS256")
    assert await refusal(store.authenticator(), f"Bearer {token}") == (
        401, 1002, "Authorization: token has no iss (access key)")


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
async def test_only_hs256_is_accepted(store: Store, alg: str) -> None:
    assert await refusal(store.authenticator(), f"Bearer {kling_jwt(alg=alg)}") == (
        401, 1002, "Authorization: token must be signed with HS256")


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "HS", "hs256"])
async def test_other_algorithm_names_are_refused_before_any_read(store: Store, alg: str) -> None:
    token = hand_signed_jwt({"iss": ACCESS_KEY, "exp": int(time.time()) + 60}, alg=alg)
    assert await refusal(store.authenticator(), f"Bearer {token}") == (
        401, 1002, "Authorization: token must be signed with HS256")
    assert store.reads() == 0


async def test_a_malformed_token_is_1002(store: Store) -> None:
    assert await refusal(store.authenticator(), "Bearer eyJhbGciOi.e30.sig") == (
        401, 1002, "Authorization: malformed token")


async def test_a_wrong_signature_or_missing_exp_is_1002(store: Store) -> None:
    authenticator = store.authenticator()
    status, code, message = await refusal(authenticator,
                                          f"Bearer {kling_jwt(secret='x' * 40)}")
    assert (status, code) == (401, 1002)
    assert message.startswith("Authorization: invalid token (")
    status, code, message = await refusal(authenticator, f"Bearer {kling_jwt(exp_in=None)}")
    assert (status, code) == (401, 1002) and "exp" in message


# The contract allows "a small clock skew (a few seconds)"; openkling allows 5 s. Whole-second
# claims and a running clock make the exact second untestable without flakiness: each side is
# tested 2 s away from it.
@pytest.mark.parametrize("exp_in", [-3, 0, 1800])
async def test_expiry_within_the_leeway_is_accepted(store: Store, exp_in: float) -> None:
    assert await store.authenticator().authenticate(
        f"Bearer {kling_jwt(exp_in=exp_in)}") == store.principal


@pytest.mark.parametrize("exp_in", [-7, -120])
async def test_expiry_past_the_leeway_is_1004(store: Store, exp_in: float) -> None:
    assert await refusal(store.authenticator(), f"Bearer {kling_jwt(exp_in=exp_in)}") == (
        401, 1004, "Authorization: token expired")


@pytest.mark.parametrize("nbf_in", [3, 0, -5])
async def test_not_before_within_the_leeway_is_accepted(store: Store, nbf_in: float) -> None:
    assert await store.authenticator().authenticate(
        f"Bearer {kling_jwt(nbf_in=nbf_in)}") == store.principal


@pytest.mark.parametrize("nbf_in", [7, 120])
async def test_not_before_past_the_leeway_is_1003(store: Store, nbf_in: float) -> None:
    assert await refusal(store.authenticator(), f"Bearer {kling_jwt(nbf_in=nbf_in)}") == (
        401, 1003, "Authorization: token not yet valid (nbf)")


# ----- revocation and disabled accounts -------------------------------------------------------

async def test_a_revoked_credential_is_1002_for_both_token_forms(store: Store) -> None:
    assert await store.accounts.revoke(ACCESS_KEY, now=2) == 1
    authenticator = store.authenticator()
    expected = (401, 1002, "Authorization: key has been revoked")
    assert await refusal(authenticator, f"Bearer {API_KEY}") == expected
    assert await refusal(authenticator, f"Bearer {kling_jwt()}") == expected


async def test_a_disabled_account_is_1100(store: Store) -> None:
    assert await store.accounts.set_disabled("carol", True)
    authenticator = store.authenticator()
    expected = (429, 1100, "account is disabled")
    assert await refusal(authenticator, f"Bearer {API_KEY}") == expected
    assert await refusal(authenticator, f"Bearer {kling_jwt()}") == expected


def at_whole_second() -> int:
    """The current Unix second, early in it, so the claims below are judged within it."""
    fraction = time.time() % 1
    if fraction > 0.5:
        time.sleep(1.02 - fraction)
    return math.floor(time.time())


async def test_the_leeway_is_five_seconds_each_way(store: Store) -> None:
    authenticator = store.authenticator()
    await authenticator.authenticate(f"Bearer {kling_jwt()}")  # the secret is now cached
    now = at_whole_second()
    # Accepted however much time passes: nbf <= now + 5.
    late = hand_signed_jwt({"iss": ACCESS_KEY, "exp": now + 60, "nbf": now + 5})
    assert await authenticator.authenticate(f"Bearer {late}") == store.principal
    # Refused however much time passes: exp <= now - 5.
    expired = hand_signed_jwt({"iss": ACCESS_KEY, "exp": now - 5})
    assert await refusal(authenticator, f"Bearer {expired}") == (
        401, 1004, "Authorization: token expired")
