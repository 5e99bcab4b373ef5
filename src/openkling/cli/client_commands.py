"""Client commands: `text2video`, `task get|list|wait|download|cancel`, `login` and `env`;
`register` also adds `image2video`, `image` (generate_commands) and `account` (account_commands).

They talk to any Kling-compatible API through `openkling.client`. Connection settings come
from flags, then environment variables, then the file `openkling login` writes (see
cli/connection.py). Exit codes are `ExitCode`'s and are listed in docs/client.md.
"""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import typer

from openkling.cli import account_commands, generate_commands
from openkling.cli.client_errors import interruptible, sdk_errors
from openkling.cli.client_families import Family, tasks_of
from openkling.cli.client_output import (
    download,
    finish,
    out,
    print_json,
    print_saved,
    show_tasks,
    wait_with_progress,
)
from openkling.cli.connection import (
    Connection,
    ConnectionFlags,
    config_path,
    connection_options,
    write_config,
)
from openkling.cli.exits import ExitCode, fail
from openkling.cli.task_follow import (
    DurationOpt,
    ExternalIdOpt,
    JsonOpt,
    ModelOpt,
    ModeOpt,
    NoDownloadOpt,
    TextOpt,
    TimeoutOpt,
    UnitOpt,
    VideoOutputOpt,
    WaitOpt,
    follow,
)
from openkling.client import DEFAULT_BASE_URL, AspectRatio, normalize_prefix

__all__ = ["ExitCode", "register"]

FamilyOpt = Annotated[
    Family,
    typer.Option("--family", "-f", help="The family the task belongs to (the command that "
                 "created it)."),
]


@connection_options
def text2video(
    prompt: Annotated[str, typer.Argument(help="What the video shows.", show_default=False)],
    model: ModelOpt = None,
    negative_prompt: TextOpt = None,
    cfg_scale: UnitOpt = None,
    mode: ModeOpt = None,
    aspect_ratio: Annotated[AspectRatio | None, typer.Option(show_default=False)] = None,
    duration: DurationOpt = None,
    external_task_id: ExternalIdOpt = None,
    callback_url: TextOpt = None,
    wait: WaitOpt = False,
    output: VideoOutputOpt = None,
    no_download: NoDownloadOpt = False,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Create a text-to-video task; with --wait, follow it and download the video."""
    conn = Connection.resolve(flags)
    with conn.client() as client, sdk_errors(conn):
        task = client.text2video.create(
            prompt, model_name=model, negative_prompt=negative_prompt, cfg_scale=cfg_scale,
            mode=mode, aspect_ratio=aspect_ratio, duration=duration,
            external_task_id=external_task_id, callback_url=callback_url,
        )
        follow(client, Family.TEXT2VIDEO, task, wait=wait, output=output,
               no_download=no_download, timeout=timeout, as_json=as_json)


task_app = typer.Typer(help="Look up, follow, download and cancel tasks of any family "
                       "(--family).", no_args_is_help=True)


@task_app.command("get")
@connection_options
def task_get(
    task_id: Annotated[str, typer.Argument(help="task_id (or external_task_id).",
                                           show_default=False)],
    external: Annotated[bool, typer.Option("--external", help="TASK_ID is an "
                                           "external_task_id.")] = False,
    family: FamilyOpt = Family.TEXT2VIDEO,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Show one task."""
    conn = Connection.resolve(flags)
    with conn.client() as client, sdk_errors(conn, family=family):
        tasks = tasks_of(client, family)
        task = tasks.get(external_task_id=task_id) if external else tasks.get(task_id)
        finish(task, None, as_json)


@task_app.command("list")
@connection_options
def task_list(
    page: Annotated[int, typer.Option("--page", min=1, max=1000, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500,
                                           help="Tasks per page.")] = 30,
    all_pages: Annotated[bool, typer.Option("--all", help="Every task, all pages.")] = False,
    family: FamilyOpt = Family.TEXT2VIDEO,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """List tasks, newest first."""
    conn = Connection.resolve(flags)
    with conn.client() as client, sdk_errors(conn, family=family):
        tasks = tasks_of(client, family)
        found = list(tasks.iter_all(page_size=page_size)) if all_pages else tasks.list(
            page, page_size)
        if as_json:
            print_json([task.to_wire() for task in found])
        else:
            show_tasks(found)


@task_app.command("wait")
@connection_options
def task_wait(
    task_id: Annotated[str, typer.Argument(show_default=False)],
    family: FamilyOpt = Family.TEXT2VIDEO,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Wait until a task succeeds (exit 0) or fails (exit 10), showing its progress."""
    conn = Connection.resolve(flags)
    with (conn.client() as client, sdk_errors(conn, family=family),
          interruptible(family, task_id)):
        tasks = tasks_of(client, family)
        task = wait_with_progress(tasks, tasks.get(task_id), timeout, quiet=as_json)
        finish(task, None, as_json)


@task_app.command("download")
@connection_options
def task_download(
    task_id: Annotated[str, typer.Argument(show_default=False)],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Videos: a file, or a folder (an existing one, or a path "
        "ending in /) that gets <task_id>.mp4. Images: the folder that gets "
        "<task_id>_<index>.png. Default: the current folder.", show_default=False)] = None,
    family: FamilyOpt = Family.TEXT2VIDEO,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Download a finished task's video, or every image of an image task."""
    conn = Connection.resolve(flags)
    with conn.client() as client, sdk_errors(conn, family=family):
        task = tasks_of(client, family).get(task_id)
        print_saved(task, download(client, family, task, output, quiet=as_json), as_json)


@task_app.command("cancel")
@connection_options
def task_cancel(
    task_id: Annotated[str, typer.Argument(show_default=False)],
    family: FamilyOpt = Family.TEXT2VIDEO,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Cancel an unfinished task (an openkling extension; official Kling has no cancel)."""
    conn = Connection.resolve(flags)
    with conn.client() as client, sdk_errors(conn, family=family):
        finish(tasks_of(client, family).cancel(task_id), None, as_json)


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
        with conn.client() as client, sdk_errors(conn, logging_in=True):
            client.text2video.list(1, 1)
    values = {"base_url": conn.base_url, "prefix": conn.prefix}
    if api_key:
        values["api_key"] = api_key
    else:
        values["access_key"] = access_key or ""
        values["secret_key"] = secret_key or ""
    path = config_path()
    write_config(path, values)
    out().print(f"Saved {conn.base_url}{conn.prefix} credentials to {path}")


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
    generate_commands.register(app)
    account_commands.register(app)
    app.command("login")(login)
    app.command("env")(env)
    app.add_typer(task_app, name="task")

