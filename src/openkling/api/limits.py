"""Per-account request rate limit for the whole deployment.

One API process (SQLite): a token bucket per account in memory, exact. Several processes
(PostgreSQL, or Redis where configured): the bucket lives in the shared store, and each
process takes tokens from it in small batches ("leases", about `LEASE_SECONDS` of the rate)
that it then spends locally, so a request costs a store round trip only once per batch.
Tokens are taken before they are spent, so the deployment never admits more than the rate
plus the burst; a lease left unspent expires after `LEASE_TTL_SECONDS`, which at worst
refuses a little early. A lease still in use past half its life is renewed behind the request
that notices (its tokens added, at most two leases kept), so under steady traffic no request
waits on the store: each expiry used to queue every request in flight behind one round trip.
One round trip per account is under way at a time; the requests that need its answer wait on
it together and all resume in the same pass of the event loop (queued on a lock, they resumed
one per pass: 64 waiters took 0.4 s to drain on a busy server). When the store fails, each
process falls back on its own bucket (the old per-process limit) and says so once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from openkling.core.errors import Code, KlingError
from openkling.core.ratelimit import TokenBucket

log = logging.getLogger(__name__)

_MAX_BUCKETS = 100_000
#: A lease is this many seconds' worth of the account's rate (at most a quarter of the burst).
LEASE_SECONDS = 0.1
#: Leased tokens not spent by then are dropped, so a process cannot hoard a burst.
LEASE_TTL_SECONDS = 1.0
#: A lease this old that still has tokens is renewed in the background.
RENEW_AFTER_SECONDS = LEASE_TTL_SECONDS / 2
#: After the shared store failed, use local buckets this long before asking it again.
FALLBACK_SECONDS = 5.0


class SharedBuckets(Protocol):
    """A token bucket per account held outside the process (see `store.rate_buckets`)."""

    async def take(self, account_id: int, want: int, rate: float,
                   burst: float) -> tuple[int, float]:
        """Refill, take up to `want` whole tokens; return (granted, tokens left)."""
        ...

    async def close(self) -> None: ...


class _Lease:
    __slots__ = ("empty_until", "expires", "fetch", "renew_at", "tokens")

    def __init__(self) -> None:
        self.tokens = 0
        self.expires = 0.0
        self.renew_at = 0.0
        #: The store said "empty" until then: refuse locally, don't ask again.
        self.empty_until = 0.0
        #: The store round trip under way for this account, if any (one at a time).
        self.fetch: asyncio.Task[None] | None = None


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_second
        self._clock = clock
        self.burst = float(burst)
        self.lease_size = max(1, min(burst // 4, math.ceil(rate_per_second * LEASE_SECONDS)))
        self._buckets: dict[int, TokenBucket] = {}
        self._leases: dict[int, _Lease] = {}
        self._shared: SharedBuckets | None = None
        self._local_until = 0.0
        self._fetches: set[asyncio.Task[None]] = set()

    def share(self, shared: SharedBuckets | None) -> None:
        """Enforce the limit across processes through `shared` (None: this process only)."""
        self._shared = shared

    async def close(self) -> None:
        for fetch in list(self._fetches):
            fetch.cancel()
        await asyncio.gather(*self._fetches, return_exceptions=True)
        if self._shared is not None:
            await self._shared.close()
            self._shared = None

    async def hit(self, account_id: int) -> None:
        """Count one request; raise 429/1302 with Retry-After when over the limit."""
        now = self._clock()
        if self._shared is None or now < self._local_until:
            return self._hit_local(account_id, now)
        lease = self._leases.get(account_id)
        if lease is None:
            if len(self._leases) >= _MAX_BUCKETS:
                self._leases.clear()
            lease = self._leases[account_id] = _Lease()
        if lease.tokens >= 1 and now < lease.expires:
            lease.tokens -= 1
            if now >= lease.renew_at and lease.tokens >= 1:
                lease.renew_at = lease.expires  # one renewal at a time
                if lease.fetch is None:
                    self._start_fetch(account_id, lease)
            return None
        while True:  # ends: each pass waits for a store answer, which grants or refuses
            if now < lease.empty_until:
                raise self._limited(lease.empty_until - now)
            fetch = lease.fetch or self._start_fetch(account_id, lease)
            await asyncio.shield(fetch)  # a cancelled request leaves the round trip to others
            now = self._clock()
            if now < self._local_until:  # the store failed
                return self._hit_local(account_id, now)
            if lease.tokens >= 1 and now < lease.expires:
                lease.tokens -= 1
                return None

    def _start_fetch(self, account_id: int, lease: _Lease) -> asyncio.Task[None]:
        """Start the store round trip that refills `lease`; every request short of tokens
        awaits this one task instead of queueing for a turn to ask."""
        fetch = lease.fetch = asyncio.create_task(self._fetch(account_id, lease))
        self._fetches.add(fetch)
        fetch.add_done_callback(self._fetches.discard)
        return fetch

    async def _fetch(self, account_id: int, lease: _Lease) -> None:
        assert self._shared is not None
        try:
            granted, left = await self._shared.take(account_id, self.lease_size, self.rate,
                                                    self.burst)
        except Exception as exc:
            self._store_failed(exc, self._clock())
            return
        finally:
            lease.fetch = None
        now = self._clock()
        if granted < 1:
            lease.empty_until = now + (1.0 - left) / self.rate
            return
        if now >= lease.expires:
            lease.tokens = 0  # an expired lease's tokens are not spent
        lease.tokens = min(lease.tokens + granted, 2 * self.lease_size)
        lease.expires, lease.renew_at = now + LEASE_TTL_SECONDS, now + RENEW_AFTER_SECONDS

    def _store_failed(self, exc: Exception, now: float) -> None:
        if now >= self._local_until:
            log.warning("shared rate limit unavailable, limiting per process for "
                        "%.0f s: %s", FALLBACK_SECONDS, exc)
        self._local_until = now + FALLBACK_SECONDS

    def _hit_local(self, account_id: int, now: float) -> None:
        bucket = self._buckets.get(account_id)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._buckets.clear()
            bucket = self._buckets[account_id] = TokenBucket(self.rate, self.burst, now=now)
        wait = bucket.take(now=now)
        if wait > 0:
            raise self._limited(wait)

    def _limited(self, wait: float) -> KlingError:
        return KlingError(
            Code.RATE_LIMITED,
            f"too many requests: at most {self.rate:g} per second for this account",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
