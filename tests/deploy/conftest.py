"""Fixtures of the deploy tests: images built once per session (tests/support/containers.py).

These tests build and run containers with podman (loopback only); they are marked `deploy`
and `slow`, so `pytest -m unit` leaves them out, and skip with the reason without podman.
"""

from __future__ import annotations

import pytest

from tests.support import containers

SERVICES = containers.ROOT / "tests" / "deploy" / "images" / "services"


@pytest.fixture(scope="session")
def podman_ready() -> None:
    reason = containers.podman_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def local_image(podman_ready: None) -> str:
    """The image that renders: the Dockerfile with `server,s3,local` (CPU torch here)."""
    return containers.build_openkling_image("server,s3,local")


@pytest.fixture(scope="session")
def services_image(podman_ready: None) -> str:
    """PostgreSQL and an S3 server in one image of the tests' own (images/services)."""
    return containers.build_context_image("localhost/openkling-test-services", SERVICES)
