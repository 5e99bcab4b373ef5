"""Operator routes for quotas (resource packs) and the figures at a glance.

Who may call them is checked with every admin route in test_admin_routes.py; here: what they
do, and that bad input is 400 / 1201 naming the field.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.conftest import Credentials, ServerFactory, ServerHandle, wait_for_status
from tests.integration.api.test_admin_routes import admin_key, call, code_of

KLING = "/v1/videos/text2video"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def server(api_server: ServerHandle) -> ServerHandle:
    return api_server


@pytest.fixture(scope="module")
def root(server: ServerHandle) -> Credentials:
    return admin_key(server, "quota-root")


def account_id(server: ServerHandle, root: Credentials, name: str) -> int:
    accounts = call(server, "GET", "/admin/v1/accounts", root).json()["data"]
    return int(next(a["id"] for a in accounts if a["name"] == name))


def test_an_added_quota_is_listed_meters_creates_and_shows_in_account_costs(
    server: ServerHandle, root: Credentials
) -> None:
    user = server.create_key("metered")
    target = account_id(server, root, "metered")
    before = {q["account"]: q for q in call(server, "GET", "/admin/v1/quotas", root).json()["data"]}
    assert before["metered"]["metered"] is False and before["metered"]["packs"] == []

    added = call(server, "POST", f"/admin/v1/accounts/{target}/quotas", root,
                 json={"units": 1.5, "days": 30, "name": "trial"})
    assert added.status_code == 200, added.text
    pack = added.json()["data"]
    assert pack["account_id"] == target and pack["resource_pack_name"] == "trial"
    assert pack["total_quantity"] == 1.5 and pack["remaining_quantity"] == 1.5
    assert pack["status"] == "online"
    assert pack["invalid_time"] - pack["effective_time"] == 30 * DAY_MS

    # The account sees the same pack through Kling's own route.
    costs = httpx.get(server.base_url + "/v1/account/costs", headers=user.headers).json()
    [info] = costs["data"]["resource_pack_subscribe_infos"]
    assert info["resource_pack_id"] == pack["resource_pack_id"]

    # A 5 s std video costs 1 unit (0.2 per second, the default price): one fits, two do not.
    first = httpx.post(server.base_url + KLING, headers=user.headers, json={"prompt": "one"})
    assert first.status_code == 200, first.text
    second = httpx.post(server.base_url + KLING, headers=user.headers, json={"prompt": "two"})
    assert code_of(second) == (429, 1102)
    listed = {q["account"]: q for q in call(server, "GET", "/admin/v1/quotas", root).json()["data"]}
    assert listed["metered"]["metered"] is True
    assert listed["metered"]["remaining_units"] == pytest.approx(0.5)
    assert [p["remaining_quantity"] for p in listed["metered"]["packs"]] == [pytest.approx(0.5)]


def test_a_quota_with_an_expiry_date_and_without_one(
    server: ServerHandle, root: Credentials
) -> None:
    server.create_key("dated")
    target = account_id(server, root, "dated")
    expires = int(time.time() * 1000) + 7 * DAY_MS
    dated = call(server, "POST", f"/admin/v1/accounts/{target}/quotas", root,
                 json={"units": 10, "expires_at": expires}).json()["data"]
    assert dated["invalid_time"] == expires and dated["resource_pack_name"] == "10 units"
    forever = call(server, "POST", f"/admin/v1/accounts/{target}/quotas", root,
                   json={"units": 2}).json()["data"]
    assert forever["invalid_time"] is None
    # Not yet in effect: listed, but its units are not counted as available.
    later = call(server, "POST", f"/admin/v1/accounts/{target}/quotas", root,
                 json={"units": 5, "effective_at": expires}).json()["data"]
    assert later["status"] == "toBeOnline"
    listed = {q["account"]: q for q in call(server, "GET", "/admin/v1/quotas", root).json()["data"]}
    assert listed["dated"]["remaining_units"] == 12


@pytest.mark.parametrize(("body", "field"), [
    ({}, "units"),
    ({"units": 0}, "units"),
    ({"units": -1}, "units"),
    ({"units": "5"}, "units"),
    ({"units": True}, "units"),
    ({"units": 1e13}, "units"),
    ({"units": 1, "days": 0}, "days"),
    ({"units": 1, "days": 1.5}, "days"),
    ({"units": 1, "days": 36_501}, "days"),
    ({"units": 1, "days": 3, "expires_at": 4_102_444_800_000}, "days"),
    ({"units": 1, "expires_at": 1_000}, "expires_at"),
    ({"units": 1, "effective_at": 4_102_444_800_000, "expires_at": 4_102_444_700_000},
     "expires_at"),
    ({"units": 1, "expires_at": -5}, "expires_at"),
    ({"units": 1, "name": "   "}, "name"),
    ({"units": 1, "name": "n" * 129}, "name"),
    ({"units": 1, "unit_price": 3}, "unit_price"),
])
def test_bad_quota_bodies_are_400_1201_naming_the_field(
    server: ServerHandle, root: Credentials, body: dict[str, object], field: str
) -> None:
    target = account_id(server, root, "quota-root")
    response = call(server, "POST", f"/admin/v1/accounts/{target}/quotas", root, json=body)
    assert code_of(response) == (400, 1201), response.text
    assert response.json()["message"].startswith(field)
    packs = {q["account"]: q for q in call(server, "GET", "/admin/v1/quotas", root).json()["data"]}
    assert packs["quota-root"]["packs"] == []  # nothing was added


def test_quota_for_an_unknown_or_malformed_account_or_body(
    server: ServerHandle, root: Credentials
) -> None:
    assert code_of(call(server, "POST", "/admin/v1/accounts/999999/quotas", root,
                        json={"units": 1})) == (404, 1203)
    assert code_of(call(server, "POST", "/admin/v1/accounts/abc/quotas", root,
                        json={"units": 1}))[0] == 400
    target = account_id(server, root, "quota-root")
    assert code_of(call(server, "POST", f"/admin/v1/accounts/{target}/quotas", root,
                        content=b"{units")) == (400, 1200)


@pytest.mark.slow
async def test_metrics_count_tasks_queue_requests_and_failed_callbacks(
    server_factory: ServerFactory,
) -> None:
    server = server_factory({"OPENKLING_ALLOW_PRIVATE_CALLBACKS": "true",
                             "OPENKLING_CALLBACK_RETRY_SECONDS": "0"})
    root = admin_key(server)
    user = server.create_key("busy")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        empty = (await http.get("/admin/v1/metrics", headers=root.headers)).json()["data"]
        assert empty["tasks"]["by_status"] == {"submitted": 0, "processing": 0, "succeed": 0,
                                               "failed": 0}
        assert empty["queue"] == {"depth": 0, "oldest_submitted_age_seconds": 0}

        # Two tasks that succeed, one whose callback goes to a closed port and is given up.
        done = []
        for body in ({"prompt": "a"}, {"prompt": "b", "callback_url": "http://127.0.0.1:9/cb"}):
            created = await http.post(KLING, headers=user.headers, json=body)
            done.append(created.json()["data"]["task_id"])
        polls = 0
        for task_id in done:
            while (await http.get(f"{KLING}/{task_id}", headers=user.headers)).json()[
                    "data"]["task_status"] != "succeed":
                polls += 1
                await asyncio.sleep(0.1)
            polls += 1
        refused = await http.post(KLING, headers=user.headers, json={"prompt": ""})
        assert refused.status_code == 400
        # Four slow tasks fill the double's four slots; a fifth waits in the queue.
        slow = []
        for n in range(5):
            created = await http.post(KLING, headers=user.headers,
                                      json={"prompt": f"slow {n} [sleep=60]"})
            slow.append(created.json()["data"]["task_id"])
        deadline = time.monotonic() + 30
        while True:
            data = (await http.get("/admin/v1/metrics", headers=root.headers)).json()["data"]
            callbacks_done = data["callbacks"]["failed"] + data["callbacks"]["delivered"] >= 2
            if (data["tasks"]["by_status"]["processing"] == 4 and callbacks_done) \
                    or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)

        assert data["tasks"]["by_status"] == {"submitted": 1, "processing": 4, "succeed": 2,
                                              "failed": 0}
        assert data["tasks"]["by_family"] == {"videos/text2video": data["tasks"]["by_status"]}
        assert data["queue"]["depth"] == 1
        assert data["queue"]["oldest_submitted_age_seconds"] > 0
        assert data["created"]["last_minute"] == 7 and data["created"]["last_day"] == 7
        assert data["requests"] == {"scope": "process", "creates_accepted": 7,
                                    "creates_refused": 1, "polls": polls}
        # The first task had no callback URL; the second's two (processing, then succeed: one
        # per status change, docs/api.md) were given up at once.
        assert data["callbacks"] == {"pending": 0, "delivered": 0, "failed": 2,
                                     "failed_last_hour": 2}
        assert data["relay"] == {"in_flight": 0, "waiting_for_channel": 0}
        for task_id in slow:
            await http.post(f"{KLING}/{task_id}/cancel", headers=user.headers)
        await wait_for_status(http, f"{KLING}/{slow[-1]}", user.headers, {"failed"})
