"""Callback deliveries are fair between accounts: one account's callbacks to a receiver that
never answers do not hold back another account's callback (issue 20: 40 hanging callbacks
delayed another account's by 61 s, one shared delivery pool)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from openkling.core.auth import Principal
from openkling.core.models import Text2VideoRequest
from openkling.worker.deliverer import PER_ACCOUNT
from tests.doubles.hanging_server import HangingServerDouble
from tests.doubles.receiver import CallbackReceiverDouble
from tests.unit.worker.harness import worker_harness

HANGING_TASKS = 40


async def test_a_hanging_receiver_costs_its_own_account_only(tmp_path: Path) -> None:
    with HangingServerDouble() as hanging, CallbackReceiverDouble() as receiver:
        # The hanging callbacks time out long after this test has ended.
        async with worker_harness(tmp_path, allow_private_callbacks=True,
                                  callback_timeout=300, max_unfinished_tasks=100) as h:
            other, _ = await h.resources.accounts.get_or_create(
                "other", now=1, callback_secret_enc=h.resources.master.encrypt("s"))
            b = Principal(account_id=other.id, account_name="other", credential_id=0)
            for i in range(HANGING_TASKS):
                await h.create(f"a{i}", callback_url=hanging.url("/hook"))
            await hanging.wait_for(1)  # account A's callbacks have started to hang

            late = await h.api.tasks.create(b, Text2VideoRequest(prompt="b",
                                                                 callback_url=receiver.url))
            deadline = time.monotonic() + 60
            while not any(r.json["task_id"] == late.id and r.json["task_status"] == "succeed"
                          for r in receiver.received):
                assert time.monotonic() < deadline, [r.json for r in receiver.received]
                await asyncio.sleep(0.05)
            # ... while A's still hang, as many at once as one account may hold, no more.
            await hanging.wait_for(PER_ACCOUNT)
            while h.worker.deliverer.in_flight.get(other.id):  # B's last job is finishing
                assert time.monotonic() < deadline, h.worker.deliverer.in_flight
                await asyncio.sleep(0.05)
            assert h.worker.deliverer.in_flight == {h.principal.account_id: PER_ACCOUNT}
            assert [r.json["task_status"] for r in receiver.received] == ["processing",
                                                                           "succeed"]
