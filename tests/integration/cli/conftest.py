"""CLI tests share one server per module (see tests/conftest.py: shared_server)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def live_server(shared_server: Any) -> Any:
    return shared_server


@pytest.fixture(scope="module")
def credentials(shared_server: Any) -> Any:
    return shared_server.create_key("cli-tests")
