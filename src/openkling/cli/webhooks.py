"""`openkling webhooks set|show|remove`: where an account's OpenAI video events go.

An account's OpenAI-created videos send `video.completed` / `video.failed` to its webhook URL,
signed as Standard Webhooks with the account's `whsec_` secret (docs/api.md, "OpenAI
webhooks"). The secret is printed once, when it is made (`set` the first time, or
`--rotate-secret`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console

from openkling.cli.server_options import DatabaseUrl, DataDir, settings_from
from openkling.cli.store_jobs import account_or_exit, run_with_store
from openkling.clock import now_ms
from openkling.core.openai_webhooks import new_secret
from openkling.core.outbound import CALLBACKS_SETTING, OutboundRefused, check_outbound_url
from openkling.core.secrets import MasterKey
from openkling.store.webhooks import WebhookStore

app = typer.Typer(help="Manage accounts' OpenAI webhooks (video.completed / video.failed).",
                  no_args_is_help=True)
console = Console()


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="webhooks")


@app.command("set")
def set_webhook(
    account: Annotated[str, typer.Argument(help="Account name.")],
    url: Annotated[str, typer.Argument(help="http(s) URL that receives the events.")],
    rotate_secret: Annotated[bool, typer.Option(
        "--rotate-secret", help="Make a new signing secret (the old one stops working).")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Send the account's OpenAI video events to URL (checked like a callback URL)."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    try:
        asyncio.run(check_outbound_url(url, allow_private=settings.allow_private_callbacks,
                                       setting=CALLBACKS_SETTING))
    except OutboundRefused as exc:
        raise typer.BadParameter(exc.reason, param_hint="URL") from None
    master = MasterKey.load(settings.secret_key, settings.data_dir)

    async def job(webhooks: WebhookStore) -> str | None:
        account_id = await account_or_exit(webhooks, account)
        fresh = rotate_secret or await webhooks.get(account_id) is None
        secret = new_secret() if fresh else None
        await webhooks.set(account_id, url=url, now=now_ms(),
                           secret_enc=master.encrypt(secret) if secret else None)
        return secret

    secret = run_with_store(settings, WebhookStore, job)
    if as_json:
        typer.echo(json.dumps({"account": account, "url": url, "secret": secret}))
        return
    console.print(f"OpenAI video events of {account!r} go to {url}.")
    if secret:
        console.print(f"Signing secret (shown once): {secret}")


@app.command()
def show(
    account: Annotated[str, typer.Argument(help="Account name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The account's webhook URL (not its secret)."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)

    async def job(webhooks: WebhookStore) -> str | None:
        hook = await webhooks.get(await account_or_exit(webhooks, account))
        return hook.url if hook else None

    url = run_with_store(settings, WebhookStore, job)
    if as_json:
        typer.echo(json.dumps({"account": account, "url": url}))
    else:
        console.print(url or f"{account!r} has no webhook.")


@app.command()
def remove(
    account: Annotated[str, typer.Argument(help="Account name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Stop sending the account's OpenAI video events (videos made later send none)."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)

    async def job(webhooks: WebhookStore) -> bool:
        return await webhooks.remove(await account_or_exit(webhooks, account))

    removed = run_with_store(settings, WebhookStore, job)
    console.print("Removed." if removed else f"{account!r} had no webhook.")
