"""Supervised loops: a failing turn is retried with backoff and logged once; a loop that ends
is reported."""

from __future__ import annotations

import asyncio
import logging

import pytest

from openkling.core.loops import Loops


async def test_a_loop_keeps_going_through_failures_and_logs_one_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0
    done = asyncio.Event()

    async def turn() -> float:
        nonlocal calls
        calls += 1
        if calls <= 5:
            raise ConnectionRefusedError("database restarting")
        if calls == 8:
            done.set()
        return 0.0

    loops = Loops(backoff_base=0.001, backoff_cap=0.01)
    with caplog.at_level(logging.INFO):
        loops.spawn("claim", turn)
        await asyncio.wait_for(done.wait(), 5)
        await loops.stop()
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1
    assert any("loop claim recovered after 5 failure(s)" in r.getMessage()
               for r in caplog.records)
    assert loops.all_alive and loops.health() == {"claim": "ok"}


async def test_health_says_which_loop_is_failing_and_why() -> None:
    failed = asyncio.Event()

    async def turn() -> float:
        failed.set()
        raise OSError("no space left on device")

    loops = Loops(backoff_base=10, backoff_cap=10)
    loops.spawn("sweep", turn)
    await asyncio.wait_for(failed.wait(), 5)
    await asyncio.sleep(0)
    assert loops.health() == {"sweep": "failing: OSError: no space left on device"}
    assert loops.all_alive
    await loops.stop()


async def test_a_wake_event_cuts_the_wait_short() -> None:
    turns = 0
    wake = asyncio.Event()

    async def turn() -> float:
        nonlocal turns
        turns += 1
        return 3600.0

    loops = Loops()
    loops.spawn("claim", turn, wake=wake)
    await asyncio.sleep(0.05)
    wake.set()
    await asyncio.sleep(0.05)
    assert turns == 2
    await loops.stop()


class Escape(BaseException):
    pass


async def test_a_loop_that_ends_is_reported() -> None:
    deaths: list[tuple[str, str]] = []
    loops = Loops(on_death=lambda name, why: deaths.append((name, why)))

    async def turn() -> float:
        raise Escape("a bug")  # not an Exception: escapes the turn's guard

    loops.spawn("callbacks", turn)
    await asyncio.sleep(0.05)
    assert deaths == [("callbacks", "Escape: a bug")]
    assert not loops.all_alive
    assert loops.health()["callbacks"].startswith("dead: ")
    await loops.stop()


async def test_stopping_is_not_a_death() -> None:
    deaths: list[tuple[str, str]] = []
    loops = Loops(on_death=lambda name, why: deaths.append((name, why)))

    async def turn() -> float:
        return 3600.0

    loops.spawn("lease", turn)
    await asyncio.sleep(0.01)
    await loops.stop()
    assert deaths == []
