"""Plain records the store returns, so callers never handle SQLAlchemy rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openkling.vocabulary import UNFINISHED as UNFINISHED
from openkling.vocabulary import TaskStatus as TaskStatus


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    account_id: int
    kind: str
    external_task_id: str | None
    model_name: str
    provider: str
    request: dict[str, Any]
    callback_url: str | None
    status: TaskStatus
    status_msg: str
    progress: int
    result: dict[str, Any] | None
    created_at: int
    updated_at: int
    attempts: int
    max_attempts: int
    run_after: int
    lease_owner: str | None
    lease_expires_at: int | None
    cancel_requested: bool
    last_error: str | None
    provider_state: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> TaskRecord:
        return cls.from_mapping(row._mapping)

    @classmethod
    def from_mapping(cls, m: Any) -> TaskRecord:
        values = {name: m[name] for name in cls.__slots__}
        values["status"] = TaskStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    name: str
    created_at: int
    disabled: bool
    callback_secret_enc: bytes


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    id: int
    account_id: int
    label: str
    api_key_hint: str
    access_key: str
    secret_key_enc: bytes
    created_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    task_id: str
    account_id: int
    url: str
    payload: str
    state: str
    attempts: int
    next_attempt_at: int
    created_at: int
    last_error: str | None
