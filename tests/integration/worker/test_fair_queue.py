"""Render-queue fairness, on SQLite and PostgreSQL: one account's queue does not hold back
another account's first task longer than one render per worker slot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from openkling.core.auth import Principal
from openkling.core.models import Text2VideoRequest
from tests.conftest import PROVIDER_DOUBLE
from tests.unit.worker.harness import worker_harness

QUEUED = 6


def finished(runs: Path) -> list[str]:
    return [line.split()[0] for line in runs.read_text().splitlines()] if runs.exists() else []


async def test_another_accounts_first_task_starts_second_with_one_slot(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs.log"  # the double appends each finished run, in order
    monkeypatch.setenv("OPENKLING_DOUBLE_LOG", str(runs))
    async with worker_harness(tmp_path, start=False, database_url=database_url,
                              provider_options={PROVIDER_DOUBLE: {"concurrency": 1}}) as h:
        accounts = h.resources.accounts
        other, _ = await accounts.get_or_create(
            "other", now=1, callback_secret_enc=h.resources.master.encrypt("s"))
        b = Principal(account_id=other.id, account_name="other", credential_id=0)
        first = [(await h.create(f"a{i}")).id for i in range(QUEUED)]
        late = (await h.api.tasks.create(b, Text2VideoRequest(prompt="b"))).id
        await h.worker.start()
        assert [p.concurrency for p in h.worker.providers.values()] == [1]  # one slot
        deadline = time.monotonic() + 30
        while len(order := finished(runs)) < QUEUED + 1:
            assert time.monotonic() < deadline, order
            await asyncio.sleep(0.05)
    assert sorted(order) == sorted([*first, late])
    assert order[0] == first[0]  # oldest first: nothing else was running
    assert order[1] == late  # not the 7th: "harness" was served just before
    assert [task for task in order if task != late] == first  # in order within the account
