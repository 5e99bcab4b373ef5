"""Operator routes at /admin/v1: who may call them, and that what they do takes effect."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.conftest import Credentials, ServerFactory, ServerHandle, wait_for_status

ADMIN_ROUTES = [
    ("GET", "/admin/v1/accounts"),
    ("POST", "/admin/v1/accounts/1/disable"),
    ("POST", "/admin/v1/accounts/1/enable"),
    ("GET", "/admin/v1/keys"),
    ("POST", "/admin/v1/keys"),
    ("POST", "/admin/v1/keys/1/revoke"),
    ("GET", "/admin/v1/system"),
    ("GET", "/admin/v1/quotas"),
    ("POST", "/admin/v1/accounts/1/quotas"),
    ("GET", "/admin/v1/metrics"),
]
KLING = "/v1/videos/text2video"


def admin_key(server: ServerHandle, name: str = "root") -> Credentials:
    out = server.cli("keys", "create", "--name", name, "--admin", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["admin"] is True
    return Credentials(account=data["account"], api_key=data["api_key"],
                       access_key=data["access_key"], secret_key=data["secret_key"],
                       callback_secret=data.get("callback_secret"))


@pytest.fixture(scope="module")
def server(api_server: ServerHandle) -> ServerHandle:
    return api_server


@pytest.fixture(scope="module")
def root(server: ServerHandle) -> Credentials:
    return admin_key(server)


@pytest.fixture(scope="module")
def user(server: ServerHandle) -> Credentials:
    return server.create_key("plain-user")


def call(server: ServerHandle, method: str, path: str, creds: Credentials | None = None,
         **kwargs: object) -> httpx.Response:
    headers = creds.headers if creds else {}
    return httpx.request(method, server.base_url + path, headers=headers, timeout=30,
                         **kwargs)  # type: ignore[arg-type]


def code_of(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_a_non_admin_key_is_refused_with_403_1103(
    server: ServerHandle, user: Credentials, method: str, path: str
) -> None:
    response = call(server, method, path, user, json={"account": "x"})
    assert code_of(response) == (403, 1103)
    assert "admin" in response.json()["message"]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_missing_or_unknown_keys_are_401(server: ServerHandle, method: str, path: str) -> None:
    assert code_of(call(server, method, path)) == (401, 1001)
    bad = httpx.request(method, server.base_url + path,
                        headers={"Authorization": "Bearer ok-not-a-key"})
    assert code_of(bad) == (401, 1002)


def test_admin_lists_accounts_and_keys_without_secrets(
    server: ServerHandle, root: Credentials, user: Credentials
) -> None:
    accounts = call(server, "GET", "/admin/v1/accounts", root).json()["data"]
    by_name = {a["name"]: a for a in accounts}
    assert by_name["root"]["is_admin"] is True
    assert by_name["plain-user"]["is_admin"] is False
    assert by_name["plain-user"]["active_keys"] >= 1
    keys = call(server, "GET", "/admin/v1/keys", root)
    assert keys.status_code == 200
    assert user.access_key in {k["access_key"] for k in keys.json()["data"]}
    for secret in (user.api_key, user.secret_key, root.api_key, root.secret_key):
        assert secret not in keys.text


def test_admin_creates_a_key_that_works_and_an_admin_key_that_administers(
    server: ServerHandle, root: Credentials
) -> None:
    made = call(server, "POST", "/admin/v1/keys", root,
                json={"account": "made-by-admin", "label": "from the console"})
    assert made.status_code == 200, made.text
    data = made.json()["data"]
    assert data["account_created"] is True and data["callback_secret"].startswith("whsec_")
    new_headers = {"Authorization": f"Bearer {data['api_key']}"}
    assert httpx.get(server.base_url + KLING, headers=new_headers).status_code == 200
    # not an admin unless asked
    assert httpx.get(server.base_url + "/admin/v1/keys", headers=new_headers).status_code == 403

    again = call(server, "POST", "/admin/v1/keys", root,
                 json={"account": "made-by-admin", "admin": True}).json()["data"]
    assert again["account_created"] is False and "callback_secret" not in again
    promoted = {"Authorization": f"Bearer {again['api_key']}"}
    assert httpx.get(server.base_url + "/admin/v1/keys", headers=promoted).status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({}, "account"),
    ({"account": ""}, "account"),
    ({"account": "   "}, "account"),
    ({"account": "x" * 129}, "account"),
    ({"account": "ok", "label": "y" * 129}, "label"),
    ({"account": "ok", "admin": "maybe"}, "admin"),
    ({"account": "ok", "role": "god"}, "role"),
])
def test_create_key_bad_bodies_are_400_1201_naming_the_field(
    server: ServerHandle, root: Credentials, body: dict[str, object], field: str
) -> None:
    response = call(server, "POST", "/admin/v1/keys", root, json=body)
    assert code_of(response) == (400, 1201)
    assert field in response.json()["message"]


def test_create_key_malformed_json_is_400_1200(server: ServerHandle, root: Credentials) -> None:
    response = call(server, "POST", "/admin/v1/keys", root, content=b"{not json")
    assert code_of(response) == (400, 1200)


def test_unknown_or_malformed_ids_are_404_or_400(server: ServerHandle, root: Credentials) -> None:
    assert code_of(call(server, "POST", "/admin/v1/keys/999999/revoke", root)) == (404, 1203)
    assert code_of(call(server, "POST", "/admin/v1/accounts/999999/disable", root)) == (404, 1203)
    assert code_of(call(server, "POST", "/admin/v1/keys/abc/revoke", root))[0] == 400
    assert code_of(call(server, "POST", "/admin/v1/accounts/abc/enable", root))[0] == 400


def test_an_admin_cannot_lock_themselves_out(server: ServerHandle, root: Credentials) -> None:
    keys = call(server, "GET", "/admin/v1/keys", root).json()["data"]
    own = next(k for k in keys if k["access_key"] == root.access_key)
    response = call(server, "POST", f"/admin/v1/keys/{own['id']}/revoke", root)
    assert code_of(response) == (400, 1201) and "credential_id" in response.json()["message"]
    own_account = own["account_id"]
    response = call(server, "POST", f"/admin/v1/accounts/{own_account}/disable", root)
    assert code_of(response) == (400, 1201) and "account_id" in response.json()["message"]
    assert call(server, "GET", "/admin/v1/keys", root).status_code == 200


def test_revoke_and_disable_lock_the_key_out_of_the_api(server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_AUTH_CACHE_SECONDS": "0"})
    root = admin_key(server)
    victim = server.create_key("victim")
    token_ok = httpx.get(server.base_url + KLING, headers=victim.headers)
    assert token_ok.status_code == 200

    accounts = call(server, "GET", "/admin/v1/accounts", root).json()["data"]
    victim_account = next(a for a in accounts if a["name"] == "victim")["id"]
    disabled = call(server, "POST", f"/admin/v1/accounts/{victim_account}/disable", root)
    assert disabled.status_code == 200 and disabled.json()["data"]["disabled"] is True
    assert code_of(httpx.get(server.base_url + KLING, headers=victim.headers)) == (429, 1100)
    enabled = call(server, "POST", f"/admin/v1/accounts/{victim_account}/enable", root)
    assert enabled.json()["data"]["disabled"] is False
    assert httpx.get(server.base_url + KLING, headers=victim.headers).status_code == 200

    keys = call(server, "GET", "/admin/v1/keys", root).json()["data"]
    key_id = next(k["id"] for k in keys if k["access_key"] == victim.access_key)
    revoked = call(server, "POST", f"/admin/v1/keys/{key_id}/revoke", root)
    assert revoked.status_code == 200 and revoked.json()["data"]["revoked_at"]
    assert code_of(httpx.get(server.base_url + KLING, headers=victim.headers)) == (401, 1002)
    # revoking again is harmless and keeps the first revocation time
    again = call(server, "POST", f"/admin/v1/keys/{key_id}/revoke", root).json()["data"]
    assert again["revoked_at"] == revoked.json()["data"]["revoked_at"]
    assert victim.api_key not in server.log() and root.api_key not in server.log()


def test_revocation_reaches_a_server_with_the_default_auth_cache(
    server_factory: ServerFactory,
) -> None:
    """With the default cache a revoked key keeps working for at most auth_cache_seconds."""
    server = server_factory()
    root = admin_key(server)
    victim = server.create_key("victim")
    assert httpx.get(server.base_url + KLING, headers=victim.headers).status_code == 200
    keys = call(server, "GET", "/admin/v1/keys", root).json()["data"]
    key_id = next(k["id"] for k in keys if k["access_key"] == victim.access_key)
    assert call(server, "POST", f"/admin/v1/keys/{key_id}/revoke", root).status_code == 200
    deadline = time.monotonic() + 30
    while httpx.get(server.base_url + KLING, headers=victim.headers).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.2)


def test_system_shows_models_providers_and_readiness(
    server: ServerHandle, root: Credentials
) -> None:
    data = call(server, "GET", "/admin/v1/system", root).json()["data"]
    assert data["database"] == "ok"
    assert [p["state"] for p in data["providers"]] == ["ready"]
    names = {m["name"] for m in data["models"]}
    assert "kling-v1" in names
    assert [m["name"] for m in data["models"] if m["default"]] == ["kling-v1"]
    assert data["channels"]["configured"] is False


@pytest.mark.slow
async def test_system_shows_relay_channels_with_in_flight_tasks(
    server_factory: ServerFactory,
) -> None:
    upstream = server_factory(name="upstream")
    upstream_key = upstream.create_key("relay-account")
    relay = server_factory({
        "OPENKLING_PROVIDER_OPTIONS__KLING__BASE_URL": upstream.base_url,
        "OPENKLING_PROVIDER_OPTIONS__KLING__PATH_PREFIX": "/kling",
        "OPENKLING_PROVIDER_OPTIONS__KLING__API_KEY": upstream_key.api_key,
        "OPENKLING_PROVIDER_OPTIONS__KLING__MAX_CONCURRENCY": "3",
        "OPENKLING_PROVIDER_OPTIONS__KLING__FIRST_POLL_AFTER": "0.2",
    }, provider="kling", name="relay")
    root = admin_key(relay)
    client = relay.create_key("client")
    async with httpx.AsyncClient(base_url=relay.base_url, timeout=30) as http:
        created = await http.post(KLING, headers=client.headers,
                                  json={"prompt": "slow upstream [sleep=60]"})
        task_id = created.json()["data"]["task_id"]
        await wait_for_status(http, f"{KLING}/{task_id}", client.headers, {"processing"})
        deadline = time.monotonic() + 30
        while True:
            system = (await http.get("/admin/v1/system", headers=root.headers)).json()["data"]
            [channel] = system["channels"]["items"]
            if channel["in_flight"] == 1 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert channel["name"] == "default" and channel["max_concurrency"] == 3
        assert channel["in_flight"] == 1
        glance = (await http.get("/admin/v1/metrics", headers=root.headers)).json()["data"]
        assert glance["relay"] == {"in_flight": 1, "waiting_for_channel": 0}
        assert channel["base_url"] == upstream.base_url
        text = json.dumps(system)
        assert upstream_key.api_key not in text  # channel secrets never leave the server
        await http.post(f"{KLING}/{task_id}/cancel", headers=client.headers)
