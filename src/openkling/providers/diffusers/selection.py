"""multi-elements' selection session on this host: Kling's `init-selection`,
`add-selection`, `delete-selection`, `clear-selection` and `preview-selection`, answered by
the local provider in the API process, the segmentation done by a SAM 2 model process.

Where a session lives: in the configured storage, as `selections/<session_id>/session.json`
beside its normalized video (`video.mp4`) and previews. Storage, not a table: the session's
video must be stored there anyway (the worker reads it at the create), every API process and
worker of a deployment shares it (a local folder on one host, S3 when scaled out), and a
session is one small document read and written whole, so no migration is needed. The cost:
two calls on one session at the same instant may lose one's change (the last write wins);
a client drives its session one call at a time. A session belongs to the account that
opened it: another account's session id is answered like an unknown one (404 / 1203), and so
is a session older than 24 hours (Kling's validity). Expired sessions' files stay until the
operator removes `selections/` entries (no sweeper yet).

What the local provider takes (Kling's limits, relaxed where the local models need not
them): an MP4 or MOV lasting 2-5 s or 7-10 s (`check_source`),
sides of 16 to 2160 px (Kling: 720 to 2160), any frame rate up to 60 (Kling: 24, 30 or 60;
the model resamples to its own); the normalized copy is at most 1280 px long (segment.py's
probe). The source is one of the account's own results (`video_id`)
or a file at `video_url` (at most 100 MB), fetched past the same outbound guard as image URLs
(`OPENKLING_ALLOW_PRIVATE_IMAGE_URLS` lets it reach private addresses).

The clicks of a session mark one element (object id 1): every point is a positive click,
and clicks on several frames refine the same element. Kling's masks are COCO RLE (pycocotools)
and a PNG (white: the element), at the video's size.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from openkling.clock import now_ms
from openkling.core.errors import Code, KlingError
from openkling.core.ids import new_task_id
from openkling.core.provider import CallContext, ProviderError, TransientProviderError
from openkling.providers.diffusers.model_process import ModelProcess
from openkling.providers.diffusers.multi_elements import SELECTION, lasts, span_seconds

SESSION_TTL_MS = 24 * 3600 * 1000
#: The local limits of a source video (see the module doc).
SPANS_S = ((2.0, 5.0), (7.0, 10.0))
MIN_SIDE, MAX_SIDE, MAX_FPS = 16, 2160, 60.0
#: The longest side over the shortest: Kling's 720-2160 px sides allow 3:1 at most.
MAX_ASPECT = 3.0
#: The largest `video_url` download (a local limit: Kling states none for this route).
MAX_VIDEO_BYTES = 100 * 1024 * 1024
#: Points one add-selection takes (Kling's clients send a few clicks at a time).
MAX_POINTS = 10
OBJECT_ID = 1
#: The FFmpeg demuxer of MP4 and MOV.
MP4_MOV = "mov"

TakeProcess = Callable[[], AbstractAsyncContextManager[ModelProcess]]


def _key(session_id: str, name: str) -> str:
    return f"selections/{session_id}/{name}"


def _session_id(body: dict[str, Any]) -> str:
    value = body.get("session_id")
    if not isinstance(value, str) or not value:
        raise KlingError.invalid("session_id", "is required: the id init-selection gave")
    return value


async def load_session(call: CallContext, session_id: str) -> dict[str, Any]:
    """The account's own live session, else 404 / 1203 (unknown, another account's or
    expired: all alike)."""
    if not session_id.isdigit() or len(session_id) > 32:
        raise KlingError.not_found("session")
    key = _key(session_id, "session.json")
    if not await call.storage.exists(key):
        raise KlingError.not_found("session")
    session: dict[str, Any] = json.loads(await call.storage.read_bytes(key))
    if session.get("account_id") != call.account_id or \
            now_ms() - int(session["created_at"]) > SESSION_TTL_MS:
        raise KlingError.not_found("session")
    return session


async def save_session(call: CallContext, session: dict[str, Any]) -> None:
    await call.storage.put_bytes(_key(session["session_id"], "session.json"),
                                 json.dumps(session).encode(), "application/json")


def check_source(probed: dict[str, Any], field: str = "video_id",
                 spans: tuple[tuple[float, float], ...] = SPANS_S) -> None:
    """Refuse (400 / 1201 naming the video field) a source the local provider cannot take
    (its frames must span one of `spans`, in seconds)."""
    if probed.get("error"):
        raise KlingError.invalid(field, f"is not a readable video: {probed['error']}")
    if MP4_MOV not in str(probed.get("formats", "")).split(","):
        raise KlingError.invalid(field, "must be an MP4 or MOV video")
    fps, frames = float(probed["fps"]), int(probed["frames"])
    if not 0 < fps <= MAX_FPS:
        raise KlingError.invalid(field, f"frame rate {fps:g}: at most {MAX_FPS:g} fps")
    # The source's own size (the normalized copy's may be smaller).
    width = int(probed.get("source_width", probed["width"]))
    height = int(probed.get("source_height", probed["height"]))
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise KlingError.invalid(field, f"{width}x{height}: each side must be {MIN_SIDE} to "
                                 f"{MAX_SIDE} px")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise KlingError.invalid(field, f"{width}x{height}: at most {MAX_ASPECT:g}:1 (Kling's "
                                 "720 to 2160 px sides)")
    span = span_seconds(frames, fps)
    if not any(lasts(frames, fps, low, high) for low, high in spans):
        allowed = " or ".join(f"{low:g}-{high:g} s" for low, high in spans)
        raise KlingError.invalid(field, f"its frames span {span:.2f} s: it must be {allowed}")


def check_points(value: Any) -> list[dict[str, float]]:
    """Kling's `points`: 1 to MAX_POINTS `{x, y}`, each in 0..1 of the frame."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_POINTS:
        raise KlingError.invalid("points", f"must be a list of 1 to {MAX_POINTS} points "
                                 '[{"x": 0..1, "y": 0..1}, ...]')
    points = []
    for point in value:
        if not isinstance(point, dict) or set(point) != {"x", "y"} or not all(
                isinstance(point[a], int | float) and not isinstance(point[a], bool)
                and 0 <= point[a] <= 1 for a in ("x", "y")):
            raise KlingError.invalid("points", 'each point must be {"x": 0..1, "y": 0..1} '
                                     "(a share of the frame's width and height)")
        points.append({"x": float(point["x"]), "y": float(point["y"])})
    return points


def check_frame(value: Any, session: dict[str, Any]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or \
            not 0 <= value < int(session["total_frame"]):
        raise KlingError.invalid("frame_index", f"must be a frame of the video: 0 to "
                                 f"{int(session['total_frame']) - 1}")
    return value


def mask_entry(mask: Any) -> dict[str, Any]:
    """One element's mask in Kling's form: COCO RLE (pycocotools) and a PNG, both at the
    frame's size (height, width)."""
    import numpy as np
    from PIL import Image
    from pycocotools import mask as coco

    height, width = mask.shape
    rle = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
    png = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(png, format="PNG")
    return {"object_id": OBJECT_ID,
            "rle_mask": {"size": [height, width], "counts": rle["counts"].decode("ascii")},
            "png_mask": {"size": [height, width],
                         "base64": base64.b64encode(png.getvalue()).decode("ascii")}}


class Selections:
    """The five session calls, for one provider: `take` lends a segmenter model process,
    `work_root` is scratch space of this process."""

    def __init__(self, take: TakeProcess, work_root: Path) -> None:
        self._take = take
        self._work_root = work_root

    async def handle(self, action: str, body: dict[str, Any], call: CallContext) -> Any:
        if action == "init-selection":
            return await self._init(body, call)
        session = await load_session(call, _session_id(body))
        if action == "add-selection":
            frame = check_frame(body.get("frame_index"), session)
            session["clicks"].append({"frame_index": frame,
                                      "points": check_points(body.get("points"))})
            return await self._answer_frame(session, frame, call)
        if action == "delete-selection":
            frame = check_frame(body.get("frame_index"), session)
            click = {"frame_index": frame, "points": check_points(body.get("points"))}
            if click not in session["clicks"]:
                raise KlingError.invalid("points", "no such points were added on this frame "
                                         "(send them exactly as added)")
            session["clicks"].remove(click)
            return await self._answer_frame(session, frame, call)
        if action == "clear-selection":
            session["clicks"] = []
            await save_session(call, session)
            return {"status": 0, "session_id": session["session_id"]}
        if action == "preview-selection":
            return await self._preview(session, call)
        raise KlingError.invalid("action", f"{action} is not a selection call")

    async def _run(self, call_body: dict[str, Any], work: Path, out_name: str) -> (
            dict[str, Any]):
        """One call of the segmenter process (it reads and writes under `work`)."""
        import asyncio

        async def ignore(step: int, total: int) -> None:
            return None

        async with self._take() as process:
            try:
                return await process.generate(call_body, work / out_name, ignore,
                                              asyncio.Event())
            except (ProviderError, TransientProviderError) as exc:
                raise KlingError(Code.INTERNAL, f"segmentation failed: {exc}") from None

    def _work(self) -> Path:
        work = self._work_root / uuid.uuid4().hex
        work.mkdir(parents=True)
        return work

    async def _source(self, body: dict[str, Any], call: CallContext) -> tuple[str, bytes]:
        """The video field sent and the source's bytes: one of the account's results
        (`video_id`) or a file at `video_url`, fetched past the outbound guard."""
        video_id, video_url = body.get("video_id"), body.get("video_url")
        if video_id and video_url:
            raise KlingError.invalid("video_url", "send video_id or video_url, not both")
        if video_url:
            if not isinstance(video_url, str):
                raise KlingError.invalid("video_url", "must be an http(s) URL")
            if call.fetch_url is None:
                raise KlingError.invalid("video_url", "this server fetches no URLs: send "
                                         "video_id, the id of one of your results")
            return "video_url", await call.fetch_url("video_url", video_url.strip(),
                                                     MAX_VIDEO_BYTES)
        found = await call.find_video(video_id) if isinstance(video_id, str) and video_id \
            else None
        if found is None or not found.get("storage_key"):
            raise KlingError.invalid("video_id", "is required (or video_url): the id of a "
                                     "video of one of your succeeded tasks")
        return "video_id", await call.storage.read_bytes(str(found["storage_key"]))

    async def store_video(self, field: str, data: bytes, key: str, call: CallContext,
                          spans: tuple[tuple[float, float], ...] = SPANS_S) -> dict[str, Any]:
        """A client's video probed and checked (400 / 1201 naming `field`), its normalized
        copy stored at `key`; what the probe found (`fps`, `frames`, `width`, `height`)."""
        work = self._work()
        try:
            source = work / "source"
            source.write_bytes(data)
            probed = await self._run({
                "kind": "probe", "source_path": str(source), "max_side": MAX_SIDE,
                "max_fps": MAX_FPS, "max_aspect": MAX_ASPECT,
                "max_seconds": max(high for _, high in spans)}, work, "video.mp4")
            check_source(probed, field, spans)
            await call.storage.put_file(key, work / "video.mp4", "video/mp4")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return probed

    async def _init(self, body: dict[str, Any], call: CallContext) -> dict[str, Any]:
        field, data = await self._source(body, call)
        session_id = new_task_id()
        probed = await self.store_video(field, data, _key(session_id, "video.mp4"), call)
        fps, frames = float(probed["fps"]), int(probed["frames"])
        session = {"session_id": session_id, "account_id": call.account_id,
                   "created_at": now_ms(), "fps": fps, "total_frame": frames,
                   "width": int(probed["width"]), "height": int(probed["height"]),
                   "video_key": _key(session_id, "video.mp4"), "clicks": []}
        await save_session(call, session)
        return {"status": 0, "session_id": session_id, "fps": fps,
                "original_duration": round(frames / fps * 1000),
                "width": session["width"], "height": session["height"],
                "total_frame": frames,
                "normalized_video": call.storage.url_for(str(session["video_key"]))}

    async def _masks(self, session: dict[str, Any], call: CallContext, work: Path,
                     kind: str) -> dict[str, Any]:
        video = work / "video.mp4"
        video.write_bytes(await call.storage.read_bytes(str(session["video_key"])))
        return await self._run({"kind": kind, "video_path": str(video),
                                "clicks": session["clicks"]}, work,
                               "masks.npy" if kind == "segment" else "preview")

    async def _answer_frame(self, session: dict[str, Any], frame: int,
                            call: CallContext) -> dict[str, Any]:
        """The element's mask on `frame` after the change; the session saved."""
        import numpy as np

        entries = []
        if session["clicks"]:  # no click left: no element, nothing to segment
            work = self._work()
            try:
                done = await self._masks(session, call, work, "segment")
                masks = np.load(str(done["path"]), mmap_mode="r")
                entries = [mask_entry(np.asarray(masks[frame]))]
            finally:
                shutil.rmtree(work, ignore_errors=True)
        await save_session(call, session)
        return {"status": 0, "session_id": session["session_id"],
                "res": {"frame_index": frame, "rle_mask_list": entries}}

    async def _preview(self, session: dict[str, Any], call: CallContext) -> dict[str, Any]:
        if not session["clicks"]:
            raise KlingError.invalid("session_id", "has no selection: mark the element with "
                                     "add-selection first")
        work = self._work()
        try:
            done = await self._masks(session, call, work, "preview")
            name = uuid.uuid4().hex[:12]
            keys = {}
            for field, path, content_type in (("video", done["video"], "video/mp4"),
                                              ("video_cover", done["cover"], "image/png"),
                                              ("tracking_output", done["tracking"],
                                               "video/mp4")):
                key = _key(session["session_id"], f"preview-{name}-{Path(path).name}")
                await call.storage.put_file(key, Path(path), content_type)
                keys[field] = key
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return {"status": 0, "session_id": session["session_id"],
                "res": {field: call.storage.url_for(key) for field, key in keys.items()}}


async def resolve_selection(stored: dict[str, Any], call: CallContext) -> None:
    """At create: the account's live session, copied into the stored request (the worker
    renders from this copy; a client's own `selection` field is replaced)."""
    stored.pop(SELECTION, None)
    session = await load_session(call, _session_id(stored))
    stored[SELECTION] = {name: session[name] for name in (
        "session_id", "fps", "total_frame", "width", "height", "video_key", "clicks")}
