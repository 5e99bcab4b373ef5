"""The task object's exact JSON types."""

from __future__ import annotations

import dataclasses
import json

from openkling.core.ids import new_task_id
from openkling.core.wire import WireCache, format_duration, task_to_wire
from openkling.store.records import TaskRecord

BASE = TaskRecord(
    id="1883136538221328892", account_id=1, kind="videos/text2video", external_task_id=None,
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


# ----- WireCache: the poll path's JSON of an unchanged task -----------------------------

SUCCEEDED = dataclasses.replace(
    BASE, status="succeed", progress=100, updated_at=BASE.updated_at + 5,
    result={"videos": [{"id": "v1", "duration": 5, "storage_key": "videos/a.mp4"}]},
)


class Signer:
    """Counts URL signings; each signing gives a new URL (as a real signer does over time)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, key: str) -> str:
        self.calls += 1
        return f"https://files/{key}?n={self.calls}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cached_json_is_the_task_object_as_a_poll_answers_it() -> None:
    signer = Signer()
    cache = WireCache(signer, clock=Clock())
    body = cache.json(SUCCEEDED)
    assert json.loads(body) == task_to_wire(SUCCEEDED, lambda key: f"https://files/{key}?n=1")
    assert cache.json(SUCCEEDED) is body
    assert signer.calls == 1  # the second poll signed nothing


def test_any_change_to_what_the_wire_shows_misses() -> None:
    def signer(key: str) -> str:
        return f"https://files/{key}"

    cache = WireCache(signer, clock=Clock())
    running = dataclasses.replace(BASE, status="processing", progress=10)
    first = json.loads(cache.json(running))
    for changed in (dataclasses.replace(running, progress=11),
                    dataclasses.replace(running, status_msg="retrying"),
                    dataclasses.replace(running, updated_at=running.updated_at + 1),
                    dataclasses.replace(running, status="succeed", result=SUCCEEDED.result)):
        assert json.loads(cache.json(changed)) == task_to_wire(changed, signer)
    assert first["progress"] == 10


def test_an_entry_lives_at_most_its_seconds() -> None:
    signer, clock = Signer(), Clock()
    cache = WireCache(signer, seconds=10.0, clock=clock)
    cache.json(SUCCEEDED)
    clock.now += 9.999
    cache.json(SUCCEEDED)
    assert signer.calls == 1
    clock.now += 0.001  # 10 s after: signed afresh
    assert json.loads(cache.json(SUCCEEDED))["task_result"]["videos"][0]["url"].endswith("n=2")


def test_the_cache_holds_at_most_size_tasks_least_recent_first_out() -> None:
    signer = Signer()
    cache = WireCache(signer, size=2, clock=Clock())
    a, b, c = (dataclasses.replace(SUCCEEDED, id=str(n)) for n in (1, 2, 3))
    cache.json(a)
    cache.json(b)
    cache.json(a)  # a is now the most recent
    cache.json(c)  # evicts b
    assert signer.calls == 3
    cache.json(a)
    assert signer.calls == 3
    cache.json(b)
    assert signer.calls == 4


def test_audio_results_are_klings_audio_objects_and_video_to_audio_keeps_its_video() -> None:
    from openkling.core.provider import AudioOutput, GenerationResult, VideoOutput
    sound = AudioOutput(id="a1", durations={"mp3": 3.04, "wav": 3.0},
                        storage_keys={"mp3": "audios/t/a1-mp3.mp3"},
                        urls={"wav": "https://cdn.example/a1.wav"})
    text = dataclasses.replace(BASE, kind="audio/text-to-audio", status="succeed",
                               result=GenerationResult([], audios=[sound]).to_record())
    wire = task_to_wire(text, lambda key: f"https://files/{key}?sig")
    # kling-api.md: audios[{id, url_mp3, url_wav, duration_mp3, duration_wav}]
    assert wire["task_result"] == {"audios": [{
        "id": "a1", "url_mp3": "https://files/audios/t/a1-mp3.mp3?sig", "duration_mp3": "3.0",
        "url_wav": "https://cdn.example/a1.wav", "duration_wav": "3.0"}]}
    both = dataclasses.replace(text, kind="audio/video-to-audio", result=GenerationResult(
        [VideoOutput(id="v1", duration=5, storage_key="videos/t/v1.mp4")],
        audios=[sound]).to_record())
    result = task_to_wire(both, lambda key: f"https://files/{key}")["task_result"]
    assert result["videos"] == [{"id": "v1", "url": "https://files/videos/t/v1.mp4",
                                 "duration": "5.0"}]
    assert [a["id"] for a in result["audios"]] == ["a1"]

