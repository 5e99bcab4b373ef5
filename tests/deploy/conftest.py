"""Fixtures of the deploy tests: images built once per session (tests/support/containers.py).

These tests build and run containers with podman (loopback only); they are marked `deploy`
and `slow`, so `pytest -m unit` leaves them out, and skip with the reason without podman.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import containers

SERVICES = containers.ROOT / "tests" / "deploy" / "images" / "services"


@pytest.fixture(scope="session")
def podman_ready() -> None:
    reason = containers.podman_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def images(podman_ready: None) -> dict[str, str]:
    """Every image the deploy tests use, built side by side (much of a build waits on the
    network and the disk): `server` (the Dockerfile's default extras), `local` (it renders:
    `server,s3,local` with CPU torch) and `services` (PostgreSQL and an S3 server of the tests'
    own). Each is reused while what it is built from is unchanged."""
    containers.ensure_base_image()
    builds = {
        "server": lambda: containers.build_openkling_image("server"),
        "local": lambda: containers.build_openkling_image("server,s3,local"),
        "services": lambda: containers.build_context_image(
            "localhost/openkling-test-services", SERVICES),
    }
    with ThreadPoolExecutor(len(builds)) as pool:
        futures = {name: pool.submit(build) for name, build in builds.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="session")
def server_image(images: dict[str, str]) -> str:
    return images["server"]


@pytest.fixture(scope="session")
def local_image(images: dict[str, str]) -> str:
    return images["local"]


@pytest.fixture(scope="session")
def services_image(images: dict[str, str]) -> str:
    return images["services"]
