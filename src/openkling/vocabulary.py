"""The domain's words, spelled once: task and callback-delivery statuses, the families code
names, and the kinds of result a family makes. Each value is its wire (and stored) spelling,
so a member compares equal to the string a client sends or a row holds.

Below the store and everything else (imports nothing of openkling), so the store, core, the
worker, the providers and the api all say the same word the same way.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """A task's status, spelled as on the Kling wire (`task_status`)."""

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in FINISHED


#: The statuses a task can still leave.
UNFINISHED: tuple[TaskStatus, ...] = (TaskStatus.SUBMITTED, TaskStatus.PROCESSING)
#: The statuses a task never leaves.
FINISHED: tuple[TaskStatus, ...] = (TaskStatus.SUCCEED, TaskStatus.FAILED)


class DeliveryState(StrEnum):
    """A callback delivery's state (the outbox row's `state`)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class FamilyKind(StrEnum):
    """The families code refers to by name: a task's `kind` is its family's path. Other
    families (those only a relay serves) are named by their declaration alone
    (`core/families.py`), so adding one needs no new word here."""

    TEXT2VIDEO = "videos/text2video"
    IMAGE2VIDEO = "videos/image2video"
    IMAGES = "images/generations"
    TEXT_TO_AUDIO = "audio/text-to-audio"
    EXPAND = "images/editing/expand"
    MULTI_IMAGE2VIDEO = "videos/multi-image2video"
    VIDEO_EXTEND = "videos/video-extend"
    MULTI_IMAGE2IMAGE = "images/multi-image2image"
    OMNI_IMAGE = "images/omni-image"
    OMNI_VIDEO = "videos/omni-video"
    MULTI_ELEMENTS = "videos/multi-elements"


class ResultKind(StrEnum):
    """What a family makes: the key its files are listed under in `task_result`."""

    VIDEOS = "videos"
    IMAGES = "images"
    AUDIOS = "audios"
