"""Locally stored videos under signed, expiring URLs; Range requests for seeking players."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import FileResponse

from openkling.api.deps import ServicesDep
from openkling.api.schemas import ErrorEnvelope
from openkling.core.errors import Code, KlingError
from openkling.storage.local import LocalStorage

router = APIRouter(tags=["files"])
#: What we store: generated videos and images, and tasks' input images.
_MEDIA_TYPES = {".mp4": "video/mp4", ".png": "image/png", ".jpg": "image/jpeg",
                ".mp3": "audio/mpeg", ".wav": "audio/wav"}


@router.get(
    "/files/{key:path}",
    summary="Download a stored video or image (signed URL)",
    response_class=FileResponse,
    responses={
        200: {"content": {kind: {"schema": {"type": "string", "format": "binary"}}
                          for kind in ("video/mp4", "image/png")}},
        206: {"description": "Partial content (Range request)"},
        400: {"description": "Missing or malformed expires/signature (1201)"},
        403: {"description": "Invalid or expired signature (1103)"},
        404: {"description": "No such file (1203)"},
        "default": {"model": ErrorEnvelope, "description": "Any other failure (Kling envelope)"},
    },
)
async def download(
    key: str,
    services: ServicesDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> FileResponse:
    storage = services.storage
    if not isinstance(storage, LocalStorage):
        raise KlingError.not_found("file")
    if not storage.signer.verify(key, expires, signature):
        raise KlingError(Code.NO_ACCESS, "this link is invalid or has expired")
    try:
        path = storage.path_for(key)
    except ValueError as exc:
        raise KlingError.not_found("file") from exc
    if not path.is_file():
        raise KlingError.not_found("file")
    media_type = _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media_type, filename=path.name,
                        content_disposition_type="inline")


# Players probe with HEAD before they seek; same handler, one OpenAPI entry.
router.add_api_route("/files/{key:path}", download, methods=["HEAD"], include_in_schema=False)
