"""A warm pytest for mutation runs: one server process imports the heavy libraries once and
forks a child per mutant, which imports openkling afresh from disk (the mutated file) and
runs the selected tests. It cuts the CPU each mutant costs to about a third on this project.

    python scripts/mutation_runner.py serve SOCKET   # scripts/mutation starts it
    python scripts/mutation_runner.py run SOCKET -- PYTEST_ARGS...   # cosmic-ray's test-command

    python scripts/mutation_runner.py sample SESSION N SEED   # keep a seeded random N mutants

`run` exits with pytest's exit code, so cosmic-ray sees exactly what a fresh pytest would say.
The server never imports openkling or the tests: every child sees the current source.
"""

from __future__ import annotations

import json
import os
import socket
import sys

CHILD_TIMEOUT_S = 50  # below cosmic-ray's own timeout: a looping mutant ends as killed


def serve(path: str) -> None:
    import compileall

    import aiosqlite  # noqa: F401 -- imported once here, inherited by every child
    import cryptography.fernet  # noqa: F401
    import fastapi  # noqa: F401
    import httpx  # noqa: F401
    import jwt  # noqa: F401
    import pydantic  # noqa: F401
    import pytest
    import pytest_asyncio.plugin  # noqa: F401
    import sqlalchemy.ext.asyncio  # noqa: F401

    # Bytecode for the unmutated sources once; children write none, so a mutated file (newer
    # mtime than its .pyc) is always compiled from what is on disk.
    compileall.compile_dir("src", quiet=1)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    while True:
        conn, _ = server.accept()
        with conn:
            args = json.loads(conn.makefile().readline())
            pid = os.fork()
            if pid == 0:
                sys.dont_write_bytecode = True
                log = os.open("runner-last.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(log, 1)
                os.dup2(log, 2)
                server.close()
                import signal

                signal.alarm(CHILD_TIMEOUT_S)
                os._exit(int(pytest.main(args)))
            _, status = os.waitpid(pid, 0)
            conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())


def run(path: str, args: list[str]) -> int:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    client.sendall((json.dumps(args) + "\n").encode())
    code = int(client.makefile().readline())
    return code if code >= 0 else 1  # a child ended by a signal (the alarm): tests failed


def sample(session: str, keep: int, seed: int) -> None:
    """Mark all but a seeded random `keep` of the pending mutants as skipped.

    Drawn from the mutants in source order (operator and occurrence), not by job id: job ids
    are random, so only this makes the same seed pick the same mutants in a new session."""
    import random

    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(session, WorkDB.Mode.open) as db:
        items = sorted(db.pending_work_items, key=lambda item: [
            (str(m.module_path), m.start_pos, m.operator_name, m.occurrence)
            for m in item.mutations])
        pending = [item.job_id for item in items]
        kept = set(random.Random(seed).sample(pending, min(keep, len(pending))))
        db.set_multiple_results(
            [job for job in pending if job not in kept],
            WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="not in the sample"),
        )
    print(f"sample: {len(kept)} of {len(pending)} mutants (seed {seed})")


if __name__ == "__main__":
    if sys.argv[1] == "sample":
        sample(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit(run(sys.argv[2], sys.argv[4:]))
