"""Kling access key / secret key auth against a real server, including refresh across expiry."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from openkling.client import AuthenticationError, JWTAuth, KlingClient

from .conftest import client_kwargs
from .doubles import FaultInjectingProxyDouble


def _jwt_client(server: Any, credentials: Any, **overrides: Any) -> KlingClient:
    kwargs = client_kwargs(server, credentials, api_key=None,
                           access_key=credentials.access_key,
                           secret_key=credentials.secret_key)
    kwargs.update(overrides)
    return KlingClient(**kwargs)


def test_access_key_and_secret_key_work(live_server: Any, credentials: Any) -> None:
    with _jwt_client(live_server, credentials) as client:
        assert isinstance(client.config.credentials, JWTAuth)
        task = client.text2video.create("signed request")
        assert client.text2video.get(task.task_id).task_id == task.task_id


@pytest.mark.slow
def test_token_is_refreshed_across_expiry(
    proxy: FaultInjectingProxyDouble, credentials: Any
) -> None:
    """With a 1 s lifetime, the first token really expires (the server refuses it once its
    leeway is over), yet the client keeps working because it signs a new one in time."""
    auth = JWTAuth(credentials.access_key, credentials.secret_key, lifetime=1,
                   refresh_margin=0)
    with KlingClient(**client_kwargs(proxy, credentials, api_key=None,
                                     credentials=auth)) as client:
        client.text2video.list(page_size=1)
        first_token = proxy.seen[-1].authorization
        assert first_token is not None
        # Wait (bounded) until the server itself rejects the first token as expired.
        refused: httpx.Response | None = None
        for _ in range(120):
            reply = httpx.get(f"{proxy.base_url}/v1/videos/text2video",
                              headers={"Authorization": first_token}, timeout=10)
            if reply.status_code == 401:
                refused = reply
                break
            time.sleep(0.25)
        assert refused is not None, "the server never expired the 1 s token"
        assert refused.json()["code"] == 1004
        client.text2video.list(page_size=1)
        second_token = proxy.seen[-1].authorization
        assert second_token is not None and second_token != first_token


def test_a_token_the_server_calls_expired_is_resigned_once(
    proxy: FaultInjectingProxyDouble, credentials: Any
) -> None:
    """A client clock far behind the server's makes every token look expired: the client
    re-signs once on 1004, then reports the authentication error instead of looping."""
    auth = JWTAuth(credentials.access_key, credentials.secret_key, lifetime=60,
                   clock=lambda: time.time() - 3600)
    with KlingClient(**client_kwargs(proxy, credentials, api_key=None,
                                     credentials=auth)) as client, \
            pytest.raises(AuthenticationError) as caught:
        client.text2video.list()
    assert caught.value.code == 1004
    assert len(proxy.seen) == 2
