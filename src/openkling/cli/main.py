"""The `openkling` command: server-side commands plus the client commands."""

from __future__ import annotations

import typer

from openkling.cli import client_commands, keys, quotas, server

app = typer.Typer(
    name="openkling",
    help="A self-hosted, Kling-compatible video generation service and its client.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
server.register(app)
app.add_typer(keys.app, name="keys")
quotas.register(app)
client_commands.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
