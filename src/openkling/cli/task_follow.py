"""What every create command does once its task exists (print it, or wait for it and save
its results), and the options it shares with the `task` commands."""

from __future__ import annotations

from typing import Annotated

import typer

from openkling.cli.client_errors import interruptible
from openkling.cli.client_families import Family, task_command, tasks_of
from openkling.cli.client_output import download, finish, out, wait_with_progress
from openkling.client import KlingClient, Mode, Task

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TimeoutOpt = Annotated[
    float | None,
    typer.Option("--timeout", min=0, show_default=False,
                 help="Give up waiting after this many seconds (default: wait forever)."),
]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Wait for the result and download "
                                       "it.")]
NoDownloadOpt = Annotated[bool, typer.Option("--no-download", help="With --wait: only wait, "
                                             "do not download.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="model_name, e.g. kling-v1.",
                                              show_default=False)]
TextOpt = Annotated[str | None, typer.Option(show_default=False)]
ExternalIdOpt = Annotated[str | None, typer.Option(
    show_default=False, help="Your own id for the task (unique per account and family).")]
UnitOpt = Annotated[float | None, typer.Option(min=0, max=1, show_default=False)]
ModeOpt = Annotated[Mode | None, typer.Option(show_default=False)]
DurationOpt = Annotated[int | None, typer.Option(
    help="Seconds: 5 or 10 (3..15 on newer models).", show_default=False)]
VideoOutputOpt = Annotated[str | None, typer.Option(
    "--output", "-o", help="File or folder (a trailing / makes a folder) to save the video "
    "in; implies --wait (default: ./<task_id>.mp4).", show_default=False)]


def follow(client: KlingClient, family: Family, task: Task, *, wait: bool, output: str | None,
           no_download: bool, timeout: float | None, as_json: bool) -> None:
    """After a create: print the task, or (with --wait or --output) wait for it and save
    its results."""
    if not (wait or output):
        finish(task, None, as_json)
        if not as_json:
            out().print(f"Follow it with: {task_command('wait', family, task.task_id)}")
        return
    with interruptible(family, task.task_id):
        task = wait_with_progress(tasks_of(client, family), task, timeout, quiet=as_json)
        saved = None if no_download else download(client, family, task, output,
                                                  quiet=as_json)
    finish(task, saved, as_json)
