"""Accounts (tenants) and their credentials. Secrets arrive here already hashed or encrypted."""

from __future__ import annotations

from sqlalchemy import insert, or_, select, update

from openkling.store.database import Database
from openkling.store.records import AccountRecord, CredentialRecord
from openkling.store.tables import accounts, credentials


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_or_create(
        self, name: str, *, now: int, callback_secret_enc: bytes
    ) -> tuple[AccountRecord, bool]:
        async with self.db.write() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.name == name))).first()
            if row is not None:
                return _account(row), False
            row = (
                await conn.execute(
                    insert(accounts)
                    .values(name=name, created_at=now, disabled=False,
                            callback_secret_enc=callback_secret_enc)
                    .returning(accounts)
                )
            ).one()
            return _account(row), True

    async def get(self, account_id: int) -> AccountRecord | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
            return _account(row) if row is not None else None

    async def set_disabled(self, name: str, disabled: bool) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                update(accounts).where(accounts.c.name == name).values(disabled=disabled)
            )
            return bool(result.rowcount)

    async def add_credential(
        self,
        account_id: int,
        *,
        label: str,
        api_key_hash: str,
        api_key_hint: str,
        access_key: str,
        secret_key_enc: bytes,
        now: int,
    ) -> CredentialRecord:
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    insert(credentials)
                    .values(
                        account_id=account_id,
                        label=label,
                        api_key_hash=api_key_hash,
                        api_key_hint=api_key_hint,
                        access_key=access_key,
                        secret_key_enc=secret_key_enc,
                        created_at=now,
                    )
                    .returning(credentials)
                )
            ).one()
            return _credential(row)

    async def find_by_api_key_hash(
        self, api_key_hash: str
    ) -> tuple[CredentialRecord, AccountRecord] | None:
        return await self._find(credentials.c.api_key_hash == api_key_hash)

    async def find_by_access_key(
        self, access_key: str
    ) -> tuple[CredentialRecord, AccountRecord] | None:
        return await self._find(credentials.c.access_key == access_key)

    async def list_credentials(self) -> list[tuple[CredentialRecord, AccountRecord]]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(credentials, accounts)
                .join(accounts, accounts.c.id == credentials.c.account_id)
                .order_by(credentials.c.id)
            )
            return [_pair(r) for r in rows]

    async def revoke(self, key: str, *, now: int) -> int:
        """Revoke by access key, API key hint, or credential id; returns how many."""
        conditions = [credentials.c.access_key == key, credentials.c.api_key_hint == key]
        if key.isdigit():
            conditions.append(credentials.c.id == int(key))
        async with self.db.write() as conn:
            result = await conn.execute(
                update(credentials)
                .where(or_(*conditions), credentials.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return result.rowcount or 0

    async def _find(self, condition: object) -> tuple[CredentialRecord, AccountRecord] | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(credentials, accounts)
                    .join(accounts, accounts.c.id == credentials.c.account_id)
                    .where(condition)  # type: ignore[arg-type]
                )
            ).first()
            return _pair(row) if row is not None else None


def _account(row: object) -> AccountRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return AccountRecord(**{name: m[name] for name in AccountRecord.__slots__})


def _credential(row: object) -> CredentialRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return CredentialRecord(**{name: m[name] for name in CredentialRecord.__slots__})


def _pair(row: object) -> tuple[CredentialRecord, AccountRecord]:
    m = row._mapping  # type: ignore[attr-defined]
    cred = CredentialRecord(
        **{name: m[credentials.c[name]] for name in CredentialRecord.__slots__}
    )
    acct = AccountRecord(**{name: m[accounts.c[name]] for name in AccountRecord.__slots__})
    return cred, acct
