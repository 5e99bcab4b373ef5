"""The deliverer checks each callback URL again when it sends (DNS may have changed since the
create): an address outside the outbound table is given up without a request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

from openkling.store.tables import callback_deliveries
from openkling.worker.deliverer import CallbackDeliverer
from tests.unit.worker.harness import worker_harness

OUTSIDE = ["http://192.0.0.192/hook", "http://[fec0::1]/hook", "http://[::ffff:0:7f00:1]/hook",
           "http://[64:ff9b::a00:1]/hook"]


def _no_sending() -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a callback was sent to {request.url}")

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("url", OUTSIDE)
async def test_a_callback_to_an_outside_address_is_given_up_unsent(tmp_path: Path,
                                                                   url: str) -> None:
    async with worker_harness(tmp_path, start=False, allow_private_callbacks=True) as h:
        task = await h.create("x")
        async with h.resources.db.write() as conn:
            await conn.execute(insert(callback_deliveries).values(
                task_id=task.id, account_id=task.account_id, url=url, payload="{}",
                state="pending", attempts=0, next_attempt_at=0, created_at=0))
        deliverer = CallbackDeliverer(h.resources.deliveries, secret_for=_secret, timeout=1,
                                      give_up_after=60, allow_private=False)
        async with httpx.AsyncClient(transport=_no_sending()) as client:
            assert await deliverer.deliver_due(client) == 1
        [delivery] = await h.resources.deliveries.for_task(task.id)
    assert delivery.state == "failed"
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("callback_url: host")
    assert delivery.last_error.endswith(
        "; set OPENKLING_ALLOW_PRIVATE_CALLBACKS=true to allow private targets")


async def _secret(account_id: int) -> str:
    return "s"
