"""OpenAI video events and their Standard Webhooks signature, checked against the spec's
published test vector and its rules (not against this module's own output)."""

from __future__ import annotations

import base64
import dataclasses
import json

from openkling.core.openai_webhooks import (
    event_id,
    event_payload,
    new_secret,
    signature,
    signed_headers,
)
from openkling.store.records import TaskRecord
from openkling.vocabulary import TaskStatus

TASK = TaskRecord(
    id="video_0123456789abcdef", account_id=1, kind="videos/text2video", external_task_id=None,
    model_name="kling-v1", provider="p", request={"front": {}}, callback_url="https://h/",
    status=TaskStatus.SUBMITTED, status_msg="", progress=0, result=None, created_at=0,
    updated_at=0, attempts=0, max_attempts=3, run_after=0, lease_owner=None,
    lease_expires_at=None, cancel_requested=False, last_error=None, provider_state=None,
)


def test_the_standard_webhooks_reference_vector() -> None:
    # The example in the Standard Webhooks specification (and its reference libraries' tests).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


def test_only_a_video_that_ended_sends_an_event() -> None:
    assert event_payload(TASK, 1_000) is None
    assert event_payload(dataclasses.replace(TASK, status=TaskStatus.PROCESSING), 1_000) is None
    for status, kind in ((TaskStatus.SUCCEED, "video.completed"),
                         (TaskStatus.FAILED, "video.failed")):
        payload = event_payload(dataclasses.replace(TASK, status=status), 1_795_000_000_123)
        assert payload is not None
        event = json.loads(payload)
        assert event["object"] == "event" and event["type"] == kind
        assert event["created_at"] == 1_795_000_000 and event["data"] == {"id": TASK.id}
        assert event["id"].startswith("evt_") and event_id(payload.encode()) == event["id"]


def test_other_bodies_are_not_events() -> None:
    for body in (b"", b"not json", b"[]", b'{"task_id": "1", "task_status": "succeed"}',
                 b'{"object": "event", "type": "response.completed", "id": "evt_1"}',
                 b'{"object": "event", "type": "video.completed"}'):
        assert event_id(body) is None


def test_secrets_and_headers() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert new_secret() != secret
    headers = signed_headers(secret, "evt_1", 5, b"{}")
    assert headers["webhook-id"] == "evt_1" and headers["webhook-timestamp"] == "5"
    assert headers["webhook-signature"] == signature(secret, "evt_1", 5, b"{}")
