"""TaskStore.find_video on SQLite and PostgreSQL: video-extend's `video_id` names one of the
account's own succeeded results, never another account's, an unfinished task's or a mere
substring of a stored id."""

from __future__ import annotations

import pytest

from openkling.store.database import Database
from openkling.store.tasks import TaskStore
from tests.integration.store.test_tasks import make_account, payload, values


@pytest.fixture
async def store(db: Database) -> TaskStore:
    return TaskStore(db, callback_payload=payload)


def result(video_id: str, key: str | None = None) -> dict[str, object]:
    video: dict[str, object] = {"id": video_id, "duration": 5.062}
    video.update({"storage_key": key} if key else {"url": "https://cdn.example/v.mp4"})
    return {"videos": [video]}


async def test_finds_the_accounts_own_succeeded_video(db: Database, store: TaskStore) -> None:
    a, b = await make_account(db, "a"), await make_account(db, "b")
    mine = await store.insert(values(a, status="succeed", result=result(
        "6f1d-video_1%", "videos/t/6f1d-video_1%.mp4")), max_unfinished=10)
    await store.insert(values(b, status="succeed", result=result("theirs", "videos/u/t.mp4")),
                       max_unfinished=10)
    found = await store.find_video(a, "6f1d-video_1%")
    assert found is not None
    task, video = found
    assert task.id == mine.id
    assert video == {"id": "6f1d-video_1%", "duration": 5.062,
                     "storage_key": "videos/t/6f1d-video_1%.mp4"}
    # Another account's video is not found, exactly like a missing one.
    assert await store.find_video(a, "theirs") is None
    assert await store.find_video(b, "6f1d-video_1%") is None


@pytest.mark.parametrize("asked", ["6f1d", "video", "6f1d-video_1", "6f1d-video_1%%", "",
                                   "6f1d-video_\u00b1%", 'a"b', "a\\b", "videos"])
async def test_nothing_but_the_whole_id_matches(db: Database, store: TaskStore,
                                                asked: str) -> None:
    a = await make_account(db)
    await store.insert(values(a, status="succeed", result=result(
        "6f1d-video_1%", "videos/t/6f1d-video_1%.mp4")), max_unfinished=10)
    assert await store.find_video(a, asked) is None


async def test_an_unfinished_or_failed_tasks_video_is_not_found(db: Database,
                                                                store: TaskStore) -> None:
    a = await make_account(db)
    await store.insert(values(a, status="processing", result=result("p", "videos/p.mp4")),
                       max_unfinished=10)
    await store.insert(values(a, status="failed", result=result("f", "videos/f.mp4")),
                       max_unfinished=10)
    assert await store.find_video(a, "p") is None
    assert await store.find_video(a, "f") is None


async def test_a_video_hosted_elsewhere_is_found_with_its_url(db: Database,
                                                              store: TaskStore) -> None:
    a = await make_account(db)
    await store.insert(values(a, status="succeed", result=result("relayed")),
                       max_unfinished=10)
    found = await store.find_video(a, "relayed")
    assert found is not None and found[1]["url"] == "https://cdn.example/v.mp4"
