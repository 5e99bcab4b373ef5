"""OpenAI's webhook events for videos, signed as Standard Webhooks (standardwebhooks.com).

The OpenAI door's wire, kept here because the store builds a delivery's payload (in the
status change's transaction) and the worker signs it: both are below the API.

- The event: `{"id": "evt_…", "object": "event", "created_at": <unix s>, "type":
  "video.completed" | "video.failed", "data": {"id": "video_…"}}`, only for the terminal
  statuses (OpenAI sends no event when a video starts).
- The signature: `webhook-id` (the event id, the same on every retry), `webhook-timestamp`
  (unix seconds of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256>` keyed with
  the base64-decoded part of the `whsec_` secret, over `"<id>.<timestamp>.<body>"`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from openkling.store.records import TaskRecord
from openkling.vocabulary import TaskStatus

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = (
    "webhook-id", "webhook-timestamp", "webhook-signature")
EVENT_TYPES = {TaskStatus.SUCCEED: "video.completed", TaskStatus.FAILED: "video.failed"}


def new_secret() -> str:
    """A `whsec_` secret: 32 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def event_payload(task: TaskRecord, now_ms: int) -> str | None:
    """The event a status change of an OpenAI video sends, or None (no event for it)."""
    kind = EVENT_TYPES.get(task.status)
    if kind is None:
        return None
    event = {"id": f"evt_{secrets.token_hex(12)}", "object": "event",
             "created_at": now_ms // 1000, "type": kind, "data": {"id": task.id}}
    return json.dumps(event, separators=(",", ":"))


def event_id(body: bytes) -> str | None:
    """The event id when `body` is one of these events (else None: another kind of
    callback)."""
    try:
        value: Any = json.loads(body)
    except ValueError:
        return None
    if (isinstance(value, dict) and value.get("object") == "event"
            and str(value.get("type", "")).startswith("video.")
            and isinstance(value.get("id"), str)):
        return str(value["id"])
    return None


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "openkling-webhooks",
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, message_id, timestamp, body),
    }
