"""What the worker and its model process say to each other over the pipe (pickled).

Plain frozen dataclasses of the standard library: both sides import this module, and the
worker's side never imports torch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class ProcessState(enum.Enum):
    """The model process as the worker sees it."""

    STOPPED = "stopped"  # none running (not started yet, crashed, or closed)
    LOADING = "loading"  # spawned, loading the pipeline
    READY = "ready"  # pipeline loaded, waiting for work
    FAILED = "failed"  # the pipeline could not be loaded (not retried: see `load_error`)


# ----- worker -> model process ---------------------------------------------------------------

@dataclass(frozen=True)
class Generate:
    job_id: str
    call: dict[str, Any]
    out_path: str


@dataclass(frozen=True)
class Stop:
    pass


# ----- model process -> worker ---------------------------------------------------------------

@dataclass(frozen=True)
class Ready:
    info: dict[str, Any]


@dataclass(frozen=True)
class LoadFailed:
    reason: str
    #: The traceback, which the worker logs once (the model process itself logs nothing).
    detail: str = ""


@dataclass(frozen=True)
class Progress:
    job_id: str
    step: int
    total: int


@dataclass(frozen=True)
class Done:
    job_id: str
    result: dict[str, Any]


@dataclass(frozen=True)
class Cancelled:
    job_id: str


@dataclass(frozen=True)
class Failed:
    job_id: str
    out_of_memory: bool
    reason: str
    #: Set when the disk was full (ENOSPC, EDQUOT): the worker fails the task once, saying so.
    disk_errno: int | None = None
    filename: str | None = None


ToChild = Generate | Stop
FromChild = Ready | LoadFailed | Progress | Done | Cancelled | Failed
