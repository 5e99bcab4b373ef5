"""Authentication: API keys and Kling-style JWTs, every failure code, revocation."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.conftest import Credentials, ServerFactory, ServerHandle


def kling_jwt(access_key: str, secret_key: str, *, exp_in: float = 1800, nbf_in: float = -5,
              **extra: object) -> str:
    now = time.time()
    claims = {"iss": access_key, "exp": int(now + exp_in), "nbf": int(now + nbf_in), **extra}
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"typ": "JWT"})


@pytest.fixture(scope="module")
def server(api_server: ServerHandle) -> ServerHandle:
    return api_server


@pytest.fixture(scope="module")
def carol(api_server: ServerHandle) -> Credentials:
    return api_server.create_key("carol")


def get(server: ServerHandle, authorization: str | None) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return httpx.get(f"{server.base_url}/v1/videos/text2video", headers=headers)


def code_of(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


def test_api_key_and_jwt_both_work(server: ServerHandle, carol: Credentials) -> None:
    assert code_of(get(server, f"Bearer {carol.api_key}")) == (200, 0)
    token = kling_jwt(carol.access_key, carol.secret_key)
    assert code_of(get(server, f"Bearer {token}")) == (200, 0)
    assert code_of(get(server, f"bearer   {carol.api_key}")) == (200, 0)


def test_same_account_through_either_credential(server: ServerHandle, carol: Credentials) -> None:
    created = httpx.post(f"{server.base_url}/v1/videos/text2video", json={"prompt": "x"},
                         headers={"Authorization": f"Bearer {carol.api_key}"}).json()["data"]
    token = kling_jwt(carol.access_key, carol.secret_key)
    seen = httpx.get(f"{server.base_url}/v1/videos/text2video/{created['task_id']}",
                     headers={"Authorization": f"Bearer {token}"})
    assert seen.status_code == 200


@pytest.mark.parametrize("header", [None, "", "Bearer"])
def test_missing_authorization_is_1001(server: ServerHandle, header: str | None) -> None:
    assert code_of(get(server, header)) == (401, 1001)


def test_unknown_key_and_bad_scheme_are_1002(server: ServerHandle, carol: Credentials) -> None:
    assert code_of(get(server, "Bearer ok-not-a-real-key")) == (401, 1002)
    assert code_of(get(server, f"Basic {carol.api_key}")) == (401, 1002)


def test_jwt_failures(server: ServerHandle, carol: Credentials) -> None:
    wrong_secret = kling_jwt(carol.access_key, "not-the-secret-but-just-as-long-as-one")
    assert code_of(get(server, f"Bearer {wrong_secret}")) == (401, 1002)
    unknown_issuer = kling_jwt("AKUNKNOWN", carol.secret_key)
    assert code_of(get(server, f"Bearer {unknown_issuer}")) == (401, 1002)
    future = kling_jwt(carol.access_key, carol.secret_key, nbf_in=120)
    assert code_of(get(server, f"Bearer {future}")) == (401, 1003)
    expired = kling_jwt(carol.access_key, carol.secret_key, exp_in=-120)
    assert code_of(get(server, f"Bearer {expired}")) == (401, 1004)
    none_alg = jwt.encode({"iss": carol.access_key, "exp": int(time.time()) + 60}, None,
                          algorithm="none")
    assert code_of(get(server, f"Bearer {none_alg}")) == (401, 1002)
    no_exp = jwt.encode({"iss": carol.access_key}, carol.secret_key, algorithm="HS256")
    assert code_of(get(server, f"Bearer {no_exp}")) == (401, 1002)
    nul_issuer = kling_jwt("AK\x00", carol.secret_key)  # once a 500 on PostgreSQL
    assert code_of(get(server, f"Bearer {nul_issuer}")) == (401, 1002)
    garbage = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.bad-signature"
    assert code_of(get(server, f"Bearer {garbage}")) == (401, 1002)


def test_an_absurd_exp_is_refused(server: ServerHandle, carol: Credentials) -> None:
    # docs/api.md: a token may expire at most 24 hours ahead.
    day = 24 * 3600
    for exp in (10**30, 1e30, int(time.time()) + day + 60):
        token = jwt.encode({"iss": carol.access_key, "exp": exp}, carol.secret_key,
                           algorithm="HS256")
        response = get(server, f"Bearer {token}")
        assert code_of(response) == (401, 1002), exp
        assert "more than 24 hours ahead" in response.json()["message"]
    within = kling_jwt(carol.access_key, carol.secret_key, exp_in=day - 60)
    assert code_of(get(server, f"Bearer {within}")) == (200, 0)
    far_iat = kling_jwt(carol.access_key, carol.secret_key, iat=int(time.time()) + 10**9)
    assert code_of(get(server, f"Bearer {far_iat}"))[0] == 401


def test_small_clock_skew_is_tolerated(server: ServerHandle, carol: Credentials) -> None:
    slightly_early = kling_jwt(carol.access_key, carol.secret_key, nbf_in=3)
    assert code_of(get(server, f"Bearer {slightly_early}")) == (200, 0)
    just_expired = kling_jwt(carol.access_key, carol.secret_key, exp_in=-2)
    assert code_of(get(server, f"Bearer {just_expired}")) == (200, 0)


def test_revoked_key_stops_working(server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_AUTH_CACHE_SECONDS": "0"})
    creds = server.create_key("dave")
    token = kling_jwt(creds.access_key, creds.secret_key)
    assert code_of(get(server, f"Bearer {creds.api_key}")) == (200, 0)
    listing = server.cli("keys", "list", "--json")
    assert creds.api_key not in listing.stdout and creds.secret_key not in listing.stdout
    revoked = server.cli("keys", "revoke", creds.access_key)
    assert revoked.returncode == 0, revoked.stderr
    assert code_of(get(server, f"Bearer {creds.api_key}")) == (401, 1002)
    assert code_of(get(server, f"Bearer {token}")) == (401, 1002)
    again = server.cli("keys", "revoke", creds.access_key)
    assert again.returncode == 1 and "No active credential" in again.stdout
    # Secrets never reach the log.
    log = server.log()
    assert creds.api_key not in log and creds.secret_key not in log and token not in log


def test_disabled_account_is_refused_until_enabled(server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_AUTH_CACHE_SECONDS": "0"})
    creds = server.create_key("ivan")
    assert server.cli("keys", "disable-account", "ivan").returncode == 0
    assert code_of(get(server, f"Bearer {creds.api_key}")) == (429, 1100)
    assert server.cli("keys", "enable-account", "ivan").returncode == 0
    assert code_of(get(server, f"Bearer {creds.api_key}")) == (200, 0)
    assert server.cli("keys", "disable-account", "nobody").returncode == 1
