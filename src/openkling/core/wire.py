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
                    "url": _url(video, url_for),
                    "duration": format_duration(float(video["duration"])),
                }
                for video in task.result.get("videos", [])
            ]
        }
        if "images" in task.result:  # images/generations: Kling sends images only
            result = {"images": [{"index": int(image["index"]), "url": _url(image, url_for)}
                                 for image in task.result["images"]]}
    return {
        "task_id": task.id,
        "task_status": task.status,
        "task_status_msg": task.status_msg or _ignored_note(task),
        "task_info": {"external_task_id": task.external_task_id} if task.external_task_id else {},
        "task_result": result,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "progress": task.progress,
    }


def _url(item: dict[str, Any], url_for: Callable[[str], str]) -> str:
    return url_for(item["storage_key"]) if "storage_key" in item else str(item["url"])


def _ignored_note(task: TaskRecord) -> str:
    """Fields the operator lets this server accept and ignore: the task says so."""
    ignored = task.request.get("ignored_fields") if isinstance(task.request, dict) else None
    if not ignored or task.status == TaskStatus.FAILED:
        return ""
    return f"ignored by this server: {', '.join(ignored)}"


def callback_body(task: TaskRecord, url_for: Callable[[str], str]) -> str:
    """A callback's JSON body: the bare task object, as a poll would return it."""
    return json.dumps(task_to_wire(task, url_for), separators=(",", ":"))
