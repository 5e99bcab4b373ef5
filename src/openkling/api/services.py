"""What the routes work with: the assembly's parts plus this process's rate limiter (sharing
its buckets with the deployment where the database or Redis allows)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from openkling.api.limits import RateLimiter
from openkling.assembly import ApiParts
from openkling.config import Settings
from openkling.store.rate_buckets import shared_buckets


@dataclass(frozen=True, kw_only=True)
class ApiServices(ApiParts):
    limiter: RateLimiter

    @classmethod
    def from_parts(cls, parts: ApiParts, settings: Settings) -> ApiServices:
        limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        limiter.share(shared_buckets(parts.db, settings.redis_url))
        own = {f.name: getattr(parts, f.name) for f in fields(ApiParts)}
        return cls(**{**own, "settings": settings}, limiter=limiter)

    @property
    def worker_stale_ms(self) -> int:
        """A worker silent longer than this is dead (readiness, /metrics)."""
        settings = self.settings or Settings.model_construct()
        return int(settings.worker_stale_limit * 1000)
