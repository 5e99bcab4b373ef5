"""The task service: create / get / list / cancel, the only way the API touches tasks."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import Any

from pydantic import BaseModel

from openkling.clock import now_ms
from openkling.config import Settings
from openkling.core.auth import Principal
from openkling.core.costs import task_units
from openkling.core.errors import Code, KlingError
from openkling.core.families import (
    FAMILIES,
    TEXT2VIDEO,
    Family,
    check_honoured,
    provider_families,
)
from openkling.core.ids import new_task_id
from openkling.core.image_fetch import ImageFetcher
from openkling.core.images import InputImage
from openkling.core.inputs import (
    INPUT_VIDEOS,
    find_videos,
    forget_images,
    image_values,
    load_images,
    store_images,
)
from openkling.core.models import spec_from_stored
from openkling.core.outbound import CALLBACKS_SETTING, OutboundRefused, check_outbound_url
from openkling.core.provider import CallContext, ForwardsCalls, Provider, ResolvesCreate
from openkling.core.registry import ModelRegistry
from openkling.core.wire import WireCache, task_to_wire
from openkling.storage.base import Storage
from openkling.store.quotas import QuotaExhausted
from openkling.store.records import TaskRecord
from openkling.store.tasks import (
    DuplicateExternalId,
    DuplicateTaskId,
    TaskStore,
    TooManyUnfinished,
)
from openkling.vocabulary import ResultKind, TaskStatus

_ID_ATTEMPTS = 3
#: The stored request's key for what a front door other than Kling's needs to answer a task
#: in its own shape (see api/openai); providers never see it.
FRONT_KEY = "front"

#: The built-in relay's provider name: it serves every family (providers/loader.py).
RELAY = "kling"


class TaskService:
    def __init__(
        self,
        *,
        settings: Settings,
        store: TaskStore,
        registry: ModelRegistry,
        providers: Mapping[str, Provider],
        url_for: Callable[[str], str],
        storage: Storage,
        images: ImageFetcher | None = None,
        on_created: Callable[[], None] | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        self._storage = storage
        self._images = images
        self._settings = settings
        self._store = store
        self._registry = registry
        self._providers = providers
        self._url_for = url_for
        self._wire = WireCache(url_for)
        self.on_created = on_created
        #: Why a provider cannot work on this host (its start-up check), said to clients.
        self._unavailable = unavailable or {}

    async def create(self, principal: Principal, req: BaseModel,
                     family: Family = FAMILIES[TEXT2VIDEO], *,
                     front: Mapping[str, Any] | None = None,
                     new_id: Callable[[], str] = new_task_id,
                     callback_url: str | None = None) -> TaskRecord:
        """Validate what only the server can (model, provider, images, callback, quota) and
        queue the task; every refusal is a Kling error naming the field.

        Another front door (the OpenAI API) passes its id shape (`new_id`), what it needs to
        answer in its own shape later (`front`, kept in the stored request under
        `FRONT_KEY`, never sent to a provider) and its webhook URL (`callback_url`)."""
        model = self._registry.resolve(getattr(req, "model_name", None) or family.default_model)
        assert family.normalize is not None
        stored = family.normalize(req, model.name)
        if family.result == ResultKind.VIDEOS and "duration" in stored \
                and int(stored["duration"]) not in model.durations:
            allowed = ", ".join(f'"{d}"' for d in model.durations)
            raise KlingError.invalid("duration", f"{model.name} accepts {allowed}")
        provider = self._providers.get(model.provider)
        if provider is None:
            # The start-up check's reason is for clients too; other causes (an import error, a
            # bad option) stay in the server log.
            reason = self._unavailable.get(model.provider)
            raise KlingError(Code.UNAVAILABLE, f"model {model.name} is unavailable on this server"
                             + (f": {reason}" if reason else ""))
        honoured = provider_families(provider).get(family.path)
        if honoured is None:
            raise self._not_served(family, model.provider)
        ignored = check_honoured(family, req, honoured, who=f"{model.name} on this server",
                                 accept_ignored=self._settings.accept_ignored_fields)
        for name in ignored:
            stored.pop(name, None)
        if ignored:
            stored["ignored_fields"] = ignored
        stored.pop(FRONT_KEY, None)  # a client's field of that name is not a door's note
        if front is not None:
            stored[FRONT_KEY] = dict(front)
        task_id = new_id()
        images = await self._load_images(family, req, principal.account_id)
        stored["inputs"] = {name: {"key": f"inputs/{task_id}/{name}.{image.extension}",
                                   "width": image.width, "height": image.height,
                                   "content_type": image.content_type}
                            for name, image in images.items()}
        if not stored["inputs"]:
            del stored["inputs"]
        stored.pop(INPUT_VIDEOS, None)  # only the lookup below writes it
        if family.video_fields:
            videos = await find_videos(family, req, partial(self._find_video,
                                                            principal.account_id))
            if videos:
                stored[INPUT_VIDEOS] = videos
        # Checked before a provider's work for the create (a download, a probe).
        callback_url = callback_url or getattr(req, "callback_url", None)
        if callback_url:
            try:
                await check_outbound_url(
                    callback_url, allow_private=self._settings.allow_private_callbacks,
                    setting=CALLBACKS_SETTING,
                )
            except OutboundRefused as exc:
                raise KlingError.invalid("callback_url", exc.reason) from None
        if isinstance(provider, ResolvesCreate):
            await provider.resolve_create(family.path, stored,
                                          self._call_context(principal.account_id, task_id))
        # What the provider stored for this create (omni-video's video to edit) goes if the
        # create does not happen, like the images.
        provided = {name: meta for name, meta in (stored.get("inputs") or {}).items()
                    if name not in images}
        try:
            provider.check(spec_from_stored("0", stored, model.options, kind=family.kind))
            external_task_id = getattr(req, "external_task_id", None)
            now = now_ms()
            values: dict[str, Any] = {
                "id": task_id,
                "account_id": principal.account_id,
                "kind": family.kind,
                "external_task_id": external_task_id,
                "model_name": model.name,
                "provider": model.provider,
                "request": stored,
                "callback_url": callback_url,
                "status": TaskStatus.SUBMITTED,
                "status_msg": "",
                "progress": 0,
                "created_at": now,
                "updated_at": now,
                "attempts": 0,
                "max_attempts": self._settings.max_attempts,
                "run_after": now,
                "cancel_requested": False,
            }
            units = task_units(self._settings.unit_prices, family.path, stored)
            kept = await store_images(self._storage, task_id, images) if images else {}
            try:
                task = await self._insert(values, units, new_id)
            except BaseException:
                await forget_images(self._storage, kept)
                raise
        except BaseException:
            await forget_images(self._storage, provided)
            raise
        if self.on_created is not None:
            self.on_created()
        return task

    async def forward(self, principal: Principal, family: Family, action: str,
                      body: dict[str, Any]) -> Any:
        """An immediate call of the family (`Family.actions`), answered by the provider of
        the family's model through its upstream; refused like a create it cannot serve."""
        name = body.get("model_name")
        if name is not None and not isinstance(name, str):
            raise KlingError.invalid("model_name", "must be a string")
        model = self._registry.resolve(name or family.default_model)
        provider = self._providers.get(model.provider)
        if provider is None:
            raise KlingError(Code.UNAVAILABLE, f"model {model.name} is unavailable on this "
                             "server")
        if family.path not in provider_families(provider) or \
                not isinstance(provider, ForwardsCalls):
            raise self._not_served(family, model.provider)
        return await provider.forward(family.path, action, body,
                                      self._call_context(principal.account_id))

    def _call_context(self, account: int, task_id: str | None = None) -> CallContext:
        """What a provider gets for a call of `account` (see `CallContext`)."""

        async def find_video(video_id: str) -> dict[str, Any] | None:
            found = await self._find_video(account, video_id)
            return None if found is None else found[1]

        fetch_url = None
        if self._images is not None:
            images = self._images

            async def fetch_url(field: str, url: str, max_bytes: int) -> bytes:
                return await images.fetch(field, url, account=account, max_bytes=max_bytes,
                                          what="video")

        return CallContext(account_id=account, storage=self._storage, find_video=find_video,
                           fetch_url=fetch_url, task_id=task_id)

    def _not_served(self, family: Family, provider: str) -> KlingError:
        """The family, the provider that was asked and the one that would serve it."""
        others = sorted(name for name, serving in self._providers.items()
                        if name != provider and family.path in provider_families(serving))
        if others:
            would = (f"the provider {others[0]!r} on this server serves it (send a model_name "
                     "routed there)")
        elif provider == RELAY:
            would = "no channel of the relay serves it (the channels' `families`; docs/relay.md)"
        else:
            would = "the relay provider 'kling' serves it (a relay to Kling; see docs/relay.md)"
        return KlingError.invalid(
            family.path, f"not served by the provider {provider!r} of this server; {would}")

    async def _load_images(self, family: Family, req: BaseModel,
                           account: int) -> dict[str, InputImage]:
        if not image_values(family, req):
            return {}
        if self._images is None:
            raise KlingError(Code.UNAVAILABLE, "image inputs are not available on this server")
        return await load_images(family, req, self._images, account=account)

    async def _find_video(self, account: int,
                          video_id: str) -> tuple[str, dict[str, Any]] | None:
        """One of `account`'s own result videos by id (never another account's)."""
        found = await self._store.find_video(account, video_id) if _storable(video_id) else None
        return None if found is None else (found[0].id, found[1])

    async def _insert(self, values: dict[str, Any], units: float,
                      new_id: Callable[[], str]) -> TaskRecord:
        """Insert (Kling errors for the account's limits); on the (very unlikely) clash of two
        processes' ids, again with a new id."""
        try:
            for _ in range(_ID_ATTEMPTS - 1):
                try:
                    return await self._store.insert(
                        values, max_unfinished=self._settings.max_unfinished_tasks, units=units
                    )
                except DuplicateTaskId:
                    values = {**values, "id": new_id()}
            return await self._store.insert(
                values, max_unfinished=self._settings.max_unfinished_tasks, units=units
            )
        except DuplicateExternalId as exc:
            raise KlingError.invalid(
                "external_task_id",
                f"{values['external_task_id']!r} is already used by another task of this "
                "account",
            ) from exc
        except TooManyUnfinished as exc:
            raise KlingError(
                Code.CONCURRENCY_LIMITED,
                f"too many unfinished tasks: this account may have at most {exc.limit}",
            ) from exc
        except QuotaExhausted as exc:
            raise KlingError(Code.QUOTA_EXHAUSTED, str(exc)) from exc

    async def get(self, principal: Principal, key: str, kind: str = TEXT2VIDEO) -> TaskRecord:
        task = (await self._store.get(principal.account_id, key, kind=kind)
                if _storable(key) else None)
        if task is None:
            raise KlingError.not_found()
        return task

    async def get_by_external(self, principal: Principal, external_task_id: str,
                              kind: str = TEXT2VIDEO) -> TaskRecord:
        task = (await self._store.get_by_external(principal.account_id, external_task_id,
                                                  kind=kind)
                if _storable(external_task_id) else None)
        if task is None:
            raise KlingError.not_found()
        return task

    async def list_page(
        self, principal: Principal, page_num: int, page_size: int, kind: str = TEXT2VIDEO
    ) -> list[TaskRecord]:
        return await self._store.list_page(
            principal.account_id, offset=(page_num - 1) * page_size, limit=page_size, kind=kind
        )

    async def get_of(self, principal: Principal, task_id: str,
                     kinds: Collection[str]) -> TaskRecord:
        """A task by id (not external id), of any of `kinds`."""
        for kind in kinds if _storable(task_id) else ():
            task = await self._store.get_by_id(principal.account_id, task_id, kind=kind)
            if task is not None:
                return task
        raise KlingError.not_found()

    async def list_prefixed(self, principal: Principal, *, prefix: str,
                            kinds: Collection[str], after: str | None, limit: int,
                            ascending: bool) -> list[TaskRecord]:
        """A keyset page of the account's tasks whose ids start with `prefix`."""
        if after is not None and not _storable(after):
            return []
        return await self._store.list_prefixed(principal.account_id, prefix=prefix,
                                               kinds=kinds, after=after, limit=limit,
                                               ascending=ascending)

    async def delete_finished(self, principal: Principal, task: TaskRecord,
                              kinds: Collection[str]) -> bool:
        """Remove a finished task's row (its files are the caller's); False if it is gone."""
        return await self._store.delete_finished(principal.account_id, task.id,
                                                 kinds=kinds) is not None

    async def cancel(self, principal: Principal, key: str, kind: str = TEXT2VIDEO) -> (
            TaskRecord):
        task = await self._store.request_cancel(
            principal.account_id, key, now=now_ms(), kind=kind
        ) if _storable(key) else None
        if task is None:
            raise KlingError.not_found()
        return task

    def to_wire(self, task: TaskRecord) -> dict[str, Any]:
        return task_to_wire(task, self._url_for)

    def wire_json(self, task: TaskRecord) -> bytes:
        """`to_wire` as JSON, from the cache while the task is unchanged (the poll path)."""
        return self._wire.json(task)


def _storable(key: str) -> bool:
    """No stored id contains NUL (PostgreSQL cannot even compare one): such keys match nothing."""
    return "\x00" not in key and len(key) <= 128

