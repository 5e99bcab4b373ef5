"""The task families the client commands know, and what the commands need of each."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Protocol

from openkling.client import KlingClient, Task


class Family(StrEnum):
    """A family by the name of the command that creates its tasks."""

    TEXT2VIDEO = "text2video"
    IMAGE2VIDEO = "image2video"
    IMAGE = "image"

    @property
    def makes_images(self) -> bool:
        return self is Family.IMAGE


class TaskFamily(Protocol):
    """What `client.text2video`, `client.image2video` and `client.images` all have."""

    def get(self, task_id: str | None = None, *,
            external_task_id: str | None = None) -> Task: ...

    def list(self, page_num: int = 1, page_size: int = 30) -> builtins.list[Task]: ...

    def iter_all(self, page_size: int = 100) -> Iterator[Task]: ...

    def cancel(self, task_id: str | Task) -> Task: ...

    def wait(self, task: Task | str, *, timeout: float | None = None,
             on_progress: Callable[[Task], None] | None = None,
             raise_on_failure: bool = True) -> Task: ...


def tasks_of(client: KlingClient, family: Family) -> TaskFamily:
    if family is Family.IMAGE2VIDEO:
        return client.image2video
    if family is Family.IMAGE:
        return client.images
    return client.text2video


def task_command(verb: str, family: Family, task_id: str) -> str:
    """The `openkling task ...` line that acts on this task (for hints in messages)."""
    flag = "" if family is Family.TEXT2VIDEO else f" --family {family.value}"
    return f"openkling task {verb} {task_id}{flag}"
