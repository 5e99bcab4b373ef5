"""`openkling worker` processes beside a test server (scale-out tests)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT, ServerHandle


@contextmanager
def running_workers(server: ServerHandle, logs: Path, count: int = 2,
                    ) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` workers with the server's settings and files folder; killed on exit if the
    test did not stop them."""
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(count):
            env = {**server.env, "OPENKLING_DATA_DIR": str(server.data_dir)}  # shared files
            log = open(logs / f"worker{i}.log", "wb")
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "openkling.cli.main", "worker"], env=env, cwd=ROOT,
                stdout=log, stderr=subprocess.STDOUT))
        yield workers
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
