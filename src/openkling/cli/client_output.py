"""What the client commands print: task summaries, tables, JSON, and the progress bars of
waiting and downloading (on stderr, so stdout stays clean for --json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from openkling.cli.client_families import Family, TaskFamily
from openkling.client import KlingClient, Task, TaskStatus

#: What one download saved: a video file, or every image of a task.
Saved = Path | list[Path]


def out() -> Console:
    return Console(highlight=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


_STYLE = {
    TaskStatus.SUBMITTED: "cyan",
    TaskStatus.PROCESSING: "yellow",
    TaskStatus.SUCCEED: "green",
    TaskStatus.FAILED: "red",
}


def status_text(task: Task) -> str:
    return f"[{_STYLE[task.task_status]}]{task.task_status.value}[/]"


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _progress_text(task: Task) -> str:
    return "-" if task.progress is None else f"{task.progress:.0f}%"


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def show_task(task: Task) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("Task ID", task.task_id)
    table.add_row("Status", status_text(task))
    if task.task_status_msg:
        table.add_row("Message", task.task_status_msg)
    if task.external_task_id:
        table.add_row("External ID", task.external_task_id)
    table.add_row("Progress", _progress_text(task))
    table.add_row("Created", when(task.created))
    table.add_row("Updated", when(task.updated))
    for number, video in enumerate(task.videos, 1):
        table.add_row(f"Video {number}", f"{video.duration} s, id {video.id}")
    if task.images:
        table.add_row("Images", str(len(task.images)))
    console = out()
    console.print(table)
    # One unbroken line per URL, so a signed URL can be copied whatever the terminal's width.
    for number, video in enumerate(task.videos, 1):
        console.print(f"Video {number} URL: {video.url}", markup=False, soft_wrap=True)
    for image in task.images:
        console.print(f"Image {image.index} URL: {image.url}", markup=False, soft_wrap=True)


def _result_text(task: Task) -> str:
    if task.videos:
        return f"{task.videos[0].duration} s"
    if task.images:
        return f"{len(task.images)} image{'s' if len(task.images) > 1 else ''}"
    return "-"


def show_tasks(tasks: list[Task]) -> None:
    if not tasks:
        out().print("No tasks.")
        return
    table = Table()
    for column in ("Task ID", "Status", "Progress", "External ID", "Created", "Result"):
        table.add_column(column, no_wrap=column in ("Task ID", "Created"), overflow="fold")
    for task in tasks:
        table.add_row(task.task_id, status_text(task), _progress_text(task),
                      task.external_task_id or "-", when(task.created), _result_text(task))
    out().print(table)


def wait_with_progress(tasks: TaskFamily, task: Task, timeout: float | None,
                       quiet: bool) -> Task:
    """Wait with a live status line and progress bar."""
    if quiet:
        return tasks.wait(task, timeout=timeout)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[percent]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err(), transient=False) as bar:
        line = bar.add_task(f"{task.task_id} submitted", total=None, percent="")

        def update(current: Task) -> None:
            known = current.progress is not None
            bar.update(
                line,
                description=f"{current.task_id} {status_text(current)}",
                total=100 if known else None,
                completed=current.progress or 0,
                percent=_progress_text(current) if known else "",
            )

        return tasks.wait(task, timeout=timeout, on_progress=update)


def download(client: KlingClient, family: Family, task: Task, output: str | None,
             quiet: bool) -> Saved:
    """Save a finished task's results: its video at `output`, or its images in the folder
    `output`."""

    def save(progress: Callable[[int, int | None], None] | None) -> Saved:
        if family.makes_images:
            return client.images.download(task, output, on_progress=progress)
        videos = client.image2video if family is Family.IMAGE2VIDEO else client.text2video
        return videos.download(task, output, on_progress=progress)

    if quiet:
        return save(None)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn())
    with Progress(*columns, console=err()) as bar:
        line = bar.add_task("downloading", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(line, completed=done, total=total)

        return save(update)


def _paths(saved: Saved) -> list[Path]:
    return saved if isinstance(saved, list) else [saved]


def finish(task: Task, saved: Saved | None, as_json: bool) -> None:
    """The task, and where its results were saved: JSON (`downloaded_to`: a path for a
    video, a list for images) or a summary."""
    if as_json:
        wire = task.to_wire()
        if isinstance(saved, list):
            wire["downloaded_to"] = [str(path) for path in saved]
        elif saved is not None:
            wire["downloaded_to"] = str(saved)
        print_json(wire)
        return
    show_task(task)
    for path in _paths(saved) if saved is not None else []:
        out().print(f"[green]Saved[/] {path}")


def print_saved(task: Task, saved: Saved, as_json: bool) -> None:
    if as_json:
        paths = [str(path) for path in _paths(saved)]
        print_json({"task_id": task.task_id,
                    **({"paths": paths} if isinstance(saved, list) else {"path": paths[0]})})
        return
    for path in _paths(saved):
        out().print(f"[green]Saved[/] {path}")
