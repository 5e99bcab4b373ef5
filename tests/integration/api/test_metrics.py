"""`GET /metrics` against a real server: Prometheus text with the documented names, counting
what happened, and closed to non-loopback clients or without the token when one is set."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerFactory


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_metrics_count_creates_polls_tasks_and_the_queue(server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_EMBEDDED_WORKER": "false"})
    creds = server.create_key("metrics")
    created = httpx.post(f"{server.base_url}/v1/videos/text2video", headers=creds.headers,
                         json={"prompt": "counted"}).json()["data"]["task_id"]
    for _ in range(3):
        assert httpx.get(f"{server.base_url}/v1/videos/text2video/{created}",
                         headers=creds.headers).status_code == 200
    assert httpx.get(f"{server.base_url}/kling/v1/videos/text2video/nope",
                     headers=creds.headers).status_code == 404
    time.sleep(1)  # the oldest waiting task has an age
    response = httpx.get(f"{server.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)

    def value(name: str, **labels: str) -> float:
        return sum(v for sample_labels, v in found.get(name, [])
                   if all(sample_labels.get(k) == want for k, want in labels.items()))

    assert value("openkling_http_requests_total", route="/v1/videos/text2video",
                 method="POST", status="200") == 1
    assert value("openkling_http_requests_total", route="/v1/videos/text2video/{task_id}",
                 method="GET", status="200") == 3
    assert value("openkling_http_requests_total",
                 route="/kling/v1/videos/text2video/{task_id}", method="GET",
                 status="404") == 1
    assert value("openkling_http_request_duration_seconds_count",
                 route="/v1/videos/text2video/{task_id}", status="200") == 3
    assert value("openkling_tasks", family="videos/text2video", model="kling-v1",
                 status="submitted") == 1
    assert value("openkling_queue_depth") == 1
    assert value("openkling_queue_oldest_age_seconds") >= 1
    assert all(name.startswith(("openkling_", "process_", "python_")) for name in found)


def test_a_token_closes_metrics_to_anyone_without_it(server_factory: ServerFactory) -> None:
    server = server_factory({"OPENKLING_METRICS_TOKEN": "s3cret-scrape"})
    assert httpx.get(f"{server.base_url}/metrics").status_code == 401
    wrong = httpx.get(f"{server.base_url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == 1000
    right = httpx.get(f"{server.base_url}/metrics",
                      headers={"Authorization": "Bearer s3cret-scrape"})
    assert right.status_code == 200 and "openkling_queue_depth" in right.text


@pytest.mark.parametrize("client,allowed", [
    (("127.0.0.1", 5000), True), (("::1", 5000), True), (("10.0.0.7", 5000), False),
    (("203.0.113.9", 5000), False), (None, False),
])
def test_without_a_token_only_loopback_clients_may_read(client, allowed) -> None:
    from starlette.requests import Request

    from openkling.api.routes_metrics import authorize
    from openkling.core.errors import KlingError

    request = Request({"type": "http", "method": "GET", "path": "/metrics", "headers": [],
                       "client": client})
    try:
        authorize(request, None)
    except KlingError as exc:
        assert not allowed and exc.http_status == 403
    else:
        assert allowed
