"""OpenAI webhooks: `openkling webhooks set` points an account's OpenAI video events at a
loopback receiver; `video.completed` and `video.failed` arrive signed by Standard Webhooks'
rules, verified here from the spec (HMAC-SHA256 keyed with the base64-decoded `whsec_`
secret over "<webhook-id>.<webhook-timestamp>.<body>", header `v1,<base64>`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from openai import OpenAI

from tests.conftest import ServerFactory
from tests.doubles.receiver import CallbackReceiverDouble, Received

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def verified(secret: str, received: Received) -> dict[str, object]:
    """The event, once its signature and timestamp pass Standard Webhooks' checks."""
    message_id = received.headers["webhook-id"]
    timestamp = received.headers["webhook-timestamp"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + received.body, hashlib.sha256)
    expected = "v1," + base64.b64encode(mac.digest()).decode()
    assert expected in received.headers["webhook-signature"].split(" ")
    assert abs(time.time() - int(timestamp)) < 300
    event: dict[str, object] = json.loads(received.body)
    assert event["id"] == message_id
    return event


def test_video_events_reach_the_webhook_signed(server_factory: ServerFactory,
                                               database_url: str) -> None:
    server = server_factory({"OPENKLING_DATABASE_URL": database_url})
    creds = server.create_key("hooks")
    with CallbackReceiverDouble() as receiver:
        out = server.cli("webhooks", "set", "hooks", receiver.url, "--json")
        assert out.returncode == 0, out.stderr
        secret = json.loads(out.stdout)["secret"]
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
        shown = json.loads(server.cli("webhooks", "show", "hooks", "--json").stdout)
        assert shown == {"account": "hooks", "url": receiver.url}

        client = OpenAI(base_url=f"{server.base_url}/v1", api_key=creds.api_key,
                        max_retries=0)
        good = client.videos.create(prompt="a fox")
        bad = client.videos.create(prompt="a fox [fail]")
        events = [verified(secret, r) for r in receiver.wait_for(2)]
    # One event per video, at its end (none when it starts), naming the video.
    assert sorted((e["type"], e["data"]) for e in events) == [  # type: ignore[type-var]
        ("video.completed", {"id": good.id}), ("video.failed", {"id": bad.id})]
    assert all(e["object"] == "event" and isinstance(e["created_at"], int) for e in events)
    assert client.videos.retrieve(bad.id).error is not None


def test_a_forged_signature_does_not_verify(server_factory: ServerFactory) -> None:
    """The check above can fail: the same event under another secret is refused."""
    server = server_factory()
    creds = server.create_key("forged")
    with CallbackReceiverDouble() as receiver:
        out = server.cli("webhooks", "set", "forged", receiver.url, "--json")
        OpenAI(base_url=f"{server.base_url}/v1", api_key=creds.api_key,
               max_retries=0).videos.create(prompt="a fox")
        received = receiver.wait_for(1)[0]
    secret = json.loads(out.stdout)["secret"]
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert verified(secret, received)["type"] == "video.completed"
    with pytest.raises(AssertionError):
        verified(other, received)


def test_webhook_urls_are_checked_and_accounts_must_exist(
        server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_ALLOW_PRIVATE_CALLBACKS": "false"})
    server.create_key("strict")
    refused = server.cli("webhooks", "set", "strict", "http://127.0.0.1:9/hook")
    assert refused.returncode != 0 and "URL" in refused.stderr
    missing = server.cli("webhooks", "set", "nobody", "https://93.184.216.34/hook")
    assert missing.returncode == 1 and "No account named 'nobody'" in missing.stdout
