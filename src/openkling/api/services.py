"""What the routes work with: the assembly's parts plus this process's rate limiter (sharing
its buckets with the deployment where the database or Redis allows)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from openkling.api.limits import RateLimiter
from openkling.assembly import ApiParts
from openkling.config import Settings
from openkling.core.auth import Authenticator
from openkling.core.provider import Provider
from openkling.core.registry import ModelRegistry
from openkling.core.secrets import MasterKey
from openkling.core.service import TaskService
from openkling.storage.base import Storage
from openkling.store.accounts import AccountStore
from openkling.store.database import Database
from openkling.store.rate_buckets import shared_buckets
from openkling.worker.engine import Worker


@dataclass(frozen=True)
class ApiServices:
    auth: Authenticator
    limiter: RateLimiter
    tasks: TaskService
    storage: Storage
    db: Database
    worker: Worker | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    accounts: AccountStore | None = None
    master: MasterKey | None = None
    models: ModelRegistry | None = None
    settings: Settings | None = None
    providers: Mapping[str, Provider] = field(default_factory=dict)

    @classmethod
    def from_parts(cls, parts: ApiParts, settings: Settings) -> ApiServices:
        limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        limiter.share(shared_buckets(parts.db, settings.redis_url))
        return cls(
            auth=parts.auth,
            limiter=limiter,
            tasks=parts.tasks,
            storage=parts.storage,
            db=parts.db,
            worker=parts.worker,
            unavailable=parts.unavailable,
            accounts=parts.accounts,
            master=parts.master,
            models=parts.models,
            settings=settings,
            providers=parts.providers,
        )
