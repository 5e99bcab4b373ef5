"""`openkling image2video` and `openkling image`: create tasks of the families beyond
text2video, with the same flags, output and exit codes as `openkling text2video`."""

from __future__ import annotations

from typing import Annotated

import typer

from openkling.cli.client_errors import sdk_errors
from openkling.cli.client_families import Family
from openkling.cli.connection import Connection, ConnectionFlags, connection_options
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
from openkling.client import ImageAspectRatio, ImageReference, Resolution

ImageHelp = "a JPEG or PNG file, an http(s) URL (the server fetches it) or raw base64"


@connection_options
def image2video(
    image: Annotated[str, typer.Argument(help=f"The first frame: {ImageHelp}.",
                                         show_default=False)],
    prompt: Annotated[str | None, typer.Argument(help="What happens in the video "
                                                 "(optional).", show_default=False)] = None,
    image_tail: Annotated[str | None, typer.Option(
        "--image-tail", help=f"The last frame: {ImageHelp}.", show_default=False)] = None,
    model: ModelOpt = None,
    negative_prompt: TextOpt = None,
    cfg_scale: UnitOpt = None,
    mode: ModeOpt = None,
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
    """Create an image-to-video task from IMAGE; with --wait, follow it and download the
    video."""
    conn = Connection.resolve(flags)
    with conn.client() as client, sdk_errors(conn, family=Family.IMAGE2VIDEO):
        task = client.image2video.create(
            image, prompt, image_tail=image_tail, model_name=model,
            negative_prompt=negative_prompt, cfg_scale=cfg_scale, mode=mode,
            duration=duration, external_task_id=external_task_id, callback_url=callback_url,
        )
        follow(client, Family.IMAGE2VIDEO, task, wait=wait, output=output,
               no_download=no_download, timeout=timeout, as_json=as_json)


@connection_options
def image(
    prompt: Annotated[str, typer.Argument(help="What the images show.", show_default=False)],
    n: Annotated[int | None, typer.Option("-n", "--n", min=1, max=9, show_default=False,
                                          help="How many images (1..9, default 1).")] = None,
    aspect_ratio: Annotated[ImageAspectRatio | None, typer.Option(show_default=False)] = None,
    resolution: Annotated[Resolution | None, typer.Option(show_default=False)] = None,
    reference: Annotated[str | None, typer.Option(
        "--image", help=f"A reference image: {ImageHelp}.", show_default=False)] = None,
    image_reference: Annotated[ImageReference | None, typer.Option(
        help="What the reference image fixes.", show_default=False)] = None,
    image_fidelity: UnitOpt = None,
    human_fidelity: UnitOpt = None,
    model: ModelOpt = None,
    negative_prompt: TextOpt = None,
    external_task_id: ExternalIdOpt = None,
    callback_url: TextOpt = None,
    wait: WaitOpt = False,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Folder to save the images in, as <task_id>_<index>.png "
        "(created if missing); implies --wait (default: the current folder).",
        show_default=False)] = None,
    no_download: NoDownloadOpt = False,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
    *,
    flags: ConnectionFlags,
) -> None:
    """Create an image generation task; with --wait, follow it and download every image."""
    conn = Connection.resolve(flags)
    with conn.client() as client, sdk_errors(conn, family=Family.IMAGE):
        task = client.images.create(
            prompt, n=n, aspect_ratio=aspect_ratio, resolution=resolution, image=reference,
            image_reference=image_reference, image_fidelity=image_fidelity,
            human_fidelity=human_fidelity, model_name=model, negative_prompt=negative_prompt,
            external_task_id=external_task_id, callback_url=callback_url,
        )
        follow(client, Family.IMAGE, task, wait=wait, output=output,
               no_download=no_download, timeout=timeout, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.command("image2video")(image2video)
    app.command("image")(image)
