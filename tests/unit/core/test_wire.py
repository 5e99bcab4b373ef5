"""The task object's exact JSON types."""

from __future__ import annotations

import dataclasses

from openkling.core.ids import new_task_id
from openkling.core.wire import format_duration, task_to_wire
from openkling.store.records import TaskRecord

BASE = TaskRecord(
    id="1883136538221328892", account_id=1, kind="text2video", external_task_id=None,
    model_name="kling-v1", provider="p", request={}, callback_url=None, status="submitted",
    status_msg="", progress=0, result=None, created_at=1795898950787,
    updated_at=1795898950787, attempts=0, max_attempts=3, run_after=0, lease_owner=None,
    lease_expires_at=None, cancel_requested=False, last_error=None, provider_state=None,
)


def test_submitted_task_has_empty_info_and_result() -> None:
    wire = task_to_wire(BASE, lambda key: "unused")
    assert wire == {
        "task_id": "1883136538221328892", "task_status": "submitted", "task_status_msg": "",
        "task_info": {}, "task_result": {}, "created_at": 1795898950787,
        "updated_at": 1795898950787, "progress": 0,
    }


def test_succeeded_task_has_videos_with_string_duration_and_fresh_urls() -> None:
    task = dataclasses.replace(
        BASE, status="succeed", external_task_id="mine", progress=100,
        result={"videos": [{"id": "v1", "duration": 5.0625, "storage_key": "videos/a.mp4"},
                           {"id": "v2", "duration": 10, "url": "https://cdn.example/v2.mp4"}]},
    )
    wire = task_to_wire(task, lambda key: f"https://files/{key}?sig")
    assert wire["task_info"] == {"external_task_id": "mine"}
    assert wire["task_result"] == {"videos": [
        {"id": "v1", "url": "https://files/videos/a.mp4?sig", "duration": "5.1"},
        {"id": "v2", "url": "https://cdn.example/v2.mp4", "duration": "10.0"},
    ]}


def test_result_hidden_unless_succeeded() -> None:
    task = dataclasses.replace(BASE, status="failed", result={"videos": []})
    assert task_to_wire(task, str)["task_result"] == {}


def test_duration_format() -> None:
    assert format_duration(5.0625) == "5.1" and format_duration(10.0) == "10.0"


def test_task_ids_are_digit_strings_of_kling_length_and_unique() -> None:
    ids = {new_task_id() for _ in range(5000)}
    assert len(ids) == 5000
    for task_id in list(ids)[:100]:
        assert task_id.isdigit() and 18 <= len(task_id) <= 19
