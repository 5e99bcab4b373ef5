"""One database job of an operator command (`quota`, `webhooks`): open, migrate, run, close."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import typer
from rich.console import Console

from openkling.config import Settings
from openkling.store import migrate
from openkling.store.database import Database

T = TypeVar("T")
S = TypeVar("S")
console = Console()


class FindsAccounts(Protocol):
    async def account_id(self, name: str) -> int | None: ...


def run_with_store(settings: Settings, make: Callable[[Database], S],
                   job: Callable[[S], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(settings.resolved_database_url)
        try:
            await migrate.upgrade(db)
            return await job(make(db))
        finally:
            await db.dispose()

    return asyncio.run(run())


async def account_or_exit(store: FindsAccounts, name: str) -> int:
    """The account's id, or a message and exit status 1."""
    account_id = await store.account_id(name)
    if account_id is None:
        console.print(f"[red]No account named {name!r} (create it with `openkling keys "
                      "create`).[/red]")
        raise typer.Exit(1)
    return account_id
