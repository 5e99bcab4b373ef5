"""Which failures are the task's, and which are the host's.

A database that cannot be reached is nobody's task's fault: the task waits, no attempt spent.
A full disk is not fixed by rendering again: the task fails at once, saying so.
"""

from __future__ import annotations

import errno

from openkling.store.faults import cause_chain
from openkling.store.faults import is_database_unavailable as is_database_unavailable

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full_message(exc: BaseException) -> str | None:
    """The task's failure message when `exc` (or its cause) is a full disk, else None."""
    for link in cause_chain(exc):
        if isinstance(link, OSError) and link.errno in _DISK_FULL:
            # No file name: the message is the client's, the server's paths are not.
            return ("the server's disk is full: the video could not be stored; "
                    "the operator must free space")
    return None
