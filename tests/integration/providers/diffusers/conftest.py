"""Fixtures for the diffusers provider tests: the tiny random Wan model, offline, on CPU."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkling.config import Settings
from openkling.providers.diffusers import DiffusersProvider
from tests.support.diffusers import TINY_OPTIONS, ContextRecorder, StorageDouble


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openkling-data")


@pytest.fixture(scope="module")
def tiny_provider(data_dir: Path) -> Iterator[DiffusersProvider]:
    """One warm tiny-model provider per test module (spawning a model process takes seconds)."""
    provider = DiffusersProvider(dict(TINY_OPTIONS), Settings(data_dir=data_dir))
    yield provider
    asyncio.run(provider.close())


@pytest.fixture
def recorder(tmp_path: Path) -> ContextRecorder:
    return ContextRecorder(root=tmp_path, storage=StorageDouble(tmp_path / "videos"))
