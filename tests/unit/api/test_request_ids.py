"""Request ids: UUID-shaped like Kling's, unique in a process and across forked workers."""

from __future__ import annotations

import os
import uuid

from openkling.api.envelope import new_request_id


def test_request_ids_are_version_4_uuids_and_unique() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:100]:
        parsed = uuid.UUID(value)
        assert str(parsed) == value  # canonical lower-case 8-4-4-4-12 form
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_worker_draws_its_own_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a gunicorn worker forked after import would send
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = new_request_id()
    assert uuid.UUID(child).version == 4
    assert child[:24] != parent[:24]
