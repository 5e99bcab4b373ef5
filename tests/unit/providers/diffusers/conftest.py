"""Fixtures shared by the diffusers provider's tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    """Loading a CPU runner sets torch's thread count; other test modules keep theirs.

    Works where torch is not installed (the light install runs the mapping tests here too).
    """
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
