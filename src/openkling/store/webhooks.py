"""Per-account OpenAI webhooks: the URL events go to and the encrypted signing secret."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from openkling.store.database import Database
from openkling.store.tables import accounts, openai_webhooks


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    account_id: int
    url: str
    secret_enc: bytes
    created_at: int


class WebhookStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def account_id(self, name: str) -> int | None:
        async with self.db.read() as conn:
            found = await conn.scalar(select(accounts.c.id).where(accounts.c.name == name))
            return int(found) if found is not None else None

    async def get(self, account_id: int) -> WebhookRecord | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(openai_webhooks).where(
                openai_webhooks.c.account_id == account_id))).first()
        if row is None:
            return None
        return WebhookRecord(row.account_id, row.url, bytes(row.secret_enc), row.created_at)

    async def set(self, account_id: int, *, url: str, secret_enc: bytes | None,
                  now: int) -> None:
        """Set the URL; a new secret too when `secret_enc` is given (required the first
        time)."""
        async with self.db.write() as conn:
            exists = await conn.scalar(select(openai_webhooks.c.account_id).where(
                openai_webhooks.c.account_id == account_id))
            if exists is None:
                assert secret_enc is not None, "a new webhook needs a secret"
                await conn.execute(insert(openai_webhooks).values(
                    account_id=account_id, url=url, secret_enc=secret_enc, created_at=now))
                return
            values: dict[str, object] = {"url": url}
            if secret_enc is not None:
                values["secret_enc"] = secret_enc
            await conn.execute(update(openai_webhooks)
                               .where(openai_webhooks.c.account_id == account_id)
                               .values(**values))

    async def remove(self, account_id: int) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(delete(openai_webhooks).where(
                openai_webhooks.c.account_id == account_id))
            return bool(result.rowcount)
