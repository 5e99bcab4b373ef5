"""Every error family, and the retry rules, against a real server (behind a fault proxy where
the real server cannot be made to produce a code on demand)."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import httpx
import pytest

from openkling.client import (
    AccountError,
    APIConnectionError,
    AuthenticationError,
    InvalidParameterError,
    KlingClient,
    NotFoundError,
    PolicyError,
    QuotaError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TaskResult,
)

from .conftest import FAST_RETRY, client_kwargs
from .doubles import Fault, FaultInjectingProxyDouble


def _proxied(proxy: FaultInjectingProxyDouble, credentials: Any, **overrides: Any) -> KlingClient:
    kwargs = client_kwargs(proxy, credentials, **overrides)
    return KlingClient(**kwargs)


def _posts(proxy: FaultInjectingProxyDouble) -> int:
    return sum(1 for seen in proxy.seen if seen.method == "POST")


# --- families from the real server ---------------------------------------------------------


def test_unknown_api_key_is_an_authentication_error(live_server: Any) -> None:
    with KlingClient(base_url=live_server.base_url, api_key="not-a-key") as client, \
            pytest.raises(AuthenticationError) as caught:
        client.text2video.list()
    assert caught.value.code in (1000, 1002) and caught.value.http_status == 401
    assert caught.value.request_id


def test_wrong_secret_key_is_an_authentication_error(
    live_server: Any, credentials: Any
) -> None:
    with KlingClient(base_url=live_server.base_url, access_key=credentials.access_key,
                     secret_key="wrong-" + credentials.secret_key) as client, \
            pytest.raises(AuthenticationError):
        client.text2video.list()


def test_invalid_parameters_are_not_retried(
    proxy: FaultInjectingProxyDouble, credentials: Any
) -> None:
    with _proxied(proxy, credentials) as client:
        with pytest.raises(InvalidParameterError) as caught:
            client.text2video.create("a cat", cfg_scale=5)
        assert caught.value.code == 1201 and "cfg_scale" in caught.value.message
        assert _posts(proxy) == 1
        with pytest.raises(InvalidParameterError):
            client.text2video.create("   ")
        assert _posts(proxy) == 2


def test_duplicate_external_task_id_is_invalid(
    client: KlingClient
) -> None:
    external = f"dup-{uuid.uuid4().hex}"
    client.text2video.create("first", external_task_id=external)
    with pytest.raises(InvalidParameterError) as caught:
        client.text2video.create("second", external_task_id=external)
    assert caught.value.code == 1201 and "external_task_id" in caught.value.message


def test_too_many_unfinished_tasks_is_a_rate_limit(server_factory: Any) -> None:
    server = server_factory(env={"OPENKLING_MAX_UNFINISHED_TASKS": "1"})
    credentials = server.create_key("busy")
    with KlingClient(**client_kwargs(server, credentials, max_retries=0)) as client:
        running = client.text2video.create("hold the slot [sleep=30]")
        with pytest.raises(RateLimitError) as caught:
            client.text2video.create("one too many")
        assert caught.value.code == 1303 and caught.value.http_status == 429
        client.text2video.cancel(running)


def test_request_rate_limit_carries_retry_after(server_factory: Any) -> None:
    server = server_factory(env={"OPENKLING_RATE_LIMIT_PER_SECOND": "0.01",
                                       "OPENKLING_RATE_LIMIT_BURST": "1"})
    credentials = server.create_key("hasty")
    # The server asks for ~100 s, more than the client will wait, so the error surfaces.
    policy = RetryPolicy(max_retries=3, backoff_initial=0.01, max_retry_after=5)
    with KlingClient(**client_kwargs(server, credentials, retry=policy)) as client:
        with pytest.raises(RateLimitError) as caught:
            for _ in range(3):
                client.text2video.list()
    assert caught.value.code == 1302
    assert caught.value.retry_after is not None and caught.value.retry_after > 5


def test_unreachable_server_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on `port` now.
    with KlingClient(base_url=f"http://127.0.0.1:{port}", api_key="k", retry=FAST_RETRY) \
            as client, pytest.raises(APIConnectionError) as caught:
        client.text2video.get("1")
    assert f"127.0.0.1:{port}" in caught.value.message


# --- families the real server gives only in rare states: injected by the proxy -------------


@pytest.mark.parametrize(
    ("status", "code", "family"),
    [
        (429, 1100, AccountError),
        (429, 1101, AccountError),
        (429, 1102, QuotaError),
        (403, 1103, AccountError),
        (400, 1300, PolicyError),
        (400, 1301, PolicyError),
        (429, 1304, RateLimitError),
        (404, 1202, NotFoundError),
        (401, 1003, AuthenticationError),
    ],
)
def test_final_errors_are_typed_and_not_retried(
    proxy: FaultInjectingProxyDouble, credentials: Any, status: int, code: int,
    family: type[Exception],
) -> None:
    proxy.inject(Fault(status=status, code=code, times=1))
    with _proxied(proxy, credentials) as client, pytest.raises(family) as caught:
        client.text2video.create("a cat")
    error: Any = caught.value
    assert (error.code, error.http_status, error.request_id) == (code, status, "injected")
    assert _posts(proxy) == 1


# --- retries -------------------------------------------------------------------------------


def test_rate_limits_are_retried_honouring_retry_after(
    proxy: FaultInjectingProxyDouble, credentials: Any
) -> None:
    proxy.inject(Fault(status=429, code=1302, times=2, retry_after="0"))
    with _proxied(proxy, credentials) as client:
        task = client.text2video.create("patient cat")
        assert client.text2video.get(task.task_id).task_id == task.task_id
    assert proxy.remaining() == 0
    assert _posts(proxy) == 3
    assert [s.injected for s in proxy.seen if s.method == "POST"] == [True, True, False]


def test_unavailable_is_retried_for_reads_and_creates(
    proxy: FaultInjectingProxyDouble, credentials: Any, live_server: Any
) -> None:
    fresh = live_server.create_key(f"retry-{uuid.uuid4().hex[:8]}")
    proxy.inject(Fault(status=503, code=None, times=2, body=b"upstream unavailable"))
    proxy.inject(Fault(status=500, code=5000, times=1, path_contains="/text2video/"))
    with _proxied(proxy, fresh) as client:
        task = client.text2video.create("retried once created once",
                                        external_task_id=f"order-{uuid.uuid4().hex[:8]}")
        assert client.text2video.get(task.task_id).task_id == task.task_id
        # The injected failures never reached the server: exactly one task exists.
        assert [t.task_id for t in client.text2video.list()] == [task.task_id]
    assert proxy.remaining() == 0


def test_create_without_external_id_is_not_repeated_after_a_5xx(
    proxy: FaultInjectingProxyDouble, live_server: Any
) -> None:
    fresh = live_server.create_key(f"once-{uuid.uuid4().hex[:8]}")
    proxy.inject(Fault(status=502, code=None, times=1, body=b"bad gateway"))
    with _proxied(proxy, fresh) as client:
        with pytest.raises(ServerError):
            client.text2video.create("maybe made")
        assert client.text2video.list() == []  # the 502 came from the proxy: nothing made
    assert len(proxy.seen) == 2  # the failed create (not repeated), then the list


def test_retries_give_up_with_a_server_error(
    proxy: FaultInjectingProxyDouble, credentials: Any
) -> None:
    proxy.inject(Fault(status=503, code=5001, times=10))
    policy = RetryPolicy(max_retries=2, backoff_initial=0.01, backoff_max=0.02)
    with _proxied(proxy, credentials, retry=policy) as client, \
            pytest.raises(ServerError) as caught:
        client.text2video.list()
    assert caught.value.code == 5001 and caught.value.http_status == 503
    assert len(proxy.seen) == 3  # the first try and two retries


def test_max_retries_zero_surfaces_the_first_failure(
    proxy: FaultInjectingProxyDouble, credentials: Any
) -> None:
    proxy.inject(Fault(status=429, code=1302, times=1, retry_after="0"))
    with _proxied(proxy, credentials, max_retries=0) as client, \
            pytest.raises(RateLimitError) as caught:
        client.text2video.list()
    assert caught.value.retry_after == 0.0
    assert len(proxy.seen) == 1


def test_a_create_whose_reply_was_lost_is_not_made_twice(
    proxy: FaultInjectingProxyDouble, live_server: Any
) -> None:
    """The first create reaches the server but its reply is lost (502); the retry is refused
    as a duplicate external_task_id, and the client returns the task that was created."""
    fresh = live_server.create_key(f"lost-{uuid.uuid4().hex[:8]}")
    proxy.inject(Fault(status=502, code=None, times=1, forward=True, body=b"gateway timeout"))
    external = f"once-{uuid.uuid4().hex}"
    with _proxied(proxy, fresh) as client:
        task = client.text2video.create("only once", external_task_id=external)
        assert task.external_task_id == external
        assert [t.task_id for t in client.text2video.list()] == [task.task_id]
    assert _posts(proxy) == 2


def test_a_refused_video_link_is_renewed(client: KlingClient, tmp_path: Any) -> None:
    """A task object kept past its link's expiry: the server refuses the old link (403) and
    the client fetches the task again for a fresh one. Expiry is simulated by a bad
    signature, since real links live at least a minute."""
    done = client.text2video.wait(client.text2video.create("short-lived link"), timeout=60)
    video = done.videos[0]
    stale_url = video.url.replace("signature=", "signature=0")
    assert httpx.get(stale_url, timeout=10).status_code == 403
    stale_video = video.model_copy(update={"url": stale_url})
    stale = done.model_copy(update={"task_result": TaskResult(videos=[stale_video])})
    path = client.text2video.download(stale, tmp_path / "renewed.mp4")
    assert path.read_bytes() == httpx.get(video.url, timeout=10).content
    with pytest.raises(AccountError) as caught:  # a bare Video cannot be renewed
        client.text2video.download(stale_video, tmp_path / "stale.mp4")
    assert caught.value.code == 1103 and caught.value.http_status == 403
