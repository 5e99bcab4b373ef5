"""Quotas: resource packs of units, and the one charge each metered task holds on a pack.

A create holds the task's units on a pack inside the create's own transaction (so a refused
create holds nothing and two racing creates cannot both take the last units); the task's end
settles the charge in the transaction that finishes it: `spent` on success, `refunded` (units
back on the pack) on failure or cancellation. Settling moves a charge out of `held` with a
conditional update, so a task finished twice is refunded once. An account with no packs is
unmetered: nothing is held and no create is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openkling.errors import OpenKlingError
from openkling.store.database import Database
from openkling.store.tables import accounts, quota_charges, quota_packs


class QuotaExhausted(OpenKlingError):
    """No pack of the account is in effect with enough units left."""


@dataclass(frozen=True, slots=True)
class QuotaPack:
    id: str
    account_id: int
    name: str
    total_units: float
    remaining_units: float
    created_at: int
    effective_at: int
    expires_at: int | None

    @classmethod
    def from_row(cls, row: Any) -> QuotaPack:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__slots__})

    def status(self, now: int) -> str:
        """Kling's pack states: toBeOnline, online, expired, runOut."""
        if now < self.effective_at:
            return "toBeOnline"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        if self.remaining_units <= 0:
            return "runOut"
        return "online"


@dataclass(frozen=True, slots=True)
class Charge:
    task_id: str
    pack_id: str
    units: float
    state: str


class QuotaStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_pack(self, account_id: int, *, name: str, units: float, now: int,
                       effective_at: int | None = None,
                       expires_at: int | None = None) -> QuotaPack:
        async with self.db.write() as conn:
            row = (await conn.execute(
                insert(quota_packs).values(
                    id=uuid.uuid4().hex, account_id=account_id, name=name, total_units=units,
                    remaining_units=units, created_at=now,
                    effective_at=now if effective_at is None else effective_at,
                    expires_at=expires_at,
                ).returning(quota_packs)
            )).one()
            return QuotaPack.from_row(row)

    async def account_id(self, name: str) -> int | None:
        async with self.db.read() as conn:
            found = await conn.scalar(select(accounts.c.id).where(accounts.c.name == name))
            return int(found) if found is not None else None

    async def packs(self, account_id: int) -> list[QuotaPack]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(quota_packs).where(quota_packs.c.account_id == account_id)
                .order_by(quota_packs.c.created_at, quota_packs.c.id)
            )
            return [QuotaPack.from_row(row) for row in rows]

    async def charge(self, task_id: str) -> Charge | None:
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(quota_charges).where(quota_charges.c.task_id == task_id)
            )).first()
            if row is None:
                return None
            m = row._mapping
            return Charge(m["task_id"], m["pack_id"], m["units"], m["state"])

    @staticmethod
    async def hold(conn: AsyncConnection, *, account_id: int, task_id: str, units: float,
                   now: int) -> str | None:
        """Hold `units` for `task_id` on the pack that expires first; returns its id, or None
        when the account is unmetered (or the task costs nothing). Raises QuotaExhausted."""
        if units <= 0:
            return None
        packs = [QuotaPack.from_row(row) for row in await conn.execute(
            select(quota_packs).where(quota_packs.c.account_id == account_id)
        )]
        if not packs:
            return None
        usable = sorted(
            (p for p in packs if p.status(now) == "online" and p.remaining_units >= units),
            key=lambda p: (p.expires_at is None, p.expires_at or 0, p.created_at),
        )
        for pack in usable:
            taken = await conn.execute(
                update(quota_packs)
                .where(quota_packs.c.id == pack.id, quota_packs.c.remaining_units >= units)
                .values(remaining_units=quota_packs.c.remaining_units - units)
            )
            if taken.rowcount:
                await conn.execute(insert(quota_charges).values(
                    task_id=task_id, pack_id=pack.id, units=units, state="held", created_at=now,
                ))
                return pack.id
        left = sum(p.remaining_units for p in packs if p.status(now) == "online")
        raise QuotaExhausted(
            f"resource pack depleted or expired: this task needs {units:g} units and the "
            f"account's packs in effect have {left:g} left"
        )

    @staticmethod
    async def settle(conn: AsyncConnection, *, task_id: str, succeeded: bool, now: int) -> bool:
        """Spend (success) or refund (failure) the task's held units, once; True if it did."""
        row = (await conn.execute(
            select(quota_charges.c.pack_id, quota_charges.c.units)
            .where(quota_charges.c.task_id == task_id, quota_charges.c.state == "held")
        )).first()
        if row is None:
            return False
        moved = await conn.execute(
            update(quota_charges)
            .where(and_(quota_charges.c.task_id == task_id, quota_charges.c.state == "held"))
            .values(state="spent" if succeeded else "refunded", settled_at=now)
        )
        if not moved.rowcount:
            return False
        if not succeeded:
            await conn.execute(
                update(quota_packs).where(quota_packs.c.id == row.pack_id)
                .values(remaining_units=quota_packs.c.remaining_units + row.units)
            )
        return True

    async def hold_now(self, *, account_id: int, task_id: str, units: float,
                       now: int) -> str | None:
        async with self.db.write() as conn:
            return await self.hold(conn, account_id=account_id, task_id=task_id, units=units,
                                   now=now)

    async def settle_now(self, *, task_id: str, succeeded: bool, now: int) -> bool:
        async with self.db.write() as conn:
            return await self.settle(conn, task_id=task_id, succeeded=succeeded, now=now)
