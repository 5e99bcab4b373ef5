"""What a client command's exit status means, and the one way a command fails."""

from __future__ import annotations

from enum import IntEnum
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape


class ExitCode(IntEnum):
    """Exit statuses of the client commands (2 is Typer's own usage error); docs/client.md."""

    OK = 0
    ERROR = 1
    USAGE = 2
    AUTHENTICATION = 3
    ACCOUNT = 4
    NOT_FOUND = 5
    INVALID = 6
    RATE_LIMITED = 7
    SERVER = 8
    UNREACHABLE = 9
    TASK_FAILED = 10
    TIMEOUT = 11
    INTERRUPTED = 130


def fail(code: ExitCode, message: str) -> NoReturn:
    """One clear line on stderr, then exit with `code`. The message is plain text: a
    `[server]` in it is shown, not read as Rich markup."""
    Console(stderr=True, highlight=False).print(
        f"[bold red]Error:[/] {escape(message)}", markup=True, soft_wrap=True
    )
    raise typer.Exit(int(code))
