"""`openkling quota add|list`: resource packs of units per account (see docs/api.md, quotas)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from openkling.cli.server_options import DatabaseUrl, DataDir, settings_from
from openkling.cli.store_jobs import account_or_exit, run_with_store
from openkling.clock import now_ms
from openkling.core.costs import pack_to_wire
from openkling.store.quotas import QuotaStore

app = typer.Typer(help="Manage account quotas (resource packs of units).", no_args_is_help=True)
console = Console()


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="quota")


def _parse_time(value: str, hint: str) -> int:
    """An ISO date or date-time (UTC unless it says otherwise) -> Unix milliseconds."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected a date such as 2027-01-31 or 2027-01-31T12:00",
                                 param_hint=hint) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@app.command()
def add(
    account: Annotated[str, typer.Argument(help="Account name.")],
    units: Annotated[float, typer.Option("--units", min=0.001, help="Units in the pack.")],
    expires: Annotated[str | None, typer.Option(help="Expiry, e.g. 2027-01-31 (UTC).")] = None,
    days: Annotated[int | None, typer.Option(min=1, help="Or: valid for this many days.")] = None,
    starts: Annotated[str | None, typer.Option(help="In effect from (default now).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Pack name shown to the "
                                             "account.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Give an account a resource pack. Once an account has packs, its creates draw units
    from them and fail with 429 / 1102 when none in effect has enough left."""
    if expires is not None and days is not None:
        raise typer.BadParameter("give --expires or --days, not both", param_hint="--days")
    now = now_ms()
    effective = _parse_time(starts, "--starts") if starts else now
    expires_at = _parse_time(expires, "--expires") if expires else None
    if days is not None:
        expires_at = effective + int(timedelta(days=days).total_seconds() * 1000)
    if expires_at is not None and expires_at <= effective:
        raise typer.BadParameter("must be after the start", param_hint="--expires")
    settings = settings_from(data_dir=data_dir, database_url=database_url)

    async def job(quotas: QuotaStore) -> dict[str, object]:
        account_id = await account_or_exit(quotas, account)
        pack = await quotas.add_pack(account_id, name=name or f"{units:g} units", units=units,
                                     now=now, effective_at=effective, expires_at=expires_at)
        return pack_to_wire(pack, now)

    info = run_with_store(settings, QuotaStore, job)
    if as_json:
        typer.echo(json.dumps(info))
        return
    console.print(f"Added pack {info['resource_pack_id']} ({units:g} units) to {account!r}.")


@app.command("list")
def list_packs(
    account: Annotated[str, typer.Argument(help="Account name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """An account's packs, as `GET /account/costs` shows them."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    now = now_ms()

    async def job(quotas: QuotaStore) -> list[dict[str, object]]:
        account_id = await account_or_exit(quotas, account)
        return [pack_to_wire(p, now) for p in await quotas.packs(account_id)]

    rows = run_with_store(settings, QuotaStore, job)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "name", "total", "remaining", "effective", "expires", "status")
    for row in rows:
        table.add_row(str(row["resource_pack_id"]), str(row["resource_pack_name"]),
                      f"{row['total_quantity']:g}", f"{row['remaining_quantity']:g}",
                      _iso(row["effective_time"]), _iso(row["invalid_time"]), str(row["status"]))
    console.print(table)


def _iso(ms: object) -> str:
    if not isinstance(ms, int):
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
