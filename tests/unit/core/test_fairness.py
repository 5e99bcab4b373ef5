"""KeyedSlots: at most `per_key` holders per key; other keys never wait for a full one."""

from __future__ import annotations

import asyncio

import pytest

from openkling.core.fairness import KeyedSlots


async def test_a_full_key_makes_only_its_own_callers_wait() -> None:
    slots = KeyedSlots(2)
    release = asyncio.Event()
    entered: list[str] = []

    async def use(key: str, name: str) -> None:
        async with slots.hold(key):
            entered.append(name)
            await release.wait()

    holders = [asyncio.create_task(use("a", f"a{i}")) for i in range(3)]
    other = asyncio.create_task(use("b", "b0"))
    while len(entered) < 3:
        await asyncio.sleep(0)
    assert sorted(entered) == ["a0", "a1", "b0"]  # a2 waits; b0 did not wait for it
    assert (slots.holding("a"), slots.waiting("a")) == (2, 1)
    assert (slots.holding("b"), slots.waiting("b")) == (1, 0)
    release.set()
    await asyncio.gather(*holders, other)
    assert entered[-1] == "a2"
    assert (slots.holding("a"), slots.waiting("a"), slots.holding("b")) == (0, 0, 0)
    assert not slots._gates and not slots._users  # keys nobody uses are forgotten


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    slots = KeyedSlots(1)
    async with slots.hold("a"):
        waiter = asyncio.create_task(slots.hold("a").__aenter__())
        await asyncio.sleep(0)
        assert slots.waiting("a") == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert slots.waiting("a") == 0
    assert not slots._gates


def test_at_least_one_slot() -> None:
    with pytest.raises(ValueError, match="per_key must be at least 1"):
        KeyedSlots(0)
    assert KeyedSlots(1).per_key == 1
