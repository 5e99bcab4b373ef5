"""Per-account token buckets shared by every API process: in PostgreSQL or in Redis.

Both answer one question atomically, on the store's own clock (so API hosts need no clock
agreement): "refill this account's bucket, then take up to `want` whole tokens" and return
(tokens granted, tokens left). `api.limits.RateLimiter` takes tokens in small batches, so most
requests never reach the store.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import make_url, text

from openkling.store.database import Database

_NOW_MS = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint"
_REFILLED = ("LEAST(CAST(:burst AS double precision), b.tokens + "
             "GREATEST(0, EXCLUDED.updated_ms - b.updated_ms) * CAST(:rate AS double precision)"
             " / 1000.0)")
# One statement, one round trip: every SET expression sees the row as it was before.
_TAKE_PG = text(f"""
INSERT INTO rate_buckets AS b (account_id, tokens, updated_ms, granted)
SELECT :account, CAST(:burst AS double precision) - LEAST(:want, FLOOR(:burst)), {_NOW_MS},
       LEAST(:want, FLOOR(:burst))
ON CONFLICT (account_id) DO UPDATE SET
    granted = LEAST(:want, FLOOR({_REFILLED})),
    tokens = {_REFILLED} - LEAST(:want, FLOOR({_REFILLED})),
    updated_ms = GREATEST(b.updated_ms, EXCLUDED.updated_ms)
RETURNING granted, tokens
""")

# The same bucket in Redis: a hash {t: tokens, s: stamp ms} per account and deployment,
# expiring once it would be full again.
_TAKE_LUA = """
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local saved = redis.call('HMGET', KEYS[1], 't', 's')
local tokens, stamp = tonumber(saved[1]), tonumber(saved[2])
if tokens == nil or stamp == nil then tokens, stamp = burst, now end
if now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate / 1000)
  stamp = now
end
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(stamp))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, tostring(tokens)}
"""
REDIS_KEY_PREFIX = "openkling:rate:"


class PostgresBuckets:
    """Buckets as rows of `rate_buckets`, updated by one autocommit upsert."""

    def __init__(self, db: Database) -> None:
        if db.is_sqlite:
            raise ValueError("shared rate buckets need PostgreSQL (or Redis)")
        self._engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def take(self, account_id: int, want: int, rate: float,
                   burst: float) -> tuple[int, float]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(_TAKE_PG, {"account": account_id, "want": want,
                                                 "rate": rate, "burst": burst})).one()
        return int(row.granted), float(row.tokens)

    async def close(self) -> None:
        return None  # the engine belongs to the Database


class RedisBuckets:
    """Buckets as Redis hashes, updated by one Lua script (one round trip)."""

    def __init__(self, url: str, namespace: str = "") -> None:
        try:
            from redis.asyncio import Redis
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "OPENKLING_REDIS_URL is set but redis-py is missing: "
                "pip install 'openkling[redis]'"
            ) from exc
        self._redis: Any = Redis.from_url(url)
        self._script = self._redis.register_script(_TAKE_LUA)
        self._prefix = f"{REDIS_KEY_PREFIX}{namespace}:" if namespace else REDIS_KEY_PREFIX

    async def take(self, account_id: int, want: int, rate: float,
                   burst: float) -> tuple[int, float]:
        granted, left = await self._script(keys=[f"{self._prefix}{account_id}"],
                                           args=[repr(rate), repr(burst), want])
        return int(granted), float(left)

    async def close(self) -> None:
        await self._redis.aclose()


def deployment_namespace(database_url: str) -> str:
    """Account ids are per database: deployments sharing one Redis must not share buckets.
    Processes of one deployment use the same database URL (its password is left out)."""
    url = make_url(database_url)
    where = f"{url.drivername}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
    return hashlib.sha256(where.encode()).hexdigest()[:12]


def shared_buckets(db: Database, redis_url: str | None) -> PostgresBuckets | RedisBuckets | None:
    """Redis where configured, else PostgreSQL; None on SQLite (one process is the
    deployment, and its own memory is exact)."""
    if redis_url:
        return RedisBuckets(redis_url, deployment_namespace(db.url))
    if not db.is_sqlite:
        return PostgresBuckets(db)
    return None
