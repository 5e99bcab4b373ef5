"""Delivers the callback outbox: signed POSTs of the bare task object, retried with backoff.

Deliveries are rows (written with the status change), so they survive restarts; a claim
pushes a row's next attempt past a lease so that several workers never send it twice at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import httpx

from openkling.clock import now_ms
from openkling.core.backoff import backoff_seconds
from openkling.core.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from openkling.core.outbound import (
    CALLBACKS_SETTING,
    OutboundRefused,
    check_outbound_url,
    pinned_request,
)
from openkling.observability.metrics import CALLBACK_DELIVERIES
from openkling.store.deliveries import DeliveryStore
from openkling.store.records import DeliveryRecord

log = logging.getLogger(__name__)

BATCH = 50
PARALLEL = 16
IDLE_SECONDS = 1.0
#: Backoff between attempts of one callback (the task retry's twins are settings:
#: `retry_base_seconds`, `retry_max_seconds`); `callback_retry_seconds` bounds the total.
CALLBACK_RETRY_BASE_SECONDS = 1.0
CALLBACK_RETRY_CAP_SECONDS = 300.0
#: A claimed delivery is held this much longer than the request may take.
CLAIM_MARGIN_SECONDS = 30.0


#: An account's callback signing secret, by account id.
SecretLookup = Callable[[int], Awaitable[str]]


class CallbackDeliverer:
    def __init__(
        self,
        deliveries: DeliveryStore,
        *,
        secret_for: SecretLookup,
        timeout: float,
        give_up_after: float,
        allow_private: bool,
    ) -> None:
        self.deliveries = deliveries
        self._secret = secret_for
        self.timeout = timeout
        self.give_up_after = give_up_after
        self.allow_private = allow_private
        self.wake_event = asyncio.Event()
        self._stopping = False
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        self.wake_event.set()

    def stop(self) -> None:
        self._stopping = True
        self.wake_event.set()

    async def open(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                         limits=httpx.Limits(max_connections=PARALLEL))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def turn(self) -> float:
        """One delivery pass (a loop turn, see worker/loops.py): again at once when it sent
        something, else after IDLE_SECONDS or a wake-up."""
        if self._stopping or self._client is None:
            return IDLE_SECONDS
        sent = await self.deliver_due(self._client)
        return 0.0 if sent else IDLE_SECONDS

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        lease_ms = int((self.timeout + CLAIM_MARGIN_SECONDS) * 1000)
        due = await self.deliveries.claim_due(now=now_ms(), limit=BATCH, lease_ms=lease_ms)
        if not due:
            return 0
        gate = asyncio.Semaphore(PARALLEL)

        async def one(delivery: DeliveryRecord) -> None:
            async with gate:
                await self._deliver(client, delivery)

        await asyncio.gather(*(one(d) for d in due))
        return len(due)

    async def _deliver(self, client: httpx.AsyncClient, delivery: DeliveryRecord) -> None:
        deliveries = self.deliveries
        try:
            address = await check_outbound_url(delivery.url, allow_private=self.allow_private,
                                               setting=CALLBACKS_SETTING)
        except OutboundRefused as exc:
            refusal = f"callback_url: {exc.reason}"
            await deliveries.give_up(delivery.id, now=now_ms(), error=refusal)
            CALLBACK_DELIVERIES.labels("failed").inc()
            log.warning("callback for task %s refused: %s", delivery.task_id, refusal)
            return
        body = delivery.payload.encode()
        timestamp = int(time.time())
        secret = await self._secret(delivery.account_id)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "openkling-callbacks",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        url, pin_headers, extensions = pinned_request(delivery.url, address)
        try:
            response = await client.post(url, content=body, headers={**headers, **pin_headers},
                                         extensions=extensions)
            error = None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        if error is None:
            await deliveries.delivered(delivery.id, now=now_ms())
            CALLBACK_DELIVERIES.labels("delivered").inc()
            return
        age_s = (now_ms() - delivery.created_at) / 1000
        if age_s >= self.give_up_after:
            await deliveries.give_up(delivery.id, now=now_ms(), error=error)
            CALLBACK_DELIVERIES.labels("failed").inc()
            log.warning("callback for task %s abandoned after %d attempts: %s",
                        delivery.task_id, delivery.attempts, error)
            return
        delay = backoff_seconds(delivery.attempts, base=CALLBACK_RETRY_BASE_SECONDS,
                                cap=CALLBACK_RETRY_CAP_SECONDS)
        await deliveries.retry_at(delivery.id, when=now_ms() + int(delay * 1000), error=error)
        CALLBACK_DELIVERIES.labels("retry").inc()
