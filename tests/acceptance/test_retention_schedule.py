"""Retention on its schedule in a running server: finished tasks older than
OPENKLING_RETENTION_DAYS lose their files (input images, videos) and rows on a later turn of
the loop, while unfinished and recent tasks stay (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import update

from openkling.clock import now_ms
from openkling.store.database import Database
from openkling.store.retention import DAY_MS
from openkling.store.tables import tasks
from tests.conftest import ServerFactory, wait_for_status
from tests.integration.api.test_families_routes import b64
from tests.integration.api.test_metrics import samples


async def test_the_retention_loop_deletes_old_finished_tasks_on_its_schedule(
    database_url: str, server_factory: ServerFactory,
) -> None:
    server = server_factory({
        "OPENKLING_DATABASE_URL": database_url,
        "OPENKLING_RETENTION_DAYS": "30",
        "OPENKLING_RETENTION_INTERVAL_SECONDS": "0.5",
    })
    creds = server.create_key("retention")
    files = server.data_dir / "files"
    async with httpx.AsyncClient(base_url=server.base_url, headers=creds.headers,
                                 timeout=30) as http:
        async def create(family: str, **body: object) -> str:
            response = await http.post(f"/v1/videos/{family}", json=body)
            assert response.status_code == 200, response.text
            return str(response.json()["data"]["task_id"])

        old = {await create("image2video", image=b64(), prompt="old, with an input image"):
               "image2video",
               await create("text2video", prompt="old and done"): "text2video",
               await create("text2video", prompt="old and failed [fail]"): "text2video"}
        unfinished = await create("text2video", prompt="old but still running [sleep=120]")
        recent = await create("image2video", image=b64(), prompt="recent")
        for task_id, family in [*old.items(), (recent, "image2video")]:
            await wait_for_status(http, f"/v1/videos/{family}/{task_id}", creds.headers,
                                  {"succeed", "failed"})
        await wait_for_status(http, f"/v1/videos/text2video/{unfinished}", creds.headers,
                              {"processing"})
        image_task, video_task, _failed = old
        assert (files / "inputs" / image_task).is_dir() and (files / "inputs" / recent).is_dir()
        stored = {p.parent.name for p in files.rglob("*") if p.is_file()}
        assert {image_task, video_task, recent} <= stored  # input images and videos

        # Backdate (the clock of a test cannot wait 30 days).
        database = Database(database_url)
        try:
            async with database.write() as conn:
                await conn.execute(update(tasks).where(tasks.c.id.in_([*old, unfinished]))
                                   .values(updated_at=now_ms() - 31 * DAY_MS))
        finally:
            await database.dispose()

        deadline = time.monotonic() + 30
        for task_id, family in old.items():
            while (await http.get(f"/v1/videos/{family}/{task_id}")).status_code != 404:
                assert time.monotonic() < deadline, server.log()[-3000:]
                await asyncio.sleep(0.2)
        left = {p.parent.name for p in files.rglob("*") if p.is_file()}
        assert not left & set(old)
        assert not [p for p in files.rglob("*") if p.is_dir() and p.name in old]
        assert recent in left
        for task_id, family, status in ((recent, "image2video", "succeed"),
                                        (unfinished, "text2video", "processing")):
            kept = (await http.get(f"/v1/videos/{family}/{task_id}")).json()["data"]
            assert kept["task_status"] == status

    metrics = samples(httpx.get(f"{server.base_url}/metrics").text)
    assert metrics["openkling_retention_deleted_tasks_total"][0][1] == 3
    assert "retention: deleted 3 finished task(s) and 3 file(s)" in server.log()
