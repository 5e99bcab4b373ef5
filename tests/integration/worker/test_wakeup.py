"""A new task starts at once: the API wakes the in-process worker instead of waiting for a poll."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory, wait_for_status


async def test_new_task_wakes_the_worker(server_factory: ServerFactory) -> None:
    # With an hour between polls, only the in-process wake-up can start the task.
    server = server_factory({"OPENKLING_POLL_INTERVAL": "3600"})
    creds = server.create_key("wake")
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        for prompt in ("first", "second"):  # the second proves the loop went back to waiting
            created = (await client.post("/v1/videos/text2video", headers=creds.headers,
                                         json={"prompt": prompt})).json()["data"]
            done = await wait_for_status(client, f"/v1/videos/text2video/{created['task_id']}",
                                         creds.headers, {"succeed", "failed"}, timeout=60)
            assert done["task_status"] == "succeed"
