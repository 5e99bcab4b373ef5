"""Channel slots shared by several workers: a task records its slot before submitting and
frees it when the upstream task ends or the submit is refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openkling.core.provider import SharesSlots, TransientProviderError
from tests.doubles.kling_simulator import RunningSimulator
from tests.doubles.slot_ledger import SlotLedgerDouble
from tests.integration.providers.kling.conftest import jwt_channel, spec_for


async def test_two_workers_share_one_slot(simulator: RunningSimulator, make_provider: Any,
                                          new_task: Any) -> None:
    ledger = SlotLedgerDouble()
    workers = [await make_provider([jwt_channel(simulator, max_concurrency=1)])
               for _ in range(2)]
    for worker in workers:
        assert isinstance(worker, SharesSlots)
        worker.attach_slots(ledger)
    first, second = ledger.add(new_task()), ledger.add(new_task())
    running = asyncio.create_task(workers[0].run(spec_for(first), first.context()))
    while "upstream_task_id" not in first.state:
        await asyncio.sleep(0.01)
    assert first.state["slot"] == "ak"
    # the other worker has a free slot in its own memory, but not in the deployment
    with pytest.raises(TransientProviderError) as err:
        await workers[1].run(spec_for(second), second.context())
    assert err.value.count_attempt is False and ledger.refused == 1
    assert simulator.sim.submits[second.task_id] == 0 and "slot" not in second.state
    await running
    assert first.state["slot"] is None  # the upstream task ended: slot free
    result = await workers[1].run(spec_for(second), second.context())
    assert len(result.videos) == 1 and second.state["slot"] is None


async def test_a_refused_submit_frees_the_slot(simulator: RunningSimulator, make_provider: Any,
                                               new_task: Any) -> None:
    simulator.sim.concurrency_limit = 0  # the upstream answers 429 / 1303 to every create
    ledger = SlotLedgerDouble()
    provider = await make_provider([jwt_channel(simulator, max_concurrency=3)])
    provider.attach_slots(ledger)
    task = ledger.add(new_task())
    with pytest.raises(TransientProviderError):
        await provider.run(spec_for(task), task.context())
    assert simulator.sim.submits[task.task_id] == 1
    assert task.state.get("slot") is None and ledger.holders("ak") == set()


async def test_without_a_ledger_no_slot_is_written(simulator: RunningSimulator,
                                                   make_provider: Any, new_task: Any) -> None:
    provider = await make_provider([jwt_channel(simulator)])
    task = new_task()
    await provider.run(spec_for(task), task.context())
    assert "slot" not in task.state  # SQLite: one process, counted in memory only
