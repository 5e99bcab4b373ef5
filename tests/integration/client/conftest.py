"""Client test fixtures on top of the real server fixtures in tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from openkling.client import AsyncKlingClient, KlingClient, PollPolicy, RetryPolicy

from .doubles import FaultInjectingProxyDouble, fault_proxy

#: Fast polling and retries so tests spend their time on behaviour, not sleeping.
FAST_POLL = PollPolicy(initial=0.05, factor=1.5, maximum=0.3)
FAST_RETRY = RetryPolicy(max_retries=3, backoff_initial=0.01, backoff_max=0.05)

CLIENT_ENV = ("OPENKLING_BASE_URL", "OPENKLING_PREFIX", "OPENKLING_API_KEY",
              "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "OPENKLING_CLIENT_CONFIG")


@pytest.fixture(autouse=True)
def _clean_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own client settings must not leak into tests."""
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)


def client_kwargs(server: Any, keys: Any, /, **overrides: Any) -> dict[str, Any]:
    """Client arguments for `server` (or a proxy) with `keys`' API key; overrides win."""
    kwargs: dict[str, Any] = {
        "base_url": server.base_url, "api_key": keys.api_key,
        "poll": FAST_POLL, "retry": FAST_RETRY, "timeout": 30.0,
    }
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def client(live_server: Any, credentials: Any) -> Iterator[KlingClient]:
    with KlingClient(**client_kwargs(live_server, credentials)) as sdk:
        yield sdk


@pytest.fixture
async def aclient(live_server: Any, credentials: Any) -> AsyncIterator[AsyncKlingClient]:
    async with AsyncKlingClient(**client_kwargs(live_server, credentials)) as sdk:
        yield sdk


@pytest.fixture
def proxy(live_server: Any) -> Iterator[FaultInjectingProxyDouble]:
    with fault_proxy(live_server.base_url) as double:
        yield double


# One server per module instead of one per test: the client tests exercise the client, and
# each creates its own tasks (and, where it lists, its own account).
@pytest.fixture
def live_server(shared_server: Any) -> Any:
    return shared_server


@pytest.fixture(scope="module")
def credentials(shared_server: Any) -> Any:
    return shared_server.create_key("client-tests")
