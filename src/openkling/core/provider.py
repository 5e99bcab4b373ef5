"""The provider protocol: the one seam between the engine and whatever makes a video.

A provider is constructed cheaply from its settings (the API process builds one only to call
`check`, at create time); heavy work such as loading a model happens in `start`, which only a
worker calls. `run` must be idempotent per task id: the engine executes at least once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from openkling.core.loops import Loops
from openkling.core.models import GenerationSpec
from openkling.errors import OpenKlingError
from openkling.storage.base import Storage
from openkling.vocabulary import ResultKind


class ProviderError(OpenKlingError):
    """The task cannot succeed: it ends `failed` with this message as task_status_msg."""


class TransientProviderError(OpenKlingError):
    """Worth another attempt later (upstream 5xx, a crashed model process, a timeout).

    `retry_after` (seconds) overrides the engine's exponential backoff; `count_attempt=False`
    re-queues without spending an attempt (e.g. every upstream channel is busy).
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, count_attempt: bool = True
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.count_attempt = count_attempt


class TaskCancelled(OpenKlingError):
    """Raised by a provider (or `TaskContext.raise_if_cancelled`) once cancellation is seen."""


@dataclass(frozen=True)
class VideoOutput:
    """One generated video: either stored by us (`storage_key`) or hosted elsewhere (`url`)."""

    id: str
    duration: float
    storage_key: str | None = None
    url: str | None = None
    #: The selection session it was made from (videos/multi-elements' result names it).
    session_id: str | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.id, "duration": round(self.duration, 3)}
        if self.session_id is not None:
            record["session_id"] = self.session_id
        if self.storage_key is not None:
            record["storage_key"] = self.storage_key
        if self.url is not None:
            record["url"] = self.url
        return record


@dataclass(frozen=True)
class ImageOutput:
    """One generated image (images/generations): stored by us or hosted elsewhere."""

    index: int
    storage_key: str | None = None
    url: str | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"index": self.index}
        if self.storage_key is not None:
            record["storage_key"] = self.storage_key
        if self.url is not None:
            record["url"] = self.url
        return record


@dataclass(frozen=True)
class AudioOutput:
    """One generated sound (the audio families), in each format Kling gives it (`mp3`,
    `wav`): stored by us (`storage_keys`) or hosted elsewhere (`urls`), with its length."""

    id: str
    durations: dict[str, float]
    storage_keys: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "formats": {
            fmt: {"duration": round(seconds, 3),
                  **({"storage_key": self.storage_keys[fmt]} if fmt in self.storage_keys
                     else {"url": self.urls.get(fmt, "")})}
            for fmt, seconds in self.durations.items()}}


@dataclass(frozen=True)
class GenerationResult:
    videos: list[VideoOutput]
    images: list[ImageOutput] = field(default_factory=list)
    audios: list[AudioOutput] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """The task row's `result`: what was made, by kind (videos always listed)."""
        stored: dict[str, Any] = {
            ResultKind.VIDEOS: [video.to_record() for video in self.videos]}
        if self.images:
            stored[ResultKind.IMAGES] = [image.to_record() for image in self.images]
        if self.audios:
            stored[ResultKind.AUDIOS] = [audio.to_record() for audio in self.audios]
        return stored


class TaskContext:
    """What a running provider may do to its task: report, persist state, notice cancellation."""

    def __init__(
        self,
        *,
        task_id: str,
        attempt: int,
        state: dict[str, Any],
        storage: Storage,
        work_dir: Path,
        save_state: Callable[[dict[str, Any]], Awaitable[None]],
        report: Callable[[float | None], Awaitable[None]],
    ) -> None:
        self.task_id = task_id
        self.attempt = attempt
        self.state: dict[str, Any] = dict(state)
        self.storage = storage
        #: Scratch space for this run, removed afterwards; created by the provider if needed.
        self.work_dir = work_dir
        self.cancelled = asyncio.Event()
        self._save_state = save_state
        self._report = report

    async def save_state(self, **updates: Any) -> None:
        """Durably merge provider state (e.g. an upstream task id) before acting on it."""
        self.state.update(updates)
        await self._save_state(dict(self.state))

    async def set_processing(self) -> None:
        """Mark the task `processing` (work has really begun)."""
        await self._report(None)

    async def report_progress(self, percent: float) -> None:
        """Expose progress (0..100); implies `processing`. Cheap to call often."""
        await self._report(max(0.0, min(100.0, percent)))

    def raise_if_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise TaskCancelled("cancelled")


class EventSource(Protocol):
    """Upstream callback events the API recorded for running tasks (the store provides them;
    see `openkling.store.relay_events`). A provider treats an event as "look again now"."""

    async def latest_id(self) -> int:
        """The newest event id now (events older than the worker's start are not needed)."""
        ...

    async def after(self, event_id: int) -> list[tuple[int, str]]:
        """(event id, our task id) pairs newer than `event_id`, oldest first."""
        ...


@runtime_checkable
class ReceivesEvents(Protocol):
    """A provider that wants upstream callback events: the worker attaches a source before
    `start`, so the provider itself never opens the database."""

    def attach_events(self, source: EventSource) -> None: ...


class SlotLedger(Protocol):
    """Deployment-wide slot counting for upstream accounts shared by several workers (the
    store provides it on PostgreSQL; see `openkling.store.channel_slots`)."""

    async def reserve(self, name: str, task_id: str, limit: int,
                      mark: Callable[[], Awaitable[None]]) -> bool:
        """Count the unfinished tasks holding a slot of `name` (besides `task_id`); when fewer
        than `limit`, run `mark` (which records the slot in the task's state) and return True.
        Counting and marking are serialised across the deployment."""
        ...


@runtime_checkable
class SharesSlots(Protocol):
    """A provider whose upstream limits span processes: the worker attaches a ledger on a
    database several workers share; without one, the provider counts in its own memory."""

    def attach_slots(self, ledger: SlotLedger) -> None: ...


@dataclass(frozen=True)
class ProviderStatus:
    """Whether a started provider can take work now: `loading` (its model is still loading:
    tasks wait for it), `ready`, or `failed` (it cannot work; `reason` says why)."""

    state: str
    reason: str | None = None

    def describe(self) -> str:
        return f"{self.state}: {self.reason}" if self.reason else self.state


@dataclass(frozen=True)
class CallContext:
    """Who makes an immediate call (or a create a provider resolves) and what the server
    lends the provider for it: the caller's account, the storage, and a lookup of the
    account's own result videos by id (another account's are never found)."""

    account_id: int
    storage: Storage
    find_video: Callable[[str], Awaitable[dict[str, Any] | None]]
    #: Downloads a client's URL past the outbound guard: (field, url, max_bytes) -> body,
    #: refusing with 400 / 1201 naming the field; None where the server fetches no URLs.
    fetch_url: Callable[[str, str, int], Awaitable[bytes]] | None = None
    #: The id the task will have, for a create (its inputs are stored under
    #: `inputs/<task id>/`); None for an immediate call.
    task_id: str | None = None


@runtime_checkable
class ForwardsCalls(Protocol):
    """A provider that answers a family's immediate calls (`Family.actions`, e.g.
    multi-elements' selection session): the relay asks its upstream (and ignores `call`),
    the local provider answers itself for `call.account_id`. Raises `KlingError` with what
    the client should see."""

    async def forward(self, family: str, action: str, body: dict[str, Any],
                      call: CallContext | None = None) -> Any: ...


@runtime_checkable
class ResolvesCreate(Protocol):
    """A provider that must look something up for a create before `check` (I/O the API
    process does once): the local provider copies multi-elements' selection session into
    the stored request. Raises `KlingError` with what the client should see."""

    async def resolve_create(self, family: str, stored: dict[str, Any],
                             call: CallContext) -> None: ...


@runtime_checkable
class DescribesChannels(Protocol):
    """A provider with upstream channels (the relay): what the operator's console lists of
    them, without secrets, so that the API never reads a provider's options itself."""

    def describe_channels(self) -> list[dict[str, Any]]: ...


@runtime_checkable
class DescribesModels(Protocol):
    """A provider with a model catalogue (the local one): each model it can serve and the
    Kling model names that run on it, given the options of each name routed to it."""

    def describe_models(self, routes: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]: ...


@runtime_checkable
class ReportsStatus(Protocol):
    """A provider whose start finishes in the background (a model process loading weights):
    readiness asks it, without I/O, where it is. A provider without it is ready once started."""

    def status(self) -> ProviderStatus: ...


@runtime_checkable
class RunsLoops(Protocol):
    """A provider with background loops of its own (the relay's tracker): the worker attaches
    its supervisor before `start`, so they survive failures like the worker's loops, show in
    readiness, and a loop that dies stops the process."""

    def attach_loops(self, loops: Loops) -> None: ...


@runtime_checkable
class Provider(Protocol):
    """Given a spec and a context, return videos."""

    name: str
    #: How many tasks one worker runs on this provider at once.
    concurrency: int

    def check(self, spec: GenerationSpec) -> None:
        """Reject what this provider cannot honour (raise KlingError 1201). No I/O."""

    async def start(self) -> None:
        """Acquire heavy resources (model processes, HTTP pools). Called once per worker."""

    async def close(self) -> None:
        """Release what `start` acquired."""

    async def run(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        """Make the videos; raise ProviderError, TransientProviderError or TaskCancelled."""
        ...
