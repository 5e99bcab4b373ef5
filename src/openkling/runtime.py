"""Everything a process needs, wired once from Settings: database, stores, storage, providers.

The API and the worker each build one Runtime; nothing else constructs these parts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from openkling.config import Settings
from openkling.core.auth import Authenticator
from openkling.core.registry import ModelRegistry
from openkling.core.secrets import MasterKey
from openkling.core.service import TaskService
from openkling.providers.base import Provider
from openkling.providers.registry import build_providers
from openkling.storage.base import Storage
from openkling.storage.factory import build_storage
from openkling.store import migrate
from openkling.store.accounts import AccountStore
from openkling.store.database import Database
from openkling.store.deliveries import DeliveryStore
from openkling.store.tasks import TaskStore

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    master: MasterKey
    storage: Storage
    tasks: TaskStore
    accounts: AccountStore
    deliveries: DeliveryStore
    registry: ModelRegistry
    providers: dict[str, Provider | Exception] = field(default_factory=dict)
    service: TaskService = field(init=False)
    auth: Authenticator = field(init=False)

    def __post_init__(self) -> None:
        self.auth = Authenticator(self.accounts, self.master, self.settings.auth_cache_seconds)
        self.service = TaskService(
            settings=self.settings,
            store=self.tasks,
            registry=self.registry,
            providers=self.providers,
            url_for=self.storage.url_for,
        )

    @classmethod
    def build(cls, settings: Settings, *, with_providers: bool = True) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        master = MasterKey.load(settings.secret_key, settings.data_dir)
        registry = ModelRegistry(settings)
        providers = build_providers(registry.providers, settings) if with_providers else {}
        return cls(
            settings=settings,
            db=db,
            master=master,
            storage=build_storage(settings, master.signing_key),
            tasks=TaskStore(db),
            accounts=AccountStore(db),
            deliveries=DeliveryStore(db),
            registry=registry,
            providers=providers,
        )

    async def migrate(self) -> None:
        await migrate.upgrade(self.db)

    async def close(self) -> None:
        self.tasks.close()
        await self.storage.close()
        await self.db.dispose()
