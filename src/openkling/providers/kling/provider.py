"""KlingProvider: one openkling task = exactly one upstream Kling task, tracked to its end.

Every task family is relayed (core/families.py): the stored request goes verbatim to the
family's path upstream (`POST {channel}/v1/<family>`), input images as the client gave them
(the URL, or the base64 of the stored copy), and the results (`videos[].url`,
`images[].url`) are copied into our storage. A channel may limit the models and families it
serves; a model and family no channel serves is refused at create (400 / 1201, model_name).

Exactly-once, step by step (all state is saved with `ctx.save_state` before it is relied on):
1. `tried` lists the channels where a create may have landed. Before a create, the channel is
   added; after a definite "no" (busy, rejected, refused connection) it is removed again.
2. A run that finds no `upstream_task_id` first looks up every `tried` channel by
   `external_task_id` (= our task id) and adopts what it finds; if a lookup fails it retries
   later rather than risk a second paid task elsewhere.
3. Only then does it pick a channel and submit; the upstream id is saved the moment it is known.

Channel slots (`max_concurrency`): each worker counts its own in memory; on a shared database
the worker also attaches a `SlotLedger`, and a task then records `slot = <channel>` in its
state under a deployment-wide lock before it submits, so all workers together respect the
limit. The slot is cleared when the upstream task has ended or a submit was refused.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import httpx

from openkling.config import Settings
from openkling.core.backoff import backoff_seconds
from openkling.core.errors import Code, KlingError
from openkling.core.families import FAMILIES, ROUTED_MODEL, TEXT2VIDEO
from openkling.core.inputs import INPUT_VIDEOS, place_input
from openkling.core.loops import Loops
from openkling.core.models import GenerationSpec
from openkling.core.provider import (
    AudioOutput,
    CallContext,
    EventSource,
    GenerationResult,
    ImageOutput,
    ProviderError,
    SlotLedger,
    TaskCancelled,
    TaskContext,
    TransientProviderError,
    VideoOutput,
)
from openkling.errors import OpenKlingError
from openkling.providers.kling.channels import Channel, ChannelPool
from openkling.providers.kling.rehost import (
    AUDIO_FORMATS,
    IMAGE_FORMATS,
    VIDEO,
    RehostError,
    RehostTransient,
    rehost,
)
from openkling.providers.kling.relay_options import KlingOptions
from openkling.providers.kling.tracker import Tracked, Tracker, TrackingError
from openkling.providers.kling.upstream import (
    UpstreamBusy,
    UpstreamChannelError,
    UpstreamClient,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTask,
    UpstreamUnavailable,
)
from openkling.vocabulary import ResultKind, TaskStatus

log = logging.getLogger("openkling.providers.kling")

CALLBACK_PATH = "/upstream/kling"
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")
#: Keys of a stored request that are ours (core/service.py), never sent upstream.
_STORED_ONLY = frozenset({"inputs", INPUT_VIDEOS, "ignored_fields", ROUTED_MODEL, "front"})


class _Ambiguous(OpenKlingError):
    """A create may or may not have landed and the upstream cannot tell us now."""


class KlingProvider:
    """Relays tasks of every family to upstream Kling accounts ("channels")."""

    name = "kling"

    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self.options = KlingOptions.parse(options)
        self.settings = settings
        self.concurrency = self.options.concurrency
        #: Where upstream callbacks go, when this server has a public URL of its own.
        self.callback_base: str | None = (
            f"{settings.public_url.rstrip('/')}{CALLBACK_PATH}"
            if self.options.callbacks and settings.public_url else None
        )
        #: Attached by the worker before `start` (see `attach_events`).
        self.event_source: EventSource | None = None
        #: Attached by the worker on a database several workers share (see `attach_slots`).
        self.slots: SlotLedger | None = None
        #: The process's loop supervisor, attached by the worker (see `attach_loops`); without
        #: one (a provider used on its own) the provider supervises its loops itself.
        self.loops: Loops | None = None
        self._own_loops: Loops | None = None
        #: Per family, the optional fields honoured: all of them (the request is forwarded
        #: verbatim), for every family at least one channel serves.
        self.families: dict[str, frozenset[str]] = {
            path: frozenset(family.optional_fields) for path, family in FAMILIES.items()
            if any(c.families is None or path in c.families for c in self.options.channels)
        }
        self._http: httpx.AsyncClient | None = None
        self._gate = asyncio.Semaphore(1)
        self._pool: ChannelPool | None = None
        self._tracker: Tracker | None = None
        self._start_lock = asyncio.Lock()
        #: Video downloads may reach these hosts even on private networks (a chained
        #: openkling, a gateway on the LAN); any other host must be public.
        self._trusted_hosts = frozenset(
            host for c in self.options.channels if (host := urlsplit(c.base_url).hostname)
        )

    # -- Provider protocol -----------------------------------------------------------------
    def attach_events(self, source: EventSource) -> None:
        """Upstream callbacks recorded by the API reach the tracker through this source."""
        self.event_source = source

    def attach_slots(self, ledger: SlotLedger) -> None:
        """Channel slots are then counted for the whole deployment, not per worker."""
        self.slots = ledger

    def attach_loops(self, loops: Loops) -> None:
        """The tracker's loops then run under the worker's supervisor (readiness, exit)."""
        self.loops = loops

    async def forward(self, family: str, action: str, body: dict[str, Any],
                      call: CallContext | None = None) -> Any:
        """An immediate call (multi-elements' selection session) on the highest-priority
        channel serving the family, so that a session and its create meet on one account
        when one channel serves the family (Kling keeps the session: `call` is not needed).
        Upstream refusals reach the client as Kling's."""
        model = str(body.get("model_name") or FAMILIES[family].default_model)
        channels = sorted((c for c in self.options.channels if c.serves(model, family)),
                          key=lambda c: -c.priority)
        if not channels:
            raise KlingError.invalid("model_name", f"{model} is not served here for {family}")
        async with httpx.AsyncClient(follow_redirects=False) as http:
            client = UpstreamClient(channels[0], http, asyncio.Semaphore(1),
                                    asyncio.Semaphore(1))
            try:
                return await client.call(family, action, body)
            except UpstreamError as exc:
                raise _as_kling(exc) from None

    def describe_channels(self) -> list[dict[str, Any]]:
        """The channels as configured, without their keys (the admin console lists them)."""
        return [{"name": c.name, "base_url": c.base_url, "path_prefix": c.path_prefix,
                 "models": c.models, "max_concurrency": c.max_concurrency,
                 "priority": c.priority, "weight": c.weight} for c in self.options.channels]

    def check(self, spec: GenerationSpec) -> None:
        if not any(c.serves(spec.model_name, spec.kind) for c in self.options.channels):
            raise KlingError.invalid(
                "model_name", f"{spec.model_name} is not served here for {spec.kind}"
            )

    async def start(self) -> None:
        async with self._start_lock:
            if self._tracker is not None:
                return
            connections = self.options.max_connections
            self._http = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=connections,
                                    max_keepalive_connections=connections),
                follow_redirects=False,
            )
            self._gate = asyncio.Semaphore(max(1, connections // 2))
            queries = asyncio.Semaphore(max(1, connections - connections // 2))
            self._pool = ChannelPool(
                Channel(c, UpstreamClient(c, self._http, self._gate, queries))
                for c in self.options.channels
            )
            events = self.event_source if self.callback_base is not None else None
            self._tracker = Tracker(self.options, self._pool, events)
            loops = self.loops
            if loops is None:
                loops = self._own_loops = Loops()
            self._tracker.start(loops)

    async def close(self) -> None:
        """Stop the loops this provider supervises itself (the worker stops its own)."""
        if self._own_loops is not None:
            await self._own_loops.stop()
            self._own_loops = None
        self._tracker = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def run(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await self.start()
        channel, initial = await self._obtain(spec, ctx)
        try:
            final = await self._follow(channel, spec.kind, initial, ctx)
        finally:
            channel.release()
        if ctx.state.get("slot") is not None:  # the upstream task ended: its slot is free
            await ctx.save_state(slot=None)
        return await self._result(spec, ctx, final)

    # -- internals -------------------------------------------------------------------------
    @property
    def pool(self) -> ChannelPool:
        assert self._pool is not None, "start() first"
        return self._pool

    @property
    def tracker(self) -> Tracker:
        assert self._tracker is not None, "start() first"
        return self._tracker

    async def _obtain(self, spec: GenerationSpec, ctx: TaskContext) -> (
            tuple[Channel, UpstreamTask | None]):
        """The channel and upstream task of this task: adopted if one exists, else submitted."""
        state = ctx.state
        upstream_id, name = state.get("upstream_task_id"), state.get("channel")
        if upstream_id and name:
            channel = self.pool.get(str(name))
            if channel is None:
                raise ProviderError(f"upstream channel {name} is no longer configured")
            channel.acquire()
            await self._hold_slot(ctx, channel)
            return channel, None
        for tried in list(state.get("tried", [])):
            channel = self.pool.get(str(tried))
            if channel is None:
                continue
            try:
                found = await channel.client.find_external(spec.kind, ctx.task_id)
            except UpstreamError as exc:
                raise TransientProviderError(
                    f"cannot yet tell whether an earlier submit reached {tried}: {exc}"
                ) from None
            if found is not None:
                log.info("task %s: adopting upstream task %s on %s", ctx.task_id,
                         found.task_id, tried)
                channel.acquire()
                await ctx.save_state(upstream_task_id=found.task_id, channel=channel.name)
                await self._hold_slot(ctx, channel)
                return channel, found
            await self._untry(ctx, channel.name)
        return await self._submit_somewhere(spec, ctx)

    async def _untry(self, ctx: TaskContext, name: str) -> None:
        """The channel definitely holds no task of ours: forget it, and free its slot."""
        tried = [t for t in ctx.state.get("tried", []) if t != name]
        if ctx.state.get("slot") == name:
            await ctx.save_state(tried=tried, slot=None)
        else:
            await ctx.save_state(tried=tried)

    async def _reserve(self, ctx: TaskContext, channel: Channel) -> bool:
        """A slot of the channel for the whole deployment (always, without a ledger)."""
        if self.slots is None or ctx.state.get("slot") == channel.name:
            return True
        return await self.slots.reserve(
            channel.name, ctx.task_id, channel.options.max_concurrency,
            lambda: ctx.save_state(slot=channel.name),
        )

    async def _hold_slot(self, ctx: TaskContext, channel: Channel) -> None:
        """An upstream task exists on this channel: it holds a slot, whatever the count."""
        if self.slots is not None and ctx.state.get("slot") != channel.name:
            await ctx.save_state(slot=channel.name)

    async def _submit_somewhere(self, spec: GenerationSpec, ctx: TaskContext) -> (
            tuple[Channel, UpstreamTask]):
        failed: set[str] = set()
        full: set[str] = set()  # no slot left in the deployment (other workers hold them)
        last: Exception | None = None
        while True:
            channel = self.pool.pick(spec.model_name, spec.kind, exclude=failed | full)
            if channel is None:
                serving = {c.name for c in self.pool.serving(spec.model_name, spec.kind)}
                if serving and serving <= failed:
                    raise TransientProviderError(f"every upstream channel failed; last: {last}")
                wait = self.pool.wait_hint(spec.model_name, spec.kind, exclude=failed | full)
                raise TransientProviderError(
                    "every upstream channel is at its limit",
                    retry_after=max(wait, 1.0) * random.uniform(1.0, 1.5), count_attempt=False,
                )
            channel.acquire()
            try:
                reserved = await self._reserve(ctx, channel)
            except BaseException:
                channel.release()
                raise
            if not reserved:
                channel.release()
                full.add(channel.name)
                continue
            try:
                task = await self._submit(channel, spec, ctx)
            except UpstreamBusy as exc:
                channel.release()
                delay = channel.mark_busy(self.options.busy_retry_after, exc.retry_after)
                log.info("channel %s busy (%s); backing off %.1f s", channel.name,
                         exc.code, delay)
                await self._untry(ctx, channel.name)
                last = exc
            except (UpstreamChannelError, UpstreamUnavailable) as exc:
                channel.release()
                log.warning("channel %s failed, failing over: %s", channel.name, exc)
                await self._untry(ctx, channel.name)
                failed.add(channel.name)
                last = exc
            except UpstreamRejected as exc:
                channel.release()
                await self._untry(ctx, channel.name)
                raise ProviderError(exc.upstream_message) from None
            except _Ambiguous as exc:
                channel.release()
                raise TransientProviderError(str(exc)) from None
            except BaseException:
                channel.release()
                raise
            else:
                channel.mark_ok()
                return channel, task

    async def _submit(self, channel: Channel, spec: GenerationSpec,
                      ctx: TaskContext) -> UpstreamTask:
        """Create on one channel, retrying 5xx/timeouts with backoff and jitter."""
        token = ctx.state.get("callback_token") or secrets.token_urlsafe(24)
        tried = list(ctx.state.get("tried", []))
        if channel.name not in tried:
            tried.append(channel.name)
        await ctx.save_state(channel=channel.name, tried=tried, callback_token=token)
        body = {**await self._body(spec, ctx), "external_task_id": ctx.task_id}
        if self.callback_base is not None:
            body["callback_url"] = f"{self.callback_base}/{ctx.task_id}/{token}"
        attempt = 0
        maybe_landed = False
        while True:
            ctx.raise_if_cancelled()
            try:
                task = await channel.client.create(spec.kind, body)
            except UpstreamUnavailable as exc:
                maybe_landed = maybe_landed or exc.ambiguous
                found = await self._landed(channel, spec.kind, ctx.task_id, exc)
                if found is not None:
                    task = found
                else:
                    if attempt >= self.options.submit_retries:
                        if maybe_landed:  # an earlier try may still show up here: never
                            raise _Ambiguous(  # submit elsewhere until this channel says no
                                f"submit to {channel.name} may have landed; it is looked up "
                                "again before anything is submitted elsewhere"
                            ) from None
                        raise
                    attempt += 1
                    await asyncio.sleep(self._backoff(attempt))
                    continue
            except UpstreamRejected as exc:
                if "external_task_id" not in exc.upstream_message:
                    raise
                task_found = await channel.client.find_external(spec.kind, ctx.task_id)
                if task_found is None:
                    raise
                task = task_found
            await ctx.save_state(upstream_task_id=task.task_id)
            log.info("task %s submitted upstream as %s on %s", ctx.task_id, task.task_id,
                     channel.name)
            return task

    async def _body(self, spec: GenerationSpec, ctx: TaskContext) -> dict[str, Any]:
        """The create body: the stored request as Kling spells it (a task stored before
        families existed has only the spec), with each input image as the base64 of the
        copy stored at create: the client's URL may have expired by the time the task is
        submitted, and neither a retry nor the upstream should fetch it again."""
        stored = spec.request or spec.request_fields()
        body = {k: v for k, v in stored.items() if k not in _STORED_ONLY and v is not None}
        if isinstance(body.get("duration"), int):  # stored as a number, sent as Kling's string
            body["duration"] = str(body["duration"])
        if body.get("prompt") == "":  # image2video's optional prompt, left out
            del body["prompt"]
        for name, meta in spec.inputs.items():
            data = await ctx.storage.read_bytes(str(meta["key"]))
            place_input(body, name, base64.b64encode(data).decode("ascii"))
        return body

    async def _landed(self, channel: Channel, family: str, task_id: str,
                      error: UpstreamUnavailable) -> UpstreamTask | None:
        """Did a failed create reach the upstream anyway? Raise _Ambiguous if unknowable."""
        try:
            return await channel.client.find_external(family, task_id)
        except UpstreamError as exc:
            if error.ambiguous:
                raise _Ambiguous(
                    f"submit to {channel.name} may have landed ({error.upstream_message}) and "
                    f"cannot be checked now ({exc.upstream_message})"
                ) from None
            return None

    def _backoff(self, attempt: int) -> float:
        return backoff_seconds(attempt, base=self.options.retry_base,
                               cap=self.options.retry_max, jitter=0.5)

    async def _follow(self, channel: Channel, family: str, initial: UpstreamTask | None,
                      ctx: TaskContext) -> UpstreamTask:
        """Wait (without polling ourselves) for the tracker to see the task finish."""
        upstream_id = initial.task_id if initial else str(ctx.state["upstream_task_id"])
        entry: Tracked = self.tracker.track(channel, family, upstream_id, ctx.task_id, initial)
        cancel_wait = asyncio.ensure_future(ctx.cancelled.wait())
        reported: tuple[str, float | None] | None = None
        try:
            while True:
                entry.changed.clear()
                if entry.error is not None:
                    raise self._tracking_failure(entry.error)
                latest = entry.latest
                if latest is not None:
                    if latest.terminal:
                        return latest
                    if latest.status == TaskStatus.PROCESSING and reported != (latest.status,
                                                                       latest.progress):
                        reported = (latest.status, latest.progress)
                        if latest.progress is not None and latest.progress > 0:
                            await ctx.report_progress(min(latest.progress, 99.0))
                        else:
                            await ctx.set_processing()
                if entry.error is None and not (entry.latest and entry.latest.terminal) \
                        and not entry.changed.is_set():
                    changed = asyncio.ensure_future(entry.changed.wait())
                    await asyncio.wait({changed, cancel_wait},
                                       return_when=asyncio.FIRST_COMPLETED)
                    changed.cancel()
                if cancel_wait.done():
                    raise TaskCancelled("cancelled")
        finally:
            cancel_wait.cancel()
            self.tracker.untrack(entry)

    @staticmethod
    def _tracking_failure(error: Exception) -> Exception:
        if isinstance(error, UpstreamNotFound):
            return ProviderError("the upstream task no longer exists")
        if isinstance(error, TrackingError):
            return ProviderError(str(error))
        return TransientProviderError(str(error))

    async def _result(self, spec: GenerationSpec, ctx: TaskContext,
                      final: UpstreamTask) -> GenerationResult:
        if final.status == TaskStatus.FAILED:
            raise ProviderError(final.status_msg or "the upstream task failed")
        family = FAMILIES.get(spec.kind, FAMILIES[TEXT2VIDEO])
        if family.result == ResultKind.IMAGES:
            return GenerationResult([], images=await self._images(ctx, final))
        if family.result == ResultKind.AUDIOS:  # video-to-audio also gives the video with its sound
            return GenerationResult(await self._videos(spec, ctx, final) if final.videos
                                    else [], audios=await self._audios(ctx, final))
        if not final.videos:
            raise ProviderError("the upstream task succeeded without a video")
        return GenerationResult(videos=await self._videos(spec, ctx, final))

    async def _videos(self, spec: GenerationSpec, ctx: TaskContext,
                      final: UpstreamTask) -> list[VideoOutput]:
        outputs: list[VideoOutput] = []
        for index, video in enumerate(final.videos):
            url = _usable_url(video, "video")
            video_id = _result_id(video, ctx.task_id, index)
            try:
                duration = float(video.get("duration") or spec.duration)
            except (TypeError, ValueError):
                duration = float(spec.duration)
            if not self.options.rehost:
                outputs.append(VideoOutput(id=video_id, duration=duration, url=url))
                continue
            key = await self._keep(url, f"videos/{ctx.task_id}/{video_id}", "video", ctx)
            outputs.append(VideoOutput(id=video_id, duration=duration, storage_key=key))
        return outputs

    async def _audios(self, ctx: TaskContext, final: UpstreamTask) -> list[AudioOutput]:
        """Each sound in each format Kling gives (`url_mp3`, `url_wav`), re-hosted."""
        if not final.audios:
            raise ProviderError("the upstream task succeeded without a sound")
        outputs: list[AudioOutput] = []
        for index, audio in enumerate(final.audios):
            audio_id = _result_id(audio, ctx.task_id, index)
            urls = {fmt: url for fmt in ("mp3", "wav")
                    if isinstance(url := audio.get(f"url_{fmt}"), str)
                    and url.startswith(("http://", "https://"))}
            if not urls:
                raise ProviderError("the upstream sound has no usable URL")
            durations = {fmt: _seconds(audio.get(f"duration_{fmt}")) for fmt in urls}
            if not self.options.rehost:
                outputs.append(AudioOutput(id=audio_id, durations=durations, urls=urls))
                continue
            keys = {fmt: await self._keep(url, f"audios/{ctx.task_id}/{audio_id}-{fmt}",
                                          "audio", ctx)
                    for fmt, url in urls.items()}
            outputs.append(AudioOutput(id=audio_id, durations=durations, storage_keys=keys))
        return outputs

    async def _images(self, ctx: TaskContext, final: UpstreamTask) -> list[ImageOutput]:
        if not final.images:
            raise ProviderError("the upstream task succeeded without an image")
        outputs: list[ImageOutput] = []
        for position, image in enumerate(final.images):
            url = _usable_url(image, "image")
            index = image.get("index")
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                index = position
            if not self.options.rehost:
                outputs.append(ImageOutput(index=index, url=url))
                continue
            key = await self._keep(url, f"images/{ctx.task_id}/{index}", "image", ctx)
            outputs.append(ImageOutput(index=index, storage_key=key))
        return outputs

    async def _keep(self, url: str, stem: str, kind: str, ctx: TaskContext) -> str:
        """The storage key of the result at `url`: kept by an earlier run, else copied now."""
        formats = {"image": IMAGE_FORMATS, "audio": AUDIO_FORMATS}.get(kind, (VIDEO,))
        for extension, _ in formats:
            if await ctx.storage.exists(f"{stem}.{extension}"):
                return f"{stem}.{extension}"
        assert self._http is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                return await rehost(
                    self._http, ctx.storage, url, stem=stem, work_dir=ctx.work_dir,
                    max_bytes=self.options.max_download_bytes,
                    time_limit=self.options.download_timeout, gate=self._gate,
                    trusted_hosts=self._trusted_hosts, kind=kind,
                )
            except RehostError as exc:
                raise ProviderError(str(exc)) from None
            except RehostTransient as exc:
                if attempt > self.options.submit_retries:
                    raise TransientProviderError(str(exc)) from None
                await asyncio.sleep(self._backoff(attempt))


_KLING_CODES = frozenset(code.value for code in Code)


def _as_kling(error: UpstreamError) -> KlingError:
    """What a client is told of an upstream refusal of an immediate call."""
    if isinstance(error, UpstreamRejected | UpstreamNotFound | UpstreamBusy) and \
            error.code in _KLING_CODES:
        return KlingError(Code(error.code), error.upstream_message)
    if isinstance(error, UpstreamNotFound):
        return KlingError.not_found("session")
    return KlingError(Code.UNAVAILABLE, f"the upstream could not answer: "
                      f"{error.upstream_message}")


def _result_id(item: dict[str, Any], task_id: str, index: int) -> str:
    """The upstream result's id, safe in a storage key (ours when it has none)."""
    return _SAFE_ID.sub("", str(item.get("id") or ""))[:64] or f"{task_id}{index}"


def _seconds(value: Any) -> float:
    """A duration Kling sends as a string or a number; 0 when it sends none."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _usable_url(item: dict[str, Any], kind: str) -> str:
    url = item.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ProviderError(f"the upstream {kind} has no usable URL")
    return url


def factory(options: dict[str, Any], settings: Settings) -> KlingProvider:
    return KlingProvider(options, settings)
