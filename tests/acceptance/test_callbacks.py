"""Callbacks end to end: Kling's bare task body, signature headers, retries, durability."""

from __future__ import annotations

import time

import httpx

from openkling.core.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.conftest import ServerFactory, free_port
from tests.doubles.receiver import CallbackReceiverDouble


def create(server_url: str, headers: dict[str, str], **body: object) -> dict[str, object]:
    response = httpx.post(f"{server_url}/v1/videos/text2video", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def test_each_status_change_is_posted_signed_and_in_order(server_factory: ServerFactory) -> None:
    server = server_factory()
    creds = server.create_key("hooks")
    assert creds.callback_secret
    with CallbackReceiverDouble() as receiver:
        task = create(server.base_url, creds.headers, prompt="[sleep=0.5]",
                      callback_url=receiver.url, external_task_id="cb-1")
        first, second = receiver.wait_for(2)
    assert [first.json["task_status"], second.json["task_status"]] == ["processing", "succeed"]
    body = second.json
    assert "code" not in body and "data" not in body  # the bare task object, as Kling sends
    assert body["task_id"] == task["task_id"]
    assert body["task_info"] == {"external_task_id": "cb-1"}
    assert body["task_result"]["videos"][0]["duration"] == "1.1"
    for message in (first, second):
        timestamp = int(message.headers[TIMESTAMP_HEADER])
        assert abs(timestamp - time.time()) < 60
        assert verify(creds.callback_secret, timestamp, message.body,
                      message.headers[SIGNATURE_HEADER])


def test_failed_deliveries_are_retried(server_factory: ServerFactory) -> None:
    server = server_factory()
    creds = server.create_key("retry")
    with CallbackReceiverDouble(fail_first=2) as receiver:
        create(server.base_url, creds.headers, prompt="[fail]", callback_url=receiver.url)
        received = receiver.wait_for(2, timeout=60)
        assert receiver.attempts >= 4
    assert [r.json["task_status"] for r in received] == ["processing", "failed"]


def test_deliveries_survive_a_restart(server_factory: ServerFactory) -> None:
    server = server_factory()
    creds = server.create_key("durable")
    port = free_port()  # nothing listens here yet: deliveries fail and stay queued
    task = create(server.base_url, creds.headers, prompt="x",
                  callback_url=f"http://127.0.0.1:{port}/hook")
    deadline = time.monotonic() + 20
    while httpx.get(f"{server.base_url}/v1/videos/text2video/{task['task_id']}",
                    headers=creds.headers).json()["data"]["task_status"] != "succeed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    server.stop()
    with CallbackReceiverDouble(port=port) as receiver:
        server.start()
        received = receiver.wait_for(2, timeout=60)
    assert [r.json["task_status"] for r in received] == ["processing", "succeed"]


def test_private_callback_refused_unless_allowed(server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_ALLOW_PRIVATE_CALLBACKS": "false"})
    creds = server.create_key("strict")
    response = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                          json={"prompt": "x", "callback_url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 400
    assert response.json()["code"] == 1201
    assert response.json()["message"].startswith("callback_url:")
