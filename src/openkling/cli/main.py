"""The `openkling` command: server-side commands plus the client commands.

The server commands are loaded only when one is run (or listed by `--help`), so the client
commands work in a light install (`pip install .`, no `server` extra) and start without
loading FastAPI or SQLAlchemy. Without the extra, a server command says how to install it.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from openkling.cli import client_commands
from openkling.cli.exits import ExitCode, fail

#: Server commands, loaded on first use: the name and what `--help` says when not installed.
SERVER_COMMANDS = {
    "serve": "Run the API server (needs the server extra).",
    "worker": "Run a standalone worker (needs the server extra).",
    "migrate": "Create or upgrade the database schema (needs the server extra).",
    "keys": "Manage account credentials (needs the server extra).",
    "quota": "Give accounts quotas in units (needs the server extra).",
    "webhooks": "Set accounts' OpenAI webhook URLs (needs the server extra).",
    "models": "The local models and the Kling model names each serves (needs the server "
              "extra).",
}

#: What to run to get the server commands; the package is installed from its clone.
INSTALL_SERVER = (
    'from the openkling clone: pip install ".[server]" (or ".[local]" to also generate '
    'videos on this machine), or ./scripts/setup server'
)


def _server_commands() -> dict[str, Any]:
    """The real server commands; raises ModuleNotFoundError without the server extra."""
    from openkling.cli import keys, models_command, quotas, server, webhooks

    holder = typer.Typer()
    server.register(holder)
    models_command.register(holder)
    holder.add_typer(keys.app, name="keys")
    quotas.register(holder)
    webhooks.register(holder)
    return dict(typer.main.get_group(holder).commands)


def _missing_extra(name: str, reason: ModuleNotFoundError) -> Any:
    """Stands in for a server command the install lacks: explains, and exits non-zero."""
    holder = typer.Typer(add_completion=False)

    @holder.command(name, help=SERVER_COMMANDS[name], add_help_option=False,
                    context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def explain() -> None:
        fail(ExitCode.ERROR,
             f"`openkling {name}` needs the server extra, which is not installed "
             f"({reason}). Install it {INSTALL_SERVER}.")

    return typer.main.get_command(holder)


class _RootGroup(TyperGroup):
    """Typer's group, with the server commands resolved only when asked for. (Contexts and
    commands are typed `Any`: Typer's click classes are private to it.)"""

    _loaded: dict[str, Any] | None = None

    def list_commands(self, ctx: Any) -> list[str]:
        return [*SERVER_COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in SERVER_COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._loaded is None:
            try:
                self._loaded = _server_commands()
            except ModuleNotFoundError as exc:
                if (exc.name or "").startswith("openkling"):
                    raise
                return _missing_extra(cmd_name, exc)
        return self._loaded.get(cmd_name)


app = typer.Typer(
    name="openkling",
    cls=_RootGroup,
    help="A self-hosted, Kling-compatible video generation service and its client.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
client_commands.register(app)


def main(args: Any = None) -> None:
    app(args)


if __name__ == "__main__":
    main()
