"""Queries for operators: the admin routes and the `keys` CLI.

Kept apart from AccountStore, whose queries sit on the authentication path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select, update

from openkling.store.database import Database
from openkling.store.quotas import QuotaPack
from openkling.store.tables import accounts, callback_deliveries, credentials, quota_packs, tasks
from openkling.vocabulary import UNFINISHED, DeliveryState


@dataclass(frozen=True, slots=True)
class AccountSummary:
    id: int
    name: str
    created_at: int
    disabled: bool
    is_admin: bool
    active_keys: int
    unfinished_tasks: int


@dataclass(frozen=True, slots=True)
class KeySummary:
    id: int
    account_id: int
    account: str
    label: str
    api_key_hint: str
    access_key: str
    created_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class AccountQuotas:
    account_id: int
    account: str
    packs: list[QuotaPack]


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """Callback deliveries by state; `failed_since` counts those given up since a moment."""

    pending: int
    delivered: int
    failed: int
    failed_since: int


class AdminStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def is_admin(self, account_id: int) -> bool:
        async with self.db.read() as conn:
            value = await conn.scalar(
                select(accounts.c.is_admin).where(accounts.c.id == account_id)
            )
        return bool(value)

    async def set_admin(self, account_id: int, is_admin: bool) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(is_admin=is_admin)
            )

    async def list_accounts(self) -> list[AccountSummary]:
        active_keys = (
            select(credentials.c.account_id, func.count().label("n"))
            .where(credentials.c.revoked_at.is_(None))
            .group_by(credentials.c.account_id)
            .subquery()
        )
        unfinished = (
            select(tasks.c.account_id, func.count().label("n"))
            .where(tasks.c.status.in_(UNFINISHED))
            .group_by(tasks.c.account_id)
            .subquery()
        )
        query = (
            select(
                accounts.c.id, accounts.c.name, accounts.c.created_at, accounts.c.disabled,
                accounts.c.is_admin,
                func.coalesce(active_keys.c.n, 0), func.coalesce(unfinished.c.n, 0),
            )
            .outerjoin(active_keys, active_keys.c.account_id == accounts.c.id)
            .outerjoin(unfinished, unfinished.c.account_id == accounts.c.id)
            .order_by(accounts.c.id)
        )
        async with self.db.read() as conn:
            return [AccountSummary(*row) for row in await conn.execute(query)]

    async def account_by_id(self, account_id: int) -> AccountSummary | None:
        return next((a for a in await self.list_accounts() if a.id == account_id), None)

    async def set_disabled(self, account_id: int, disabled: bool) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(disabled=disabled)
            )
            return bool(result.rowcount)

    async def list_keys(self) -> list[KeySummary]:
        query = (
            select(
                credentials.c.id, credentials.c.account_id, accounts.c.name, credentials.c.label,
                credentials.c.api_key_hint, credentials.c.access_key, credentials.c.created_at,
                credentials.c.revoked_at,
            )
            .join(accounts, accounts.c.id == credentials.c.account_id)
            .order_by(credentials.c.id)
        )
        async with self.db.read() as conn:
            return [KeySummary(*row) for row in await conn.execute(query)]

    async def revoke_key(self, credential_id: int, *, now: int) -> KeySummary | None:
        """Revoke one credential by id; an already revoked one is returned unchanged."""
        async with self.db.write() as conn:
            await conn.execute(
                update(credentials)
                .where(credentials.c.id == credential_id, credentials.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return next((k for k in await self.list_keys() if k.id == credential_id), None)

    async def unfinished_by_route(self) -> Counter[tuple[str, str | None]]:
        """Unfinished tasks per (provider, relay channel); channel is None until one is chosen."""
        query = select(tasks.c.provider, tasks.c.provider_state).where(
            tasks.c.status.in_(UNFINISHED)
        )
        counts: Counter[tuple[str, str | None]] = Counter()
        async with self.db.read() as conn:
            for provider, state in await conn.execute(query):
                channel = state.get("channel") if isinstance(state, dict) else None
                counts[(provider, str(channel) if channel is not None else None)] += 1
        return counts

    async def quotas(self) -> list[AccountQuotas]:
        """Every account with its resource packs (none: the account is unmetered)."""
        query = (
            select(accounts.c.id.label("owner_id"), accounts.c.name.label("owner"), quota_packs)
            .outerjoin(quota_packs, quota_packs.c.account_id == accounts.c.id)
            .order_by(accounts.c.id, quota_packs.c.created_at, quota_packs.c.id)
        )
        by_account: dict[int, AccountQuotas] = {}
        async with self.db.read() as conn:
            for row in await conn.execute(query):
                entry = by_account.setdefault(
                    row.owner_id, AccountQuotas(row.owner_id, row.owner, [])
                )
                if row.id is not None:
                    entry.packs.append(QuotaPack.from_row(row))
        return list(by_account.values())

    async def created_since(self, moments: Sequence[int]) -> list[int]:
        """Tasks created at or after each moment (ms), all accounts, in one pass."""
        query = select(*(
            func.coalesce(func.sum(case((tasks.c.created_at >= moment, 1), else_=0)), 0)
            for moment in moments
        ))
        async with self.db.read() as conn:
            row = (await conn.execute(query)).one()
        return [int(n) for n in row]

    async def delivery_counts(self, *, failed_since: int) -> DeliveryCounts:
        d = callback_deliveries.c
        query = select(
            func.coalesce(func.sum(case((d.state == DeliveryState.PENDING, 1), else_=0)), 0),
            func.coalesce(func.sum(case((d.state == DeliveryState.DELIVERED, 1), else_=0)), 0),
            func.coalesce(func.sum(case((d.state == DeliveryState.FAILED, 1), else_=0)), 0),
            func.coalesce(func.sum(case(
                ((d.state == DeliveryState.FAILED) & (d.finished_at >= failed_since), 1),
                else_=0)), 0),
        )
        async with self.db.read() as conn:
            pending, delivered, failed, recent = (await conn.execute(query)).one()
        return DeliveryCounts(int(pending), int(delivered), int(failed), int(recent))
