"""Delivers the callback outbox: signed POSTs of the bare task object, retried with backoff.

Deliveries are rows (written with the status change), so they survive restarts; a claim
pushes a row's next attempt past a lease so that several workers never send it twice at once.

Fair between accounts: each delivery runs as its own job (a slow receiver holds its own slot,
not a whole batch), at most PARALLEL at once per process and at most PER_ACCOUNT of them for
one account; the claim takes accounts in turn and only as many of an account's rows as it has
room for. So an account whose receiver never answers ties up PER_ACCOUNT slots for a
`callback_timeout` each, and other accounts' callbacks go out meanwhile.
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
from openkling.observability.failures import RepeatingFailure
from openkling.observability.metrics import CALLBACK_DELIVERIES
from openkling.store.deliveries import DeliveryStore
from openkling.store.records import DeliveryRecord
from openkling.vocabulary import DeliveryState

log = logging.getLogger(__name__)

PARALLEL = 32
#: Deliveries of one account in flight at once in one process.
PER_ACCOUNT = 4
IDLE_SECONDS = 1.0
#: Backoff between attempts of one callback (the task retry's twins are settings:
#: `retry_base_seconds`, `retry_max_seconds`); `callback_retry_seconds` bounds the total.
CALLBACK_RETRY_BASE_SECONDS = 1.0
CALLBACK_RETRY_CAP_SECONDS = 300.0
#: A claimed delivery is held this much longer than the request may take.
CLAIM_MARGIN_SECONDS = 30.0


#: An account's callback signing secret, by account id.
SecretLookup = Callable[[int], Awaitable[str]]
#: The headers of a delivery signed another way (another front door's webhooks, see
#: core/openai_webhooks.py): (delivery, body, unix timestamp) -> headers, or None for Kling's.
OtherSigner = Callable[[DeliveryRecord, bytes, int], Awaitable[dict[str, str] | None]]


class CallbackDeliverer:
    def __init__(
        self,
        deliveries: DeliveryStore,
        *,
        secret_for: SecretLookup,
        timeout: float,
        give_up_after: float,
        allow_private: bool,
        other_signer: OtherSigner | None = None,
    ) -> None:
        self._other_signer = other_signer
        self.deliveries = deliveries
        self._secret = secret_for
        self.timeout = timeout
        self.give_up_after = give_up_after
        self.allow_private = allow_private
        self.wake_event = asyncio.Event()
        self._stopping = False
        self._client: httpx.AsyncClient | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._in_flight: dict[int, int] = {}  # account id -> deliveries being sent
        self._failures = RepeatingFailure(log, "delivering callbacks")  # e.g. database down

    def wake(self) -> None:
        self.wake_event.set()

    def stop(self) -> None:
        self._stopping = True
        self.wake_event.set()

    async def open(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                         limits=httpx.Limits(max_connections=PARALLEL))

    async def close(self) -> None:
        """Cancel what is in flight (each row is sent again once its claim lapses)."""
        for job in list(self._jobs):
            job.cancel()
        if self._jobs:
            await asyncio.wait(self._jobs)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def turn(self) -> float:
        """One pass (a loop turn, see worker/loops.py): start what is due and fits; again at
        once when it started something, else after IDLE_SECONDS or a wake-up (a finished
        delivery wakes it, as its slot is free)."""
        if self._stopping or self._client is None:
            return IDLE_SECONDS
        started = await self.start_due(self._client)
        return 0.0 if started else IDLE_SECONDS

    @property
    def in_flight(self) -> dict[int, int]:
        """Deliveries being sent now, by account id."""
        return dict(self._in_flight)

    async def start_due(self, client: httpx.AsyncClient) -> int:
        """Claim the due deliveries that fit in the free slots and start each as a job."""
        free = PARALLEL - len(self._jobs)
        if free <= 0:
            return 0
        lease_ms = int((self.timeout + CLAIM_MARGIN_SECONDS) * 1000)
        room = {account: PER_ACCOUNT - busy for account, busy in self._in_flight.items()}
        due = await self.deliveries.claim_due(now=now_ms(), limit=free, lease_ms=lease_ms,
                                              per_account=PER_ACCOUNT, room=room)
        for delivery in due:
            self._in_flight[delivery.account_id] = self._in_flight.get(delivery.account_id,
                                                                       0) + 1
            job = asyncio.create_task(self._run(client, delivery),
                                      name=f"openkling-callback-{delivery.id}")
            self._jobs.add(job)
        return len(due)

    async def _run(self, client: httpx.AsyncClient, delivery: DeliveryRecord) -> None:
        try:
            await self._deliver(client, delivery)
        except Exception as exc:  # the row stays pending: sent again once its claim lapses
            self._failures.failed(exc)
        else:
            self._failures.succeeded()
        finally:
            left = self._in_flight.get(delivery.account_id, 1) - 1
            if left > 0:
                self._in_flight[delivery.account_id] = left
            else:
                self._in_flight.pop(delivery.account_id, None)
            task = asyncio.current_task()
            if task is not None:
                self._jobs.discard(task)
            self.wake_event.set()

    async def _deliver(self, client: httpx.AsyncClient, delivery: DeliveryRecord) -> None:
        deliveries = self.deliveries
        try:
            address = await check_outbound_url(delivery.url, allow_private=self.allow_private,
                                               setting=CALLBACKS_SETTING)
        except OutboundRefused as exc:
            refusal = f"callback_url: {exc.reason}"
            await deliveries.give_up(delivery.id, now=now_ms(), error=refusal)
            CALLBACK_DELIVERIES.labels(DeliveryState.FAILED).inc()
            log.warning("callback for task %s refused: %s", delivery.task_id, refusal)
            return
        body = delivery.payload.encode()
        timestamp = int(time.time())
        other = (await self._other_signer(delivery, body, timestamp)
                 if self._other_signer is not None else None)
        secret = await self._secret(delivery.account_id) if other is None else ""
        headers = other or {
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
            CALLBACK_DELIVERIES.labels(DeliveryState.DELIVERED).inc()
            return
        age_s = (now_ms() - delivery.created_at) / 1000
        if age_s >= self.give_up_after:
            await deliveries.give_up(delivery.id, now=now_ms(), error=error)
            CALLBACK_DELIVERIES.labels(DeliveryState.FAILED).inc()
            log.warning("callback for task %s abandoned after %d attempts: %s",
                        delivery.task_id, delivery.attempts, error)
            return
        delay = backoff_seconds(delivery.attempts, base=CALLBACK_RETRY_BASE_SECONDS,
                                cap=CALLBACK_RETRY_CAP_SECONDS)
        await deliveries.retry_at(delivery.id, when=now_ms() + int(delay * 1000), error=error)
        CALLBACK_DELIVERIES.labels("retry").inc()
