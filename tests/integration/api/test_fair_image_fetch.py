"""Image URL downloads are fair between accounts: one account's creates whose image URL never
answers do not hold back another account's create (issue 20: 100 such creates made another
account's URL-image create take 17 s instead of 0.1 s, one shared download pool).

In process (the app over ASGI, the image hosts on loopback, private targets allowed as an
operator can with OPENKLING_ALLOW_PRIVATE_IMAGE_URLS)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from openkling.api.app import create_app
from openkling.config import Settings
from openkling.core.image_fetch import PER_ACCOUNT
from tests.conftest import PROVIDER_DOUBLE
from tests.doubles.hanging_server import HangingServerDouble
from tests.integration.api.test_fastpath import make_key
from tests.support.images import image_host, png

#: More than the download pool's 100 connections (httpx's default), as in the issue.
HANGING_CREATES = 110


async def test_a_hanging_image_host_costs_its_own_account_only(tmp_path: Path) -> None:
    alice, bob = make_key(tmp_path, "alice"), make_key(tmp_path, "bob")
    settings = Settings(data_dir=tmp_path, provider=PROVIDER_DOUBLE, embedded_worker=False,
                        allow_private_image_urls=True, image_fetch_seconds=300,
                        rate_limit_per_second=10_000, rate_limit_burst=10_000,
                        max_unfinished_tasks=1000)
    app = create_app(settings)
    with HangingServerDouble() as hanging, image_host(png(640, 360)) as good_url:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t",
                timeout=600) as client:

            async def create(key: dict[str, str], image: str) -> httpx.Response:
                return await client.post(
                    "/v1/videos/image2video", json={"image": image, "prompt": "p"},
                    headers={"Authorization": f"Bearer {key['api_key']}"})

            stuck = [asyncio.create_task(create(alice, hanging.url(f"/{i}.png")))
                     for i in range(HANGING_CREATES)]
            try:
                await hanging.wait_for(PER_ACCOUNT)  # alice's downloads hang
                # Bounded only so that a regression fails rather than hangs the suite.
                answer = await asyncio.wait_for(create(bob, good_url), timeout=60)
                assert answer.status_code == 200, answer.text
                assert answer.json()["data"]["task_status"] == "submitted"
                # ... while every create of alice still waits, holding no more than her share.
                assert not any(task.done() for task in stuck)
                assert hanging.held == PER_ACCOUNT
            finally:
                for task in stuck:
                    task.cancel()
                await asyncio.gather(*stuck, return_exceptions=True)
