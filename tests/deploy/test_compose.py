"""compose.yaml under podman-compose: PostgreSQL, S3 storage, migrations, the API and two
workers; a text2video round trip, then a worker killed in the middle of a render, whose task
the other worker completes, once.

No registry is reachable here, so PostgreSQL and the S3 server come from the tests' own image
(tests/deploy/images/services) through the compose file's OPENKLING_POSTGRES_IMAGE and
OPENKLING_S3_IMAGE; everything else is the compose file as users run it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import botocore.session
import pytest

from tests.conftest import free_port
from tests.support import containers
from tests.support.containers import podman

pytestmark = pytest.mark.slow

ROOT = containers.ROOT
#: Each step of the tiny model is short: this many make a render last long enough to be
#: caught in the middle (the test waits for its progress to move before it kills).
SLOW_STEPS = 400


@dataclass
class ComposeProject:
    name: str
    env: dict[str, str]
    api_url: str
    s3_url: str

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman-compose", "-f", str(ROOT / "compose.yaml"),
             "-f", str(ROOT / "tests" / "deploy" / "compose.test.yaml"), "-p", self.name, *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if result.returncode != 0:
            raise RuntimeError(f"podman-compose {' '.join(args)}: {result.returncode}\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def container(self, service: str, index: int = 1) -> str:
        return f"{self.name}_{service}_{index}"

    def sql(self, query: str) -> str:
        return podman("exec", "-e", f"PGPASSWORD={self.env['POSTGRES_PASSWORD']}",
                      self.container("postgres"), "psql", "-h", "127.0.0.1", "-U", "openkling",
                      "-d", "openkling", "-tAc", query).stdout.strip()


@pytest.fixture
def project(local_image: str, services_image: str) -> Iterator[ComposeProject]:
    if shutil.which("podman-compose") is None:
        pytest.skip("podman-compose is not installed (.ci/podman-setup installs it)")
    name = f"okt{uuid.uuid4().hex[:8]}"
    api_port, s3_port = free_port(), free_port()
    env = {**os.environ,
           "OPENKLING_IMAGE": local_image,
           "OPENKLING_POSTGRES_IMAGE": services_image,
           "OPENKLING_S3_IMAGE": services_image,
           "OPENKLING_PORT": str(api_port),
           "OPENKLING_S3_PORT": str(s3_port),
           "OPENKLING_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
           "OPENKLING_S3_PUBLIC_URL": f"http://127.0.0.1:{s3_port}",
           "OPENKLING_MODEL": "tiny-random-wan",
           "OPENKLING_LEASE_SECONDS": "6",
           "OPENKLING_HEARTBEAT_SECONDS": "2",
           "OPENKLING_TEST_STEPS": str(SLOW_STEPS),
           "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
           "OPENKLING_SECRET_KEY": secrets.token_urlsafe(32),
           "S3_SECRET_KEY": secrets.token_urlsafe(16)}
    project = ComposeProject(name, env, f"http://127.0.0.1:{api_port}",
                             f"http://127.0.0.1:{s3_port}")
    try:
        # Podman 4.3 (Debian 12) cannot wait for `healthy` (podman-compose skips those
        # conditions with a warning) nor start a container whose `--requires` chain holds an
        # exited one-shot, so the test brings the services up in the compose file's order
        # itself, with --no-deps (docs/deployment.md says so for podman before 4.6).
        project.compose("up", "-d", "postgres", "s3")
        deadline = time.monotonic() + 120
        while podman("exec", project.container("postgres"), "pg_isready", "-h", "127.0.0.1",
                     "-U", "openkling", "-d", "openkling", check=False).returncode != 0:
            assert time.monotonic() < deadline, containers.logs(project.container("postgres"))
            time.sleep(0.5)
        project.compose("up", "-d", "--no-deps", "bucket", "migrate")
        for one_shot in ("bucket", "migrate"):
            code = podman("wait", project.container(one_shot), timeout=300).stdout.strip()
            assert code == "0", containers.logs(project.container(one_shot))
        project.compose("up", "-d", "--no-deps", "--scale", "worker=2", "api", "worker")
        yield project
    finally:
        containers.remove_compose_project(name)


def test_compose_round_trip_and_a_killed_worker_s_task_completes_once_on_the_other(
        project: ComposeProject) -> None:
    containers.wait_until_ready(project.api_url, alive=[project.container("api")])
    key = containers.create_key(project.container("api"))

    # A round trip: API on PostgreSQL, a worker renders, the video lands in S3 and its
    # presigned URL works from the host.
    _, video = containers.text2video_round_trip(project.api_url, key["api_key"], timeout=600)
    assert containers.is_mp4(video)

    # Kill the worker that renders a task, in the middle of it.
    task_id = containers.create_task(project.api_url, key["api_key"])
    deadline = time.monotonic() + 300
    while True:
        row = project.sql(
            f"SELECT status, progress, lease_owner FROM tasks WHERE id = '{task_id}'")
        status, progress, owner = row.split("|")
        if status == "processing" and owner and int(progress) > 0:
            break
        assert status not in ("succeed", "failed"), f"finished before it was caught: {row}"
        assert time.monotonic() < deadline, row
        time.sleep(0.2)
    hostnames = {podman("inspect", "--format", "{{.Config.Hostname}}",
                        project.container("worker", i)).stdout.strip(): i for i in (1, 2)}
    victim = hostnames[owner.split(":")[0]]
    survivor = 3 - victim
    podman("kill", project.container("worker", victim))

    task = containers.wait_for_task(project.api_url, key["api_key"], task_id, timeout=600)
    assert task["task_status"] == "succeed", task
    state = podman("inspect", "--format", "{{.State.Status}}",
                   project.container("worker", victim)).stdout.strip()
    assert state == "exited"  # so the survivor finished it
    assert podman("inspect", "--format", "{{.State.Status}}",
                  project.container("worker", survivor)).stdout.strip() == "running"
    assert project.sql(f"SELECT attempts FROM tasks WHERE id = '{task_id}'") == "2"
    # Completed once: one video in the bucket for this task.
    s3 = botocore.session.get_session().create_client(
        "s3", endpoint_url=project.s3_url, region_name="us-east-1",
        aws_access_key_id="openkling", aws_secret_access_key=project.env["S3_SECRET_KEY"])
    keys = [item["Key"] for item in
            s3.list_objects_v2(Bucket="openkling").get("Contents", []) if task_id in item["Key"]]
    assert len(keys) == 1, keys
