"""Where each process kind is put together from Settings: nothing else constructs these parts.

- every process opens `Resources` (database, stores, storage, master key, model routes);
- the API process adds `ApiParts` (`api_process`, which `api.app.create_app` runs as its
  lifespan), and by default an embedded worker;
- a worker process adds providers and a `Worker` (`worker_process`).
Parts receive their few collaborators explicitly, so each can be built alone in a test. This
module imports no `api` module: the API sits above it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from openkling.clock import now_ms
from openkling.config import Settings
from openkling.core.auth import Authenticator
from openkling.core.backoff import keep_trying
from openkling.core.image_fetch import ImageFetcher
from openkling.core.openai_webhooks import event_id, event_payload, signed_headers
from openkling.core.provider import Provider, ReceivesEvents, RunsLoops, SharesSlots
from openkling.core.registry import ModelRegistry
from openkling.core.secrets import MasterKey
from openkling.core.service import FRONT_KEY, TaskService
from openkling.core.wire import callback_body
from openkling.observability.failures import RepeatingFailure
from openkling.observability.metrics import process_ended, set_provider_state
from openkling.providers.loader import Providers, build_providers
from openkling.storage.base import Storage
from openkling.storage.factory import build_storage
from openkling.store import migrate
from openkling.store.accounts import AccountStore
from openkling.store.channel_slots import ChannelSlots
from openkling.store.database import Database
from openkling.store.deliveries import DeliveryStore
from openkling.store.records import DeliveryRecord, TaskRecord
from openkling.store.relay_events import RelayEventReader
from openkling.store.tasks import TaskStore
from openkling.store.webhooks import WebhookStore
from openkling.worker.deliverer import CallbackDeliverer, OtherSigner, SecretLookup
from openkling.worker.engine import Worker
from openkling.worker.faults import is_database_unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiParts:
    """What the API's routes work with, besides its own rate limiter."""

    auth: Authenticator
    tasks: TaskService
    storage: Storage
    #: For readiness and the relay's upstream callbacks (`openkling.store.relay_events`).
    db: Database
    #: Readiness: the embedded worker (its loops and providers), and the providers that
    #: cannot work, with the reason.
    worker: Worker | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    #: The console's operator routes: accounts and keys, and what this process serves.
    accounts: AccountStore | None = None
    master: MasterKey | None = None
    models: ModelRegistry | None = None
    settings: Settings | None = None
    providers: Mapping[str, Provider] = field(default_factory=dict)


@dataclass
class Resources:
    """What every process kind opens, wired once from Settings."""

    settings: Settings
    db: Database
    master: MasterKey
    storage: Storage
    tasks: TaskStore
    accounts: AccountStore
    deliveries: DeliveryStore
    models: ModelRegistry

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        master = MasterKey.load(settings.secret_key, settings.data_dir)
        storage = build_storage(settings, master.signing_key)

        def payload(task: TaskRecord) -> str | None:
            if FRONT_KEY in task.request:  # created through the OpenAI door: its events
                return event_payload(task, now_ms())
            return callback_body(task, storage.url_for)

        return cls(
            settings=settings,
            db=db,
            master=master,
            storage=storage,
            tasks=TaskStore(db, callback_payload=payload),
            accounts=AccountStore(db),
            deliveries=DeliveryStore(db),
            models=ModelRegistry(settings),
        )

    def build_providers(self) -> Providers:
        return build_providers(self.models.providers, self.settings)

    async def migrate(self) -> None:
        await migrate.upgrade(self.db)

    async def migrate_when_reachable(self) -> None:
        """Migrate, waiting for a database that is down (a process started during an
        outage waits for it, as its loops would, instead of exiting)."""
        await keep_trying(self.migrate, down=is_database_unavailable,
                          failure=RepeatingFailure(log, "reaching the database at start-up"))

    async def close(self) -> None:
        await self.tasks.close()
        await self.storage.close()
        await self.db.dispose()


def check_providers(providers: Providers) -> dict[str, str]:
    """Ask each provider that can whether it can work on this host (installed extra, device,
    weights); one that cannot moves to `unavailable`, with one ERROR naming reason and fix.
    Returns those start-up reasons (they are safe to tell clients)."""
    reasons: dict[str, str] = {}
    for name, provider in list(providers.available.items()):
        check = getattr(provider, "preflight", None)
        problem = check() if callable(check) else None
        if problem:
            log.error("provider %s cannot work on this host; its models answer 503 and its "
                      "tasks wait: %s", name, problem)
            set_provider_state(name, "failed")
            del providers.available[name]
            providers.unavailable[name] = problem
            reasons[name] = problem
    for name in providers.unavailable:
        set_provider_state(name, "failed")
    return reasons


def build_api(resources: Resources, providers: Providers,
              http: httpx.AsyncClient | None = None,
              reasons: dict[str, str] | None = None) -> ApiParts:
    """`http` fetches input image URLs; without it, creates that carry images are refused.
    `reasons` are the start-up check's findings, told to clients of unavailable models."""
    settings = resources.settings
    images = None if http is None else ImageFetcher(
        http, allow_private=settings.allow_private_image_urls,
        time_limit=settings.image_fetch_seconds,
    )
    return ApiParts(
        auth=Authenticator(resources.accounts, resources.master, settings.auth_cache_seconds),
        tasks=TaskService(
            settings=settings,
            store=resources.tasks,
            registry=resources.models,
            providers=providers.available,
            url_for=resources.storage.url_for,
            storage=resources.storage,
            images=images,
            unavailable=reasons,
        ),
        storage=resources.storage,
        db=resources.db,
        unavailable=dict(providers.unavailable),
        accounts=resources.accounts,
        master=resources.master,
        models=resources.models,
        settings=settings,
        providers=dict(providers.available),
    )


def build_worker(resources: Resources, providers: Providers,
                 on_fatal: Callable[[str], None] | None = None) -> Worker:
    settings = resources.settings
    for name, reason in providers.unavailable.items():
        log.error("provider %s unavailable; its tasks wait in the queue: %s", name, reason)
    for provider in providers.available.values():
        if isinstance(provider, ReceivesEvents):
            provider.attach_events(RelayEventReader(resources.db))
        if isinstance(provider, SharesSlots) and not resources.db.is_sqlite:
            provider.attach_slots(ChannelSlots(resources.db))
    deliverer = CallbackDeliverer(
        resources.deliveries,
        secret_for=_secret_lookup(resources),
        timeout=settings.callback_timeout,
        give_up_after=settings.callback_retry_seconds,
        allow_private=settings.allow_private_callbacks,
        other_signer=_openai_signer(resources),
    )
    worker = Worker(
        settings=settings,
        tasks=resources.tasks,
        providers=providers.available,
        models=resources.models,
        storage=resources.storage,
        deliverer=deliverer,
        on_loop_death=_loop_death(on_fatal),
    )
    for provider in providers.available.values():
        if isinstance(provider, RunsLoops):  # its loops live and die like the worker's own
            provider.attach_loops(worker.loops)
    return worker


def _loop_death(on_fatal: Callable[[str], None] | None) -> Callable[[str, str], None]:
    def died(loop: str, why: str) -> None:
        # Readiness already says so (Worker.loops); the process exits non-zero so that a
        # supervisor restarts it rather than leaving it up and idle.
        if on_fatal is not None:
            on_fatal(f"background loop {loop} ended: {why}")

    return died


def _secret_lookup(resources: Resources) -> SecretLookup:
    cache: dict[int, str] = {}

    async def secret_for(account_id: int) -> str:
        """An account's callback signing secret (decrypted once per process)."""
        secret = cache.get(account_id)
        if secret is None:
            account = await resources.accounts.get(account_id)
            if account is None:
                raise LookupError(f"account {account_id} vanished")
            secret = resources.master.decrypt(account.callback_secret_enc)
            cache[account_id] = secret
        return secret

    return secret_for


def _openai_signer(resources: Resources) -> OtherSigner:
    webhooks = WebhookStore(resources.db)

    async def sign(delivery: DeliveryRecord, body: bytes, timestamp: int) -> (
            dict[str, str] | None):
        """An OpenAI video event: signed with the account's `whsec_` secret (Standard
        Webhooks); anything else (or a webhook removed since): Kling's signature."""
        message_id = event_id(body)
        hook = await webhooks.get(delivery.account_id) if message_id is not None else None
        if message_id is None or hook is None:
            return None
        secret = resources.master.decrypt(hook.secret_enc)
        return signed_headers(secret, message_id, timestamp, body)

    return sign


@asynccontextmanager
async def api_process(settings: Settings, *,
                      on_fatal: Callable[[str], None] | None = None) -> AsyncIterator[ApiParts]:
    """The API's parts for the lifetime of the application; with `embedded_worker`, a worker
    too, which a new task wakes at once."""
    resources = Resources.open(settings)
    try:
        await resources.migrate_when_reachable()
        providers = resources.build_providers()
        # Only where the providers run: an API-only host may lack the GPU its workers have.
        reasons = check_providers(providers) if settings.embedded_worker else {}
        async with httpx.AsyncClient(timeout=settings.image_fetch_seconds) as http:
            parts = build_api(resources, providers, http, reasons)
            worker = build_worker(resources, providers, on_fatal) \
                if settings.embedded_worker else None
            if worker is not None:
                parts = dataclasses.replace(parts, worker=worker)
            if worker is not None:
                parts.tasks.on_created = worker.wake
                await worker.start()
            try:
                yield parts
            finally:
                if worker is not None:
                    await worker.stop()
    finally:
        await resources.close()
        process_ended()


@asynccontextmanager
async def worker_process(settings: Settings, *,
                         on_fatal: Callable[[str], None] | None = None) -> AsyncIterator[Worker]:
    """A standalone worker, started; stopped (within the grace period) on exit."""
    resources = Resources.open(settings)
    try:
        await resources.migrate_when_reachable()
        providers = resources.build_providers()
        check_providers(providers)
        worker = build_worker(resources, providers, on_fatal)
        await worker.start()
        try:
            yield worker
        finally:
            await worker.stop()
    finally:
        await resources.close()
        process_ended()
