"""`openkling keys create|list|revoke`: account credentials. Secrets are printed once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from openkling.assembly import Resources
from openkling.cli.server_options import DatabaseUrl, DataDir, settings_from
from openkling.clock import now_ms
from openkling.config import Settings
from openkling.core.secrets import (
    api_key_hint,
    generate_callback_secret,
    generate_credential,
    hash_api_key,
)
from openkling.store.admin import AdminStore
from openkling.store.records import AccountRecord, CredentialRecord

app = typer.Typer(help="Manage account credentials.", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _with_runtime(settings: Settings, job: Callable[[Resources], Awaitable[T]]) -> T:
    async def run() -> T:
        runtime = Resources.open(settings)
        try:
            await runtime.migrate()
            return await job(runtime)
        finally:
            await runtime.close()

    return asyncio.run(run())


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="Account name (created if new).")],
    label: Annotated[str | None, typer.Option(help="A note for this credential.")] = None,
    admin: Annotated[bool, typer.Option(
        "--admin", help="Make the account an operator: admin routes and console pages.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a credential (and the account, if new). The secrets are shown only now."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    if not name.strip() or len(name) > 128:
        raise typer.BadParameter("must be 1..128 characters", param_hint="--name")

    async def job(runtime: Resources) -> dict[str, object]:
        now = now_ms()
        callback_secret = generate_callback_secret()
        account, created = await runtime.accounts.get_or_create(
            name, now=now, callback_secret_enc=runtime.master.encrypt(callback_secret)
        )
        cred = generate_credential()
        record = await runtime.accounts.add_credential(
            account.id,
            label=label or name,
            api_key_hash=hash_api_key(cred.api_key),
            api_key_hint=api_key_hint(cred.api_key),
            access_key=cred.access_key,
            secret_key_enc=runtime.master.encrypt(cred.secret_key),
            now=now,
        )
        if admin:
            await AdminStore(runtime.db).set_admin(account.id, True)
        out: dict[str, object] = {
            "account": account.name,
            "account_created": created,
            "admin": admin or account.id in await _admin_ids(runtime),
            "credential_id": record.id,
            "api_key": cred.api_key,
            "access_key": cred.access_key,
            "secret_key": cred.secret_key,
        }
        if created:
            out["callback_secret"] = callback_secret
        return out

    result = _with_runtime(settings, job)
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(f"[bold]Account:[/bold] {result['account']}"
                  + (" (new)" if result["account_created"] else "")
                  + (" [admin]" if result["admin"] else ""))
    console.print(f"API key:     {result['api_key']}")
    console.print(f"Access key:  {result['access_key']}")
    console.print(f"Secret key:  {result['secret_key']}")
    if "callback_secret" in result:
        console.print(f"Callback signing secret: {result['callback_secret']}")
    console.print("[yellow]Store these now: they cannot be shown again.[/yellow]")


@app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List credentials (never their secrets), with the access key `keys revoke` takes."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)

    async def job(runtime: Resources) -> tuple[list[tuple[CredentialRecord, AccountRecord]],
                                             set[int]]:
        return await runtime.accounts.list_credentials(), await _admin_ids(runtime)

    pairs, admins = _with_runtime(settings, job)
    rows = [
        {
            "id": cred.id,
            "account": account.name,
            "admin": account.id in admins,
            "label": cred.label,
            "api_key": cred.api_key_hint,
            "access_key": cred.access_key,
            "created": _iso(cred.created_at),
            "revoked": _iso(cred.revoked_at) if cred.revoked_at else None,
        }
        for cred, account in pairs
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    # The access key is what `keys revoke` needs: it is never cut or wrapped. Below the
    # width the table needs, it is printed wider than the terminal rather than cropped.
    access_width = max((len(str(r["access_key"])) for r in rows), default=10)
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("id", no_wrap=True)
    table.add_column("account", ratio=1, overflow="fold")
    table.add_column("label", ratio=1)
    table.add_column("api key", no_wrap=True)
    table.add_column("access key", no_wrap=True, min_width=access_width)
    table.add_column("created", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for row in rows:
        account = f"{row['account']} (admin)" if row["admin"] else str(row["account"])
        table.add_row(str(row["id"]), account, str(row["label"]), str(row["api_key"]),
                      str(row["access_key"]), str(row["created"])[:10],
                      "revoked" if row["revoked"] else "active")
    Console(width=max(console.width, 110)).print(table)

async def _admin_ids(runtime: Resources) -> set[int]:
    return {a.id for a in await AdminStore(runtime.db).list_accounts() if a.is_admin}


@app.command()
def revoke(
    key: Annotated[str, typer.Argument(help="Access key, API key hint (from `keys list`) or id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a credential: its API key and JWTs stop working."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    count = _with_runtime(settings, lambda rt: rt.accounts.revoke(key, now=now_ms()))
    if not count:
        console.print(f"[red]No active credential matches {key!r}.[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked {count} credential(s).")


def _iso(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if ms else ""


@app.command("disable-account")
def disable_account(
    name: Annotated[str, typer.Argument(help="Account name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Suspend an account: its requests get 429 / 1100 until it is enabled again."""
    _set_disabled(name, True, settings_from(data_dir=data_dir, database_url=database_url))


@app.command("enable-account")
def enable_account(
    name: Annotated[str, typer.Argument(help="Account name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Lift a suspension."""
    _set_disabled(name, False, settings_from(data_dir=data_dir, database_url=database_url))


def _set_disabled(name: str, disabled: bool, settings: Settings) -> None:
    if not _with_runtime(settings, lambda rt: rt.accounts.set_disabled(name, disabled)):
        console.print(f"[red]No account named {name!r}.[/red]")
        raise typer.Exit(1)
    console.print(f"Account {name!r} {'disabled' if disabled else 'enabled'}.")
