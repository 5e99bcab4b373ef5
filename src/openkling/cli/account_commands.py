"""`openkling account costs`: the account's resource packs (`GET /account/costs`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from openkling.cli.client_errors import sdk_errors
from openkling.cli.client_output import out, print_json, when
from openkling.cli.connection import Connection, ConnectionFlags, connection_options
from openkling.cli.task_follow import JsonOpt
from openkling.client import AccountCosts

account_app = typer.Typer(help="What the account holds.", no_args_is_help=True)

_STATUS_STYLE = {"online": "green", "toBeOnline": "cyan", "expired": "red", "runOut": "red"}


def parse_moment(value: str, flag: str) -> int:
    """Unix milliseconds, or an ISO date or date-time (UTC unless it says otherwise, as
    `openkling quota add` reads them) -> Unix milliseconds."""
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected a date such as 2027-01-31, 2027-01-31T12:00 or "
                                 "Unix milliseconds", param_hint=flag) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _quantity(value: float) -> str:
    return f"{value:g}"


def show_costs(costs: AccountCosts) -> None:
    if not costs.packs:
        out().print("No resource packs (on openkling: the account is unmetered).")
        return
    table = Table()
    for column in ("Name", "ID", "Status", "Remaining", "Total", "Effective", "Expires"):
        table.add_column(column, overflow="fold")
    for pack in costs.packs:
        style = _STATUS_STYLE.get(pack.status, "white")
        table.add_row(pack.resource_pack_name, pack.resource_pack_id,
                      f"[{style}]{pack.status}[/]", _quantity(pack.remaining_quantity),
                      _quantity(pack.total_quantity), when(pack.effective),
                      when(pack.expires) if pack.invalid_time is not None else "never")
    out().print(table)


@account_app.command("costs")
@connection_options
def costs(
    start: Annotated[str | None, typer.Option(
        "--start", help="Only packs valid at or after this time (a date, a date-time, or Unix "
        "ms). Official Kling requires --start and --end.", show_default=False)] = None,
    end: Annotated[str | None, typer.Option(
        "--end", help="Only packs in effect by this time.", show_default=False)] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Only the packs of this name (resource_pack_name).",
        show_default=False)] = None,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Show the account's resource packs: what each holds, what is left, when it expires."""
    start_ms = parse_moment(start, "--start") if start else None
    end_ms = parse_moment(end, "--end") if end else None
    conn = Connection.resolve(flags)
    with conn.client() as client, sdk_errors(conn):
        found = client.account.costs(start_time=start_ms, end_time=end_ms,
                                     resource_pack_name=name)
    if as_json:
        print_json(found.to_wire())
    else:
        show_costs(found)


def register(app: typer.Typer) -> None:
    app.add_typer(account_app, name="account")
