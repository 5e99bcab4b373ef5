"""KlingProvider: one openkling task = exactly one upstream Kling task, tracked to its end.

Exactly-once, step by step (all state is saved with `ctx.save_state` before it is relied on):
1. `tried` lists the channels where a create may have landed. Before a create, the channel is
   added; after a definite "no" (busy, rejected, refused connection) it is removed again.
2. A run that finds no `upstream_task_id` first looks up every `tried` channel by
   `external_task_id` (= our task id) and adopts what it finds; if a lookup fails it retries
   later rather than risk a second paid task elsewhere.
3. Only then does it pick a channel and submit; the upstream id is saved the moment it is known.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import httpx

from openkling.config import Settings
from openkling.core.errors import KlingError
from openkling.core.models import GenerationSpec
from openkling.core.provider import (
    EventSource,
    GenerationResult,
    ProviderError,
    TaskCancelled,
    TaskContext,
    TransientProviderError,
    VideoOutput,
)
from openkling.providers.kling.channels import Channel, ChannelPool
from openkling.providers.kling.options import KlingOptions
from openkling.providers.kling.rehost import RehostError, RehostTransient, rehost
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

log = logging.getLogger("openkling.providers.kling")

CALLBACK_PATH = "/upstream/kling"
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


class _Ambiguous(Exception):
    """A create may or may not have landed and the upstream cannot tell us now."""


class KlingProvider:
    """Relays text2video tasks to upstream Kling accounts ("channels")."""

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

    def check(self, spec: GenerationSpec) -> None:
        if not any(c.serves(spec.model_name) for c in self.options.channels):
            raise KlingError.invalid("model_name", f"{spec.model_name} is not served here")

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
            await self._tracker.start()

    async def close(self) -> None:
        if self._tracker is not None:
            await self._tracker.close()
            self._tracker = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def run(self, spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        await self.start()
        channel, initial = await self._obtain(spec, ctx)
        try:
            final = await self._follow(channel, initial, ctx)
        finally:
            channel.release()
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
            return channel, None
        for tried in list(state.get("tried", [])):
            channel = self.pool.get(str(tried))
            if channel is None:
                continue
            try:
                found = await channel.client.find_external(ctx.task_id)
            except UpstreamError as exc:
                raise TransientProviderError(
                    f"cannot yet tell whether an earlier submit reached {tried}: {exc}"
                ) from None
            if found is not None:
                log.info("task %s: adopting upstream task %s on %s", ctx.task_id,
                         found.task_id, tried)
                channel.acquire()
                await ctx.save_state(upstream_task_id=found.task_id, channel=channel.name)
                return channel, found
            await self._untry(ctx, channel.name)
        return await self._submit_somewhere(spec, ctx)

    async def _untry(self, ctx: TaskContext, name: str) -> None:
        tried = [t for t in ctx.state.get("tried", []) if t != name]
        await ctx.save_state(tried=tried)

    async def _submit_somewhere(self, spec: GenerationSpec, ctx: TaskContext) -> (
            tuple[Channel, UpstreamTask]):
        failed: set[str] = set()
        last: Exception | None = None
        while True:
            channel = self.pool.pick(spec.model_name, exclude=failed)
            if channel is None:
                serving = {c.name for c in self.pool.serving(spec.model_name)}
                if serving and serving <= failed:
                    raise TransientProviderError(f"every upstream channel failed; last: {last}")
                wait = self.pool.wait_hint(spec.model_name, exclude=failed)
                raise TransientProviderError(
                    "every upstream channel is at its limit",
                    retry_after=max(wait, 1.0) * random.uniform(1.0, 1.5), count_attempt=False,
                )
            channel.acquire()
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
        body = {**spec.request_fields(), "external_task_id": ctx.task_id}
        if self.callback_base is not None:
            body["callback_url"] = f"{self.callback_base}/{ctx.task_id}/{token}"
        attempt = 0
        maybe_landed = False
        while True:
            ctx.raise_if_cancelled()
            try:
                task = await channel.client.create(body)
            except UpstreamUnavailable as exc:
                maybe_landed = maybe_landed or exc.ambiguous
                found = await self._landed(channel, ctx.task_id, exc)
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
                task_found = await channel.client.find_external(ctx.task_id)
                if task_found is None:
                    raise
                task = task_found
            await ctx.save_state(upstream_task_id=task.task_id)
            log.info("task %s submitted upstream as %s on %s", ctx.task_id, task.task_id,
                     channel.name)
            return task

    async def _landed(self, channel: Channel, task_id: str,
                      error: UpstreamUnavailable) -> UpstreamTask | None:
        """Did a failed create reach the upstream anyway? Raise _Ambiguous if unknowable."""
        try:
            return await channel.client.find_external(task_id)
        except UpstreamError as exc:
            if error.ambiguous:
                raise _Ambiguous(
                    f"submit to {channel.name} may have landed ({error.upstream_message}) and "
                    f"cannot be checked now ({exc.upstream_message})"
                ) from None
            return None

    def _backoff(self, attempt: int) -> float:
        opts = self.options
        delay = min(opts.retry_max, opts.retry_base * 2.0 ** (attempt - 1))
        return float(delay * random.uniform(0.5, 1.5))

    async def _follow(self, channel: Channel, initial: UpstreamTask | None,
                      ctx: TaskContext) -> UpstreamTask:
        """Wait (without polling ourselves) for the tracker to see the task finish."""
        upstream_id = initial.task_id if initial else str(ctx.state["upstream_task_id"])
        entry: Tracked = self.tracker.track(channel, upstream_id, ctx.task_id, initial)
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
                    if latest.status == "processing" and reported != (latest.status,
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
        if final.status == "failed":
            raise ProviderError(final.status_msg or "the upstream task failed")
        if not final.videos:
            raise ProviderError("the upstream task succeeded without a video")
        outputs: list[VideoOutput] = []
        for index, video in enumerate(final.videos):
            url = video.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ProviderError("the upstream video has no usable URL")
            video_id = _SAFE_ID.sub("", str(video.get("id") or ""))[:64] or \
                f"{ctx.task_id}{index}"
            try:
                duration = float(video.get("duration") or spec.duration)
            except (TypeError, ValueError):
                duration = float(spec.duration)
            if not self.options.rehost:
                outputs.append(VideoOutput(id=video_id, duration=duration, url=url))
                continue
            key = f"videos/{ctx.task_id}/{video_id}.mp4"
            if not await ctx.storage.exists(key):
                await self._rehost(url, key, ctx)
            outputs.append(VideoOutput(id=video_id, duration=duration, storage_key=key))
        return GenerationResult(videos=outputs)

    async def _rehost(self, url: str, key: str, ctx: TaskContext) -> None:
        assert self._http is not None
        for attempt in range(1, self.options.submit_retries + 2):
            try:
                await rehost(self._http, ctx.storage, url, key=key, work_dir=ctx.work_dir,
                             max_bytes=self.options.max_download_bytes,
                             time_limit=self.options.download_timeout, gate=self._gate,
                             trusted_hosts=self._trusted_hosts)
                return
            except RehostError as exc:
                raise ProviderError(str(exc)) from None
            except RehostTransient as exc:
                if attempt > self.options.submit_retries:
                    raise TransientProviderError(str(exc)) from None
                await asyncio.sleep(self._backoff(attempt))


def factory(options: dict[str, Any], settings: Settings) -> KlingProvider:
    return KlingProvider(options, settings)
