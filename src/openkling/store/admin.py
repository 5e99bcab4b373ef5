"""Queries for operators: the admin routes and the `keys` CLI.

Kept apart from AccountStore, whose queries sit on the authentication path.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select, update

from openkling.store.database import Database
from openkling.store.tables import accounts, credentials, tasks

UNFINISHED = ("submitted", "processing")


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
