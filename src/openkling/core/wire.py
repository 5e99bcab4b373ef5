"""The task object exactly as Kling clients expect it: ids and durations are strings."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from openkling.store.records import TaskRecord
from openkling.vocabulary import ResultKind, TaskStatus


def format_duration(seconds: float) -> str:
    return f"{seconds:.1f}"


def task_to_wire(task: TaskRecord, url_for: Callable[[str], str]) -> dict[str, Any]:
    """`url_for` turns a storage key into a (signed) download URL at read time."""
    result: dict[str, Any] = {}
    if task.status == TaskStatus.SUCCEED and task.result:
        result = {
            ResultKind.VIDEOS: [
                {
                    "id": str(video["id"]),
                    "url": _url(video, url_for),
                    "duration": format_duration(float(video["duration"])),
                    **({"session_id": str(video["session_id"])} if "session_id" in video
                       else {}),
                }
                for video in task.result.get(ResultKind.VIDEOS, [])
            ]
        }
        if ResultKind.IMAGES in task.result:  # images/generations: Kling sends images only
            result = {ResultKind.IMAGES: [
                {"index": int(image["index"]), "url": _url(image, url_for)}
                for image in task.result[ResultKind.IMAGES]]}
        if ResultKind.AUDIOS in task.result:  # audio families: sounds, and video-to-audio its
            if not result[ResultKind.VIDEOS]:  # video
                del result[ResultKind.VIDEOS]
            result[ResultKind.AUDIOS] = [_audio(audio, url_for)
                                         for audio in task.result[ResultKind.AUDIOS]]
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


def _audio(audio: dict[str, Any], url_for: Callable[[str], str]) -> dict[str, Any]:
    """Kling's audio object: `{id, url_mp3, url_wav, duration_mp3, duration_wav}`."""
    wire: dict[str, Any] = {"id": str(audio["id"])}
    for fmt, item in audio.get("formats", {}).items():
        wire[f"url_{fmt}"] = _url(item, url_for)
        wire[f"duration_{fmt}"] = format_duration(float(item["duration"]))
    return wire


def _ignored_note(task: TaskRecord) -> str:
    """Fields the operator lets this server accept and ignore: the task says so."""
    ignored = task.request.get("ignored_fields") if isinstance(task.request, dict) else None
    if not ignored or task.status == TaskStatus.FAILED:
        return ""
    return f"ignored by this server: {', '.join(ignored)}"


def callback_body(task: TaskRecord, url_for: Callable[[str], str]) -> str:
    """A callback's JSON body: the bare task object, as a poll would return it."""
    return json.dumps(task_to_wire(task, url_for), separators=(",", ":"))


class WireCache:
    """The JSON of a task as a poll answers it, kept while the task is unchanged.

    Polls of a task that has not changed since the last one are most polls, and building the
    object (signing each result URL) and encoding it cost more than the rest of the poll.
    An entry is keyed by what the wire object is made of, so any change to the task misses;
    it lives at most `seconds`, so a cached signed URL is at most that much older than a fresh
    one (URLs live `url_ttl_seconds`, a day by default).
    """

    def __init__(self, url_for: Callable[[str], str], *, size: int = 10_000,
                 seconds: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._url_for = url_for
        self._size = size
        self._seconds = seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[tuple[Any, ...], float, bytes]] = OrderedDict()

    def json(self, task: TaskRecord) -> bytes:
        version = (task.updated_at, task.status, task.progress, task.status_msg)
        now = self._clock()
        entry = self._entries.get(task.id)
        if entry is not None and entry[0] == version and now < entry[1]:
            self._entries.move_to_end(task.id)
            return entry[2]
        body = json.dumps(task_to_wire(task, self._url_for), separators=(",", ":"),
                          ensure_ascii=False).encode()
        self._entries[task.id] = (version, now + self._seconds, body)
        self._entries.move_to_end(task.id)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return body
