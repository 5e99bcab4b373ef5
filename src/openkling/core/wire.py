"""The task object exactly as Kling clients expect it: ids and durations are strings."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from openkling.store.records import TaskRecord, TaskStatus


def format_duration(seconds: float) -> str:
    return f"{seconds:.1f}"


def task_to_wire(task: TaskRecord, url_for: Callable[[str], str]) -> dict[str, Any]:
    """`url_for` turns a storage key into a (signed) download URL at read time."""
    result: dict[str, Any] = {}
    if task.status == TaskStatus.SUCCEED and task.result:
        result = {
            "videos": [
                {
                    "id": str(video["id"]),
                    "url": url_for(video["storage_key"]) if "storage_key" in video
                    else video["url"],
                    "duration": format_duration(float(video["duration"])),
                }
                for video in task.result.get("videos", [])
            ]
        }
    return {
        "task_id": task.id,
        "task_status": task.status,
        "task_status_msg": task.status_msg,
        "task_info": {"external_task_id": task.external_task_id} if task.external_task_id else {},
        "task_result": result,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "progress": task.progress,
    }


def callback_body(task: TaskRecord, url_for: Callable[[str], str]) -> str:
    """A callback's JSON body: the bare task object, as a poll would return it."""
    return json.dumps(task_to_wire(task, url_for), separators=(",", ":"))
