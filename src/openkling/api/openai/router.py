"""OpenAI's Videos API at `/v1/videos`, beside Kling's `/v1/videos/<family>` routes.

The two never collide: an OpenAI video id always begins with `video_` (the `video_id` path
convertor matches nothing else), and no Kling family name does (tests/unit/api/openai checks
every family). A path whose segment after `/v1/videos/` does not begin with `video_` is
Kling's, answered exactly as before; the Kling poll fast path (`api/fastpath.py`) only takes
known family paths, so it neither sees nor slows these routes. Failures here leave in
OpenAI's error shape (`OpenAIRoute`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Security
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response

from openkling.api.deps import BEARER_SCHEME, authenticate, services_of
from openkling.api.middleware import BodyTooLarge
from openkling.api.openai.errors import OpenAIError, OpenAIRoute, parse_as
from openkling.api.openai.protocol import (
    CreateVideo,
    RemixVideo,
    Video,
    VideoDeleted,
    VideoList,
)
from openkling.api.openai.serving import ID_PREFIX, OpenAIVideos

#: Form fields of a multipart create, at most (the SDK sends five).
MAX_FORM_FIELDS = 32
#: The largest uploaded `input_reference` (Kling's image limit).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_REFERENCE_KEYS = ("image_url", "file_id")


class VideoIdConvertor(Convertor[str]):
    """`{video_id:openai_video}`: only ids of OpenAI's shape, so Kling's family paths under
    `/v1/videos/` never reach these routes."""

    regex = ID_PREFIX + "[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("openai_video", VideoIdConvertor())

router = APIRouter(prefix="/videos", tags=["openai videos"], route_class=OpenAIRoute,
                   dependencies=[Security(BEARER_SCHEME)])
_ONE = "/{video_id:openai_video}"


def _videos(request: Request) -> OpenAIVideos:
    return OpenAIVideos(services_of(request))


def _json(model: Any, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


@router.post("", summary="Create a video (OpenAI)", response_model=Video,
             response_class=JSONResponse)
async def create_video(request: Request) -> Response:
    """JSON, or multipart/form-data as the SDKs send it (`input_reference` an image file)."""
    principal = await authenticate(request)
    fields, upload = await _create_fields(request)
    params = parse_as(CreateVideo, fields)
    task = await _videos(request).create(principal, params, upload)
    return _json(_videos(request).to_object(task))


@router.get("", summary="List videos (OpenAI)", response_model=VideoList,
            response_class=JSONResponse)
async def list_videos(
    request: Request,
    after: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> Response:
    principal = await authenticate(request)
    videos = _videos(request)
    tasks, more = await videos.page(principal, after=after or None, limit=limit,
                                    ascending=order == "asc")
    data = [videos.to_object(task) for task in tasks]
    return _json(VideoList(data=data, first_id=data[0].id if data else None,
                           last_id=data[-1].id if data else None, has_more=more))


@router.get(_ONE, summary="Retrieve a video (OpenAI)", response_model=Video,
            response_class=JSONResponse)
async def retrieve_video(video_id: str, request: Request) -> Response:
    principal = await authenticate(request)
    videos = _videos(request)
    return _json(videos.to_object(await videos.get(principal, video_id)))


@router.delete(_ONE, summary="Delete a video and its files (OpenAI)",
               response_model=VideoDeleted, response_class=JSONResponse)
async def delete_video(video_id: str, request: Request) -> Response:
    principal = await authenticate(request)
    await _videos(request).delete(principal, video_id)
    return _json(VideoDeleted(id=video_id))


@router.get(_ONE + "/content", summary="Download a video, its thumbnail or spritesheet "
            "(OpenAI)", response_class=Response,
            description="`variant=video` redirects to the MP4's signed download URL; "
            "`thumbnail` (WebP, the first frame) and `spritesheet` (JPEG, a grid of up to 16 "
            "frames) are made from the video's frames on the first request and kept.")
async def download_content(
    video_id: str, request: Request,
    variant: Literal["video", "thumbnail", "spritesheet"] = "video",
) -> Response:
    principal = await authenticate(request)
    return await _videos(request).content(principal, video_id, variant)


@router.post(_ONE + "/remix", summary="Remix a completed video with a new prompt (OpenAI)",
             response_model=Video, response_class=JSONResponse)
async def remix_video(video_id: str, request: Request) -> Response:
    principal = await authenticate(request)
    params = parse_as(RemixVideo, await _json_object(request))
    videos = _videos(request)
    return _json(videos.to_object(await videos.remix(principal, video_id, params.prompt)))


async def _create_fields(request: Request) -> tuple[dict[str, Any], bytes | None]:
    """The create's fields, and the uploaded `input_reference` image if there is one."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return await _json_object(request), None
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except BodyTooLarge:
        raise
    except Exception as exc:  # the multipart parser's refusal, or a body it cannot read
        raise OpenAIError(400, f"the multipart body cannot be read: {exc}") from None
    fields: dict[str, Any] = {}
    reference: dict[str, str] = {}
    upload = None
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name != "input_reference":
                raise OpenAIError.invalid(name, "only input_reference takes a file")
            upload = await value.read(MAX_UPLOAD_BYTES + 1)
            if len(upload) > MAX_UPLOAD_BYTES:
                raise OpenAIError.invalid("input_reference", "the image is larger than 10 MB")
        elif name.startswith("input_reference[") and name.endswith("]"):
            reference[name[len("input_reference["):-1]] = value
        else:
            fields[name] = value
    if reference:
        fields["input_reference"] = reference
    return fields, upload


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        raise OpenAIError(400, "a JSON object body is required")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OpenAIError(400, f"malformed JSON body: {exc}") from None
    if not isinstance(value, dict):
        raise OpenAIError(400, "the request body must be a JSON object")
    return value

