"""The task service: create / get / list / cancel, the only way the API touches tasks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from openkling.config import Settings
from openkling.core.auth import Principal
from openkling.core.callbacks import check_callback_url
from openkling.core.clock import now_ms
from openkling.core.errors import Code, KlingError
from openkling.core.ids import new_task_id
from openkling.core.models import Text2VideoRequest, normalized_request, spec_from_stored
from openkling.core.provider import Provider
from openkling.core.registry import ModelRegistry
from openkling.core.wire import task_to_wire
from openkling.store.records import TaskRecord, TaskStatus
from openkling.store.tasks import (
    DuplicateExternalId,
    DuplicateTaskId,
    TaskStore,
    TooManyUnfinished,
)

_ID_ATTEMPTS = 3


class TaskService:
    def __init__(
        self,
        *,
        settings: Settings,
        store: TaskStore,
        registry: ModelRegistry,
        providers: Mapping[str, Provider],
        url_for: Callable[[str], str],
        on_created: Callable[[], None] | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._registry = registry
        self._providers = providers
        self._url_for = url_for
        self.on_created = on_created
        #: Why a provider cannot work on this host (its start-up check), said to clients.
        self._unavailable = unavailable or {}

    async def create(self, principal: Principal, req: Text2VideoRequest) -> TaskRecord:
        model = self._registry.resolve(req.model_name)
        stored = normalized_request(req, model.name)
        if stored["duration"] not in model.durations:
            allowed = ", ".join(f'"{d}"' for d in model.durations)
            raise KlingError.invalid("duration", f"{model.name} accepts {allowed}")
        provider = self._providers.get(model.provider)
        if provider is None:
            # The start-up check's reason is for clients too; other causes (an import error, a
            # bad option) stay in the server log.
            reason = self._unavailable.get(model.provider)
            raise KlingError(Code.UNAVAILABLE, f"model {model.name} is unavailable on this server"
                             + (f": {reason}" if reason else ""))
        provider.check(spec_from_stored("0", stored, model.options))
        if req.callback_url:
            await check_callback_url(
                req.callback_url, allow_private=self._settings.allow_private_callbacks
            )
        now = now_ms()
        values: dict[str, Any] = {
            "id": new_task_id(),
            "account_id": principal.account_id,
            "kind": "text2video",
            "external_task_id": req.external_task_id,
            "model_name": model.name,
            "provider": model.provider,
            "request": stored,
            "callback_url": req.callback_url,
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
        try:
            task = await self._insert(values)
        except DuplicateExternalId as exc:
            raise KlingError.invalid(
                "external_task_id",
                f"{req.external_task_id!r} is already used by another task of this account",
            ) from exc
        except TooManyUnfinished as exc:
            raise KlingError(
                Code.CONCURRENCY_LIMITED,
                f"too many unfinished tasks: this account may have at most {exc.limit}",
            ) from exc
        if self.on_created is not None:
            self.on_created()
        return task

    async def _insert(self, values: dict[str, Any]) -> TaskRecord:
        """Insert; on the (very unlikely) clash of two processes' ids, again with a new id."""
        for _ in range(_ID_ATTEMPTS - 1):
            try:
                return await self._store.insert(
                    values, max_unfinished=self._settings.max_unfinished_tasks
                )
            except DuplicateTaskId:
                values = {**values, "id": new_task_id()}
        return await self._store.insert(values, max_unfinished=self._settings.max_unfinished_tasks)

    async def get(self, principal: Principal, key: str) -> TaskRecord:
        task = await self._store.get(principal.account_id, key) if _storable(key) else None
        if task is None:
            raise KlingError.not_found()
        return task

    async def get_by_external(self, principal: Principal, external_task_id: str) -> TaskRecord:
        task = (await self._store.get_by_external(principal.account_id, external_task_id)
                if _storable(external_task_id) else None)
        if task is None:
            raise KlingError.not_found()
        return task

    async def list_page(
        self, principal: Principal, page_num: int, page_size: int
    ) -> list[TaskRecord]:
        return await self._store.list_page(
            principal.account_id, offset=(page_num - 1) * page_size, limit=page_size
        )

    async def cancel(self, principal: Principal, key: str) -> TaskRecord:
        task = await self._store.request_cancel(
            principal.account_id, key, now=now_ms()
        ) if _storable(key) else None
        if task is None:
            raise KlingError.not_found()
        return task

    def to_wire(self, task: TaskRecord) -> dict[str, Any]:
        return task_to_wire(task, self._url_for)


def _storable(key: str) -> bool:
    """No stored id contains NUL (PostgreSQL cannot even compare one): such keys match nothing."""
    return "\x00" not in key and len(key) <= 128
