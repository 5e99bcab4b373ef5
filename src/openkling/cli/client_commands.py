"""Client commands: `text2video`, `task get|list|wait|download|cancel`, `login` and `env`.

They talk to any Kling-compatible API through `openkling.client`. Connection settings come
from flags, then environment variables, then the file `openkling login` writes (see
cli/connection.py). Exit codes are `ExitCode`'s and are listed in docs/client.md.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from openkling.cli.connection import (
    Connection,
    ConnectionFlags,
    config_path,
    connection_options,
    write_config,
)
from openkling.cli.exits import ExitCode, fail
from openkling.client import (
    DEFAULT_BASE_URL,
    AccountError,
    APIConnectionError,
    AspectRatio,
    AuthenticationError,
    InvalidParameterError,
    KlingClient,
    KlingClientError,
    Mode,
    NotFoundError,
    PolicyError,
    RateLimitError,
    ServerError,
    Task,
    TaskFailedError,
    TaskStatus,
    WaitTimeoutError,
    normalize_prefix,
)

__all__ = ["ExitCode", "register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TimeoutOpt = Annotated[
    float | None,
    typer.Option("--timeout", min=0, show_default=False,
                 help="Give up waiting after this many seconds (default: wait forever)."),
]


# --- output -------------------------------------------------------------------------------


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


_STYLE = {
    TaskStatus.SUBMITTED: "cyan",
    TaskStatus.PROCESSING: "yellow",
    TaskStatus.SUCCEED: "green",
    TaskStatus.FAILED: "red",
}


def _status(task: Task) -> str:
    return f"[{_STYLE[task.task_status]}]{task.task_status.value}[/]"


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _progress_text(task: Task) -> str:
    return "-" if task.progress is None else f"{task.progress:.0f}%"


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _show_task(task: Task) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("Task ID", task.task_id)
    table.add_row("Status", _status(task))
    if task.task_status_msg:
        table.add_row("Message", task.task_status_msg)
    if task.external_task_id:
        table.add_row("External ID", task.external_task_id)
    table.add_row("Progress", _progress_text(task))
    table.add_row("Created", _when(task.created))
    table.add_row("Updated", _when(task.updated))
    for number, video in enumerate(task.videos, 1):
        table.add_row(f"Video {number}", f"{video.duration} s, id {video.id}")
    out = _out()
    out.print(table)
    for number, video in enumerate(task.videos, 1):
        # One unbroken line, so the signed URL can be copied whatever the terminal's width.
        out.print(f"Video {number} URL: {video.url}", markup=False, soft_wrap=True)


def _show_tasks(tasks: list[Task]) -> None:
    if not tasks:
        _out().print("No tasks.")
        return
    table = Table()
    for column in ("Task ID", "Status", "Progress", "External ID", "Created", "Video"):
        table.add_column(column, no_wrap=column in ("Task ID", "Created"), overflow="fold")
    for task in tasks:
        video = task.videos[0] if task.videos else None
        table.add_row(
            task.task_id, _status(task), _progress_text(task), task.external_task_id or "-",
            _when(task.created), f"{video.duration} s" if video else "-",
        )
    _out().print(table)


# --- error handling -----------------------------------------------------------------------


@contextmanager
def _errors(conn: Connection, *, logging_in: bool = False) -> Iterator[None]:
    """Turn every SDK error into one clear line on stderr and its exit code."""
    try:
        yield
    except TaskFailedError as exc:
        fail(ExitCode.TASK_FAILED, f"task {exc.task.task_id} failed: {exc.message}")
    except WaitTimeoutError as exc:
        fail(ExitCode.TIMEOUT, f"{exc.message}; resume with `openkling task wait "
                               f"{exc.task.task_id}`")
    except AuthenticationError as exc:
        where = ("the key given to `openkling login`" if logging_in else
                 "the key (--api-key, or --access-key and --secret-key), or run "
                 "`openkling login` to save a working one")
        fail(ExitCode.AUTHENTICATION, f"authentication failed: {exc}. Check {where}.")
    except AccountError as exc:
        fail(ExitCode.ACCOUNT, f"account problem: {exc}")
    except NotFoundError as exc:
        hint = ""
        if exc.code == 1202:
            hint = f". Is --prefix right (now {conn.prefix or 'none'}; gateways use /kling)?"
        fail(ExitCode.NOT_FOUND, f"not found: {exc}{hint}")
    except (InvalidParameterError, PolicyError) as exc:
        fail(ExitCode.INVALID, f"rejected: {exc}")
    except RateLimitError as exc:
        hint = f"; retry after {exc.retry_after:g} s" if exc.retry_after is not None else ""
        fail(ExitCode.RATE_LIMITED, f"rate limited: {exc}{hint}")
    except ServerError as exc:
        fail(ExitCode.SERVER, f"server error: {exc}")
    except APIConnectionError as exc:
        fail(ExitCode.UNREACHABLE,
             f"{exc.message}. Is the server running, and are --base-url "
             f"({conn.base_url}) and --prefix ({conn.prefix or 'none'}) right?")
    except KlingClientError as exc:
        fail(ExitCode.ERROR, str(exc))


@contextmanager
def _interruptible(task_id: str) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        fail(ExitCode.INTERRUPTED,
             f"stopped waiting; task {task_id} keeps running. Resume with "
             f"`openkling task wait {task_id}`.")


def _wait(client: KlingClient, task: Task, timeout: float | None, quiet: bool) -> Task:
    """Wait with a live status line and progress bar (on stderr, so stdout stays clean)."""
    if quiet:
        return client.text2video.wait(task, timeout=timeout)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[percent]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_err(), transient=False) as bar:
        line = bar.add_task(f"{task.task_id} submitted", total=None, percent="")

        def update(current: Task) -> None:
            known = current.progress is not None
            bar.update(
                line,
                description=f"{current.task_id} {_status(current)}",
                total=100 if known else None,
                completed=current.progress or 0,
                percent=_progress_text(current) if known else "",
            )

        return client.text2video.wait(task, timeout=timeout, on_progress=update)


def _download(client: KlingClient, task: Task, output: str | None, quiet: bool) -> Path:
    if quiet:
        return client.text2video.download(task, output)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=_err()) as bar:
        line: TaskID = bar.add_task("downloading", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(line, completed=done, total=total)

        return client.text2video.download(task, output, on_progress=update)


def _finish(task: Task, path: Path | None, as_json: bool) -> None:
    if as_json:
        wire = task.to_wire()
        if path is not None:
            wire["downloaded_to"] = str(path)
        _print_json(wire)
        return
    _show_task(task)
    if path is not None:
        _out().print(f"[green]Saved[/] {path}")


# --- commands -----------------------------------------------------------------------------


@connection_options
def text2video(
    prompt: Annotated[str, typer.Argument(help="What the video shows.", show_default=False)],
    model: Annotated[str | None, typer.Option("--model", help="model_name, e.g. kling-v1.",
                                              show_default=False)] = None,
    negative_prompt: Annotated[str | None, typer.Option(show_default=False)] = None,
    cfg_scale: Annotated[float | None, typer.Option(min=0, max=1, show_default=False)] = None,
    mode: Annotated[Mode | None, typer.Option(show_default=False)] = None,
    aspect_ratio: Annotated[AspectRatio | None, typer.Option(show_default=False)] = None,
    duration: Annotated[int | None, typer.Option(help="Seconds: 5 or 10 (3..15 on newer "
                                                 "models).", show_default=False)] = None,
    external_task_id: Annotated[str | None, typer.Option(show_default=False)] = None,
    callback_url: Annotated[str | None, typer.Option(show_default=False)] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the video and download "
                                       "it.")] = False,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="File or folder (a trailing / makes a folder) to save the video "
        "in; implies --wait (default: ./<task_id>.mp4).", show_default=False)] = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="With --wait: only "
                                              "wait, do not download.")] = False,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Create a text-to-video task; with --wait, follow it and download the video."""
    conn = Connection.resolve(flags)
    with conn.client() as client, _errors(conn):
        task = client.text2video.create(
            prompt, model_name=model, negative_prompt=negative_prompt, cfg_scale=cfg_scale,
            mode=mode, aspect_ratio=aspect_ratio, duration=duration,
            external_task_id=external_task_id, callback_url=callback_url,
        )
        if not (wait or output):
            _finish(task, None, as_json)
            if not as_json:
                _out().print(f"Follow it with: openkling task wait {task.task_id}")
            return
        with _interruptible(task.task_id):
            task = _wait(client, task, timeout, quiet=as_json)
            path = None if no_download else _download(client, task, output, quiet=as_json)
        _finish(task, path, as_json)


task_app = typer.Typer(help="Look up, follow, download and cancel tasks.",
                       no_args_is_help=True)


@task_app.command("get")
@connection_options
def task_get(
    task_id: Annotated[str, typer.Argument(help="task_id (or external_task_id).",
                                           show_default=False)],
    external: Annotated[bool, typer.Option("--external", help="TASK_ID is an "
                                           "external_task_id.")] = False,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Show one task."""
    conn = Connection.resolve(flags)
    with conn.client() as client, _errors(conn):
        if external:
            task = client.text2video.get(external_task_id=task_id)
        else:
            task = client.text2video.get(task_id)
        _finish(task, None, as_json)


@task_app.command("list")
@connection_options
def task_list(
    page: Annotated[int, typer.Option("--page", min=1, max=1000, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500,
                                           help="Tasks per page.")] = 30,
    all_pages: Annotated[bool, typer.Option("--all", help="Every task, all pages.")] = False,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """List tasks, newest first."""
    conn = Connection.resolve(flags)
    with conn.client() as client, _errors(conn):
        if all_pages:
            tasks = list(client.text2video.iter_all(page_size=page_size))
        else:
            tasks = client.text2video.list(page, page_size)
        if as_json:
            _print_json([task.to_wire() for task in tasks])
        else:
            _show_tasks(tasks)


@task_app.command("wait")
@connection_options
def task_wait(
    task_id: Annotated[str, typer.Argument(show_default=False)],
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Wait until a task succeeds (exit 0) or fails (exit 10), showing its progress."""
    conn = Connection.resolve(flags)
    with conn.client() as client, _errors(conn), _interruptible(task_id):
        task = client.text2video.get(task_id)
        task = _wait(client, task, timeout, quiet=as_json)
        _finish(task, None, as_json)


@task_app.command("download")
@connection_options
def task_download(
    task_id: Annotated[str, typer.Argument(show_default=False)],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="File or folder: an existing folder, or a path ending in /, "
        "gets <task_id>.mp4 (default: ./<task_id>.mp4).", show_default=False)] = None,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Download a finished task's video."""
    conn = Connection.resolve(flags)
    with conn.client() as client, _errors(conn):
        task = client.text2video.get(task_id)
        path = _download(client, task, output, quiet=as_json)
        if as_json:
            _print_json({"task_id": task.task_id, "path": str(path)})
        else:
            _out().print(f"[green]Saved[/] {path}")


@task_app.command("cancel")
@connection_options
def task_cancel(
    task_id: Annotated[str, typer.Argument(show_default=False)],
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Cancel an unfinished task (an openkling extension; official Kling has no cancel)."""
    conn = Connection.resolve(flags)
    with conn.client() as client, _errors(conn):
        _finish(client.text2video.cancel(task_id), None, as_json)


@connection_options
def login(
    *,
    flags: ConnectionFlags,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Check the key "
                                         "against the server before saving.")] = True,
) -> None:
    """Save a server URL and key for the other commands (file mode 0600)."""
    api_key, access_key, secret_key = flags.api_key, flags.access_key, flags.secret_key
    if not flags.has_key:
        if not sys.stdin.isatty():
            fail(ExitCode.USAGE, "give --api-key (or --access-key and --secret-key)")
        api_key = typer.prompt("API key", hide_input=True)
    if bool(access_key) != bool(secret_key):
        fail(ExitCode.USAGE, "--access-key and --secret-key go together")
    if api_key and access_key:
        fail(ExitCode.USAGE, "give either --api-key or --access-key and --secret-key")
    conn = Connection(
        base_url=(flags.base_url or DEFAULT_BASE_URL).rstrip("/"),
        prefix=normalize_prefix(flags.prefix or ""),
        api_key=api_key, access_key=access_key, secret_key=secret_key,
    )
    if verify:
        with conn.client() as client, _errors(conn, logging_in=True):
            client.text2video.list(1, 1)
    values = {"base_url": conn.base_url, "prefix": conn.prefix}
    if api_key:
        values["api_key"] = api_key
    else:
        values["access_key"] = access_key or ""
        values["secret_key"] = secret_key or ""
    path = config_path()
    write_config(path, values)
    _out().print(f"Saved {conn.base_url}{conn.prefix} credentials to {path}")


@connection_options
def env(*, flags: ConnectionFlags) -> None:
    """Print the saved connection as shell exports: eval "$(openkling env)"."""
    conn = Connection.resolve(flags)
    if not conn.has_key:
        fail(ExitCode.AUTHENTICATION,
             "no credentials to print: run `openkling login` (or pass --api-key)")
    for name, value in conn.environment().items():
        typer.echo(f"export {name}={shlex.quote(value)}")


def register(app: typer.Typer) -> None:
    """Add the client commands to the root `openkling` app."""
    app.command("text2video")(text2video)
    app.command("login")(login)
    app.command("env")(env)
    app.add_typer(task_app, name="task")

