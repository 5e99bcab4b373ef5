"""Retention deletes finished tasks older than the limit (files first, then rows), in bounded
batches, and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from openkling.core.ids import new_task_id
from openkling.storage.local import LocalStorage
from openkling.storage.signing import UrlSigner
from openkling.store.accounts import AccountStore
from openkling.store.database import Database
from openkling.store.retention import DAY_MS, delete_expired
from openkling.store.tables import callback_deliveries, tasks

NOW = 100 * DAY_MS


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files", UrlSigner(b"k" * 32, "http://127.0.0.1:1", 60))


async def add_task(db: Database, storage: LocalStorage, tmp_path: Path, account: int, *,
                   status: str, age_days: float, with_file: bool = True) -> str:
    task_id = new_task_id()
    updated = NOW - int(age_days * DAY_MS)
    result: dict[str, Any] | None = None
    if with_file:
        key = f"videos/{task_id}/v.mp4"
        source = tmp_path / f"{task_id}.mp4"
        source.write_bytes(b"\x00" * 16)
        await storage.put_file(key, source)
        result = {"videos": [{"id": "v", "duration": 5.0, "storage_key": key}]}
    async with db.write() as conn:
        await conn.execute(insert(tasks).values(
            id=task_id, account_id=account, kind="text2video", model_name="kling-v1",
            provider="double", request={"prompt": "x"}, status=status, status_msg="",
            progress=100, result=result, created_at=updated, updated_at=updated, attempts=1,
            max_attempts=3, run_after=updated, cancel_requested=False,
        ))
        await conn.execute(insert(callback_deliveries).values(
            task_id=task_id, account_id=account, url="http://example.com/", payload="{}",
            state="delivered", attempts=1, next_attempt_at=updated, created_at=updated,
        ))
    return task_id


async def remaining(db: Database) -> set[str]:
    async with db.read() as conn:
        return {str(row[0]) for row in await conn.execute(select(tasks.c.id))}


async def test_only_finished_tasks_past_the_limit_go_with_their_files(
    db: Database, storage: LocalStorage, tmp_path: Path,
) -> None:
    account, _ = await AccountStore(db).get_or_create("acme", now=1, callback_secret_enc=b"x")
    old_succeeded = await add_task(db, storage, tmp_path, account.id, status="succeed",
                                   age_days=31)
    old_failed = await add_task(db, storage, tmp_path, account.id, status="failed",
                                age_days=45, with_file=False)
    recent = await add_task(db, storage, tmp_path, account.id, status="succeed", age_days=29)
    old_unfinished = await add_task(db, storage, tmp_path, account.id, status="processing",
                                    age_days=60, with_file=False)

    outcome = await delete_expired(db, storage, now_ms=NOW, retention_days=30)

    assert (outcome.tasks, outcome.files, outcome.kept) == (2, 1, 0)
    assert await remaining(db) == {recent, old_unfinished}
    assert not storage.path_for(f"videos/{old_succeeded}/v.mp4").exists()
    assert storage.path_for(f"videos/{recent}/v.mp4").exists()
    async with db.read() as conn:
        left = {str(r[0]) for r in await conn.execute(select(callback_deliveries.c.task_id))}
    assert old_failed not in left and recent in left


async def test_deletion_runs_in_bounded_batches(
    db: Database, storage: LocalStorage, tmp_path: Path,
) -> None:
    account, _ = await AccountStore(db).get_or_create("acme", now=1, callback_secret_enc=b"x")
    for _ in range(5):
        await add_task(db, storage, tmp_path, account.id, status="succeed", age_days=40,
                       with_file=False)
    first = await delete_expired(db, storage, now_ms=NOW, retention_days=30, batch=2,
                                 max_batches=1, pause=0)
    assert first.tasks == 2 and len(await remaining(db)) == 3
    rest = await delete_expired(db, storage, now_ms=NOW, retention_days=30, batch=2, pause=0)
    assert rest.tasks == 3 and await remaining(db) == set()


async def test_input_images_and_image_results_go_with_their_task(
    db: Database, storage: LocalStorage, tmp_path: Path,
) -> None:
    account, _ = await AccountStore(db).get_or_create("acme", now=1, callback_secret_enc=b"x")
    keys = {}
    for age in (40, 10):
        task_id = new_task_id()
        inputs = {"image": {"key": f"inputs/{task_id}/image.png", "width": 8, "height": 8,
                            "content_type": "image/png"}}
        results = [{"index": i, "storage_key": f"images/{task_id}/{i}.png"} for i in (0, 1)]
        keys[task_id] = [inputs["image"]["key"], *(r["storage_key"] for r in results)]
        for key in keys[task_id]:
            await storage.put_bytes(str(key), b"\x89PNG", "image/png")
        updated = NOW - age * DAY_MS
        async with db.write() as conn:
            await conn.execute(insert(tasks).values(
                id=task_id, account_id=account.id, kind="images/generations",
                model_name="kling-v1", provider="double",
                request={"prompt": "x", "inputs": inputs}, status="succeed", status_msg="",
                progress=100, result={"videos": [], "images": results}, created_at=updated,
                updated_at=updated, attempts=1, max_attempts=3, run_after=updated,
                cancel_requested=False,
            ))
    old, recent = keys

    outcome = await delete_expired(db, storage, now_ms=NOW, retention_days=30, pause=0)

    assert (outcome.tasks, outcome.files) == (1, 3)
    assert await remaining(db) == {recent}
    assert not any(storage.path_for(str(key)).exists() for key in keys[old])
    assert not storage.path_for(f"inputs/{old}").exists()  # no empty folder left either
    assert all(storage.path_for(str(key)).exists() for key in keys[recent])


class UndeletableStorage(LocalStorage):
    """A storage whose deletes fail (a read-only bucket, a network error)."""

    async def delete(self, key: str) -> None:
        raise PermissionError(f"cannot delete {key}")


async def test_a_task_whose_files_cannot_be_deleted_keeps_its_row(
    db: Database, storage: LocalStorage, tmp_path: Path,
) -> None:
    account, _ = await AccountStore(db).get_or_create("acme", now=1, callback_secret_enc=b"x")
    task_id = await add_task(db, storage, tmp_path, account.id, status="succeed", age_days=40)
    stuck = UndeletableStorage(storage.root, storage.signer)
    outcome = await delete_expired(db, stuck, now_ms=NOW, retention_days=30, pause=0)
    assert (outcome.tasks, outcome.kept) == (0, 1)
    assert await remaining(db) == {task_id}
    assert storage.path_for(f"videos/{task_id}/v.mp4").exists()
