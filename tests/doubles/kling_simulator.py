"""KlingSimulatorDouble: a test double of the Kling task API (every family's create, query
and list routes), for testing the relay.

Not a product feature: it exists so tests and benchmarks can exercise the `kling` provider
on loopback. It authenticates like Kling (HS256 JWT: iss, exp, nbf, signature; or a static
key for gateway-style upstreams), limits unfinished tasks per account with 429/1303, moves
tasks submitted -> processing -> succeed/failed on a time schedule, answers queries by task
id, by external_task_id and as pages, POSTs callbacks, serves a real small MP4, and injects
faults on demand (5xx, timeouts, slow answers, dropped connections, 429).

Prompt markers: "[fail]" ends failed, "[reject]" is refused with 400/1301. A task belongs to
its family: queried under another, it is not found. Image families answer `images[{index,
url}]` (`n` PNGs), audio families `audios[{id, url_mp3, url_wav, duration_mp3,
duration_wav}]` (a real MP3 and WAV; video-to-audio also its video), the others
`videos[...]`.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import io
import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

#: Every family path Kling serves (see /work/shared/kling-api.md).
FAMILY_PATHS = ("videos/text2video", "videos/image2video", "videos/omni-video",
                "videos/multi-image2video", "videos/video-extend", "videos/lip-sync",
                "videos/effects", "images/generations", "images/kolors-virtual-try-on",
                "images/omni-image", "images/multi-image2image", "images/editing/expand",
                "videos/avatar/image2video", "videos/multi-elements", "audio/text-to-audio",
                "audio/video-to-audio")
#: Kling's model names (kling-api.md): video, image and try-on models.
MODELS = ("kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1",
          "kling-v2-1-master", "kling-v2-5-turbo", "kling-v2-6", "kling-v3", "kling-video-o1",
          "kling-v2", "kling-v2-new", "kling-image-o1", "kolors-virtual-try-on-v1",
          "kolors-virtual-try-on-v1-5")
#: Models that take any whole duration in 3..15 s.
FLEXIBLE = ("kling-v2-6", "kling-v3", "kling-video-o1")
FAIL_MESSAGE = "Failure to pass the risk control system"


def make_mp4(frames: int = 12, size: int = 64) -> bytes:
    """A real H.264 MP4 (about half a second), made with PyAV."""
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width = size
        stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.zeros((size, size, 3), dtype=np.uint8)
            image[:, :, 0] = (i * 20) % 256
            image[: size // 2, :, 1] = 200
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def make_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A real WAV file: a quiet tone, 16-bit mono."""
    import math
    import struct
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(3000 * math.sin(i / 8)))
                                 for i in range(int(seconds * rate))))
    return buffer.getvalue()


def make_mp3(seconds: float = 0.5) -> bytes:
    """A real MP3 file (made with PyAV's libmp3lame)."""
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=22050)
        stream.layout = "mono"
        samples = int(seconds * 22050)
        tone = (np.sin(np.arange(samples) / 8) * 0.1).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 22050
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def make_png(width: int = 64, height: int = 48) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class SimTask:
    task_id: str
    account: str
    external_task_id: str | None
    prompt: str
    created_at: int  # ms
    processing_at: int
    done_at: int
    fail: bool
    callback_url: str | None
    duration: str
    family: str = "videos/text2video"
    images: int = 1

    def status(self, now: int) -> str:
        if now >= self.done_at:
            return "failed" if self.fail else "succeed"
        return "processing" if now >= self.processing_at else "submitted"

    def updated_at(self, now: int) -> int:
        if now >= self.done_at:
            return self.done_at
        return self.processing_at if now >= self.processing_at else self.created_at


@dataclass
class Faults:
    """One-shot faults, consumed in order by the next matching requests."""

    create: collections.deque[str] = field(default_factory=collections.deque)
    query: collections.deque[str] = field(default_factory=collections.deque)
    download: collections.deque[str] = field(default_factory=collections.deque)


class KlingSimulatorDouble:
    """The upstream double. Times are milliseconds; `processing_after`/`finish_after` in s."""

    def __init__(self, *, access_keys: dict[str, str] | None = None,
                 api_keys: tuple[str, ...] = (), concurrency_limit: int = 5,
                 processing_after: float = 0.5, finish_after: float = 1.5,
                 video: bytes | None = None, slow_seconds: float = 3.0,
                 public_url: str | None = None,
                 families: tuple[str, ...] = FAMILY_PATHS,
                 models: tuple[str, ...] = MODELS) -> None:
        self.access_keys = dict(access_keys or {})
        self.api_keys = set(api_keys)
        self.concurrency_limit = concurrency_limit
        self.processing_after = processing_after
        self.finish_after = finish_after
        self.slow_seconds = slow_seconds
        self.video = video if video is not None else make_mp4()
        self.video_content_type = "video/mp4"
        self.image = make_png()
        self.mp3 = make_mp3()
        self.wav = make_wav()
        #: `progress` while processing, as another openkling reports it (Kling has none).
        self.progress: float | None = None
        #: When set, the `task_result` of every succeeded task (odd answers, for the relay).
        self.result_override: dict[str, Any] | None = None
        self.tasks: dict[str, SimTask] = {}
        self.by_external: dict[tuple[str, str], SimTask] = {}
        self.order: list[SimTask] = []  # oldest first
        self.submits: collections.Counter[str] = collections.Counter()
        self.requests: collections.Counter[str] = collections.Counter()
        self.callbacks_sent: list[tuple[str, str]] = []
        #: Every create body as it arrived on the wire, in order, and the family it went to.
        self.create_bodies: list[dict[str, Any]] = []
        self.create_paths: list[str] = []
        self.faults = Faults()
        #: multi-elements' selection sessions (id -> account) and every selection call.
        self.sessions: dict[str, str] = {}
        self.selection_calls: list[tuple[str, dict[str, Any]]] = []
        self.public_url = public_url
        #: The family paths served (Kling's by default; a test may add one Kling ships).
        self.families = families
        self.models = models
        self._unfinished: dict[str, list[int]] = collections.defaultdict(list)
        #: Most upstream tasks one account had unfinished at once (what 1303 would guard).
        self.peak_unfinished: collections.Counter[str] = collections.Counter()
        self._ids = itertools.count(int(time.time() * 1000) << 20)
        self.auth_failures: list[int] = []
        self.app = self._build()

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def now() -> int:
        return time.time_ns() // 1_000_000

    def task_object(self, task: SimTask, now: int | None = None) -> dict[str, Any]:
        now = self.now() if now is None else now
        status = task.status(now)
        obj: dict[str, Any] = {
            "task_id": task.task_id,
            "task_status": status,
            "task_status_msg": FAIL_MESSAGE if status == "failed" else "",
            "task_info": ({"external_task_id": task.external_task_id}
                          if task.external_task_id else {}),
            "task_result": {},
            "created_at": task.created_at,
            "updated_at": task.updated_at(now),
        }
        if status == "processing" and self.progress is not None:
            obj["progress"] = self.progress
        if status == "succeed" and self.result_override is not None:
            obj["task_result"] = self.result_override
        elif status == "succeed" and task.family.startswith("images/"):
            obj["task_result"] = {"images": [
                {"index": i, "url": f"{self.public_url}/files/i{task.task_id}-{i}.png?sig=x"}
                for i in range(task.images)
            ]}
        elif status == "succeed" and task.family.startswith("audio/"):
            base = f"{self.public_url}/files/a{task.task_id}"
            obj["task_result"] = {"audios": [{
                "id": f"a{task.task_id}", "url_mp3": f"{base}.mp3?sig=x",
                "url_wav": f"{base}.wav?sig=x", "duration_mp3": "0.5", "duration_wav": "0.5",
            }]}
            if task.family == "audio/video-to-audio":
                obj["task_result"]["videos"] = [{
                    "id": f"v{task.task_id}", "duration": "5",
                    "url": f"{self.public_url}/files/v{task.task_id}.mp4?sig=anti-leech"}]
        elif status == "succeed":
            obj["task_result"] = {"videos": [{
                "id": f"v{task.task_id}",
                "url": f"{self.public_url}/files/v{task.task_id}.mp4?sig=anti-leech",
                "duration": task.duration,
            }]}
        return obj

    def _unfinished_count(self, account: str, now: int) -> int:
        heap = self._unfinished[account]
        while heap and heap[0] <= now:
            heapq.heappop(heap)
        return len(heap)

    @staticmethod
    def envelope(data: Any, code: int = 0, message: str = "SUCCEED",
                 status: int = 200) -> JSONResponse:
        return JSONResponse({"code": code, "message": message,
                             "request_id": f"sim-{time.time_ns()}", "data": data},
                            status_code=status)

    def _authenticate(self, request: Request) -> str | JSONResponse:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return self.envelope(None, 1001, "Authorization is empty", 401)
        token = header[7:].strip()
        if token in self.api_keys:
            return f"key:{token[:6]}"
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            secret = self.access_keys[str(unverified.get("iss"))]
        except (jwt.PyJWTError, KeyError):
            self.auth_failures.append(1002)
            return self.envelope(None, 1002, "Authorization is invalid", 401)
        try:
            jwt.decode(token, secret, algorithms=["HS256"],
                       options={"require": ["iss", "exp", "nbf"]})
        except jwt.ExpiredSignatureError:
            self.auth_failures.append(1004)
            return self.envelope(None, 1004, "Authorization is expired", 401)
        except jwt.ImmatureSignatureError:
            self.auth_failures.append(1003)
            return self.envelope(None, 1003, "Authorization is not yet valid", 401)
        except jwt.PyJWTError:
            self.auth_failures.append(1002)
            return self.envelope(None, 1002, "Authorization is invalid", 401)
        return f"ak:{unverified['iss']}"

    async def _fault(self, queue: collections.deque[str]) -> Response | str | None:
        """Apply the next fault: a response to send, "drop", "drop-after" or None."""
        if not queue:
            return None
        fault = queue.popleft()
        if fault == "500":
            return self.envelope(None, 5000, "internal error", 500)
        if fault == "503":
            return self.envelope(None, 5001, "service unavailable", 503)
        if fault == "429":
            return self.envelope(None, 1302, "request too frequent", 429)
        if fault == "timeout":  # longer than any client timeout the tests use
            await asyncio.sleep(self.slow_seconds)
            return self.envelope(None, 5002, "timeout", 504)
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)
            return None
        return fault  # "drop" (before acting), "drop-after"/"slow-after" (act, then drop/wait)

    def _send_callbacks(self, task: SimTask) -> None:
        if not task.callback_url:
            return
        loop = asyncio.get_running_loop()
        now = self.now()
        for at in (task.processing_at, task.done_at):
            loop.call_later(max(0.0, (at - now) / 1000 + 0.01),
                            lambda: loop.create_task(self._callback(task)))

    async def _callback(self, task: SimTask) -> None:
        body = self.task_object(task)
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                await client.post(task.callback_url or "", json=body)
            self.callbacks_sent.append((task.task_id, body["task_status"]))
        except httpx.HTTPError:
            pass

    # -- app --------------------------------------------------------------------------------
    def _build(self) -> FastAPI:
        app = FastAPI()
        sim = self

        def family_of(request: Request) -> str:
            return str(request.scope["route"].path).split("/v1/", 1)[1].split("/{", 1)[0]

        def refusal(family: str, body: dict[str, Any]) -> str | None:
            """Why Kling would refuse this body with 1201, for the fields the relay tests use."""
            prompt = body.get("prompt")
            if family in ("videos/text2video", "images/generations") and (
                    not isinstance(prompt, str) or not prompt.strip()):
                return "prompt is required"
            if family == "videos/image2video" and not (body.get("image")
                                                       or body.get("image_tail")):
                return "image is required"
            model = body.get("model_name") or body.get("model") or "kling-v1"
            if model not in sim.models:
                return f"model_name {model} is invalid"
            durations = [str(d) for d in range(3, 16)] if model in FLEXIBLE else ["5", "10"]
            if family.startswith("videos/") and str(body.get("duration", "5")) not in durations:
                return "duration is invalid"
            return None

        async def create(request: Request) -> Response:
            sim.requests["create"] += 1
            family = family_of(request)
            account = sim._authenticate(request)
            if isinstance(account, Response):
                return account
            fault = await sim._fault(sim.faults.create)
            if isinstance(fault, Response):
                return fault
            if fault == "drop":
                return _DroppedResponse()
            try:
                body = await request.json()
            except ValueError:
                return sim.envelope(None, 1200, "invalid JSON", 400)
            sim.create_bodies.append(body)
            sim.create_paths.append(family)
            prompt = str(body.get("prompt") or "")
            external = body.get("external_task_id") or None
            if external:
                sim.submits[external] += 1
            refused = refusal(family, body)
            if refused is not None:
                return sim.envelope(None, 1201, refused, 400)
            if "[reject]" in prompt:
                return sim.envelope(None, 1301, "prompt violates the content policy", 400)
            if external and (account, external) in sim.by_external:
                return sim.envelope(None, 1201, "external_task_id already exists", 400)
            now = sim.now()
            if sim._unfinished_count(account, now) >= sim.concurrency_limit:
                return sim.envelope(None, 1303, "parallel task over resource pack limit", 429)
            task = SimTask(
                task_id=str(next(sim._ids)), account=account, external_task_id=external,
                prompt=prompt, created_at=now,
                processing_at=now + int(sim.processing_after * 1000),
                done_at=now + int(sim.finish_after * 1000), fail="[fail]" in prompt,
                callback_url=body.get("callback_url") or None,
                duration=str(body.get("duration", "5")), family=family,
                images=int(body.get("n") or 1),
            )
            sim.tasks[task.task_id] = task
            sim.order.append(task)
            if external:
                sim.by_external[(account, external)] = task
            heapq.heappush(sim._unfinished[account], task.done_at)
            sim.peak_unfinished[account] = max(sim.peak_unfinished[account],
                                               len(sim._unfinished[account]))
            sim._send_callbacks(task)
            if fault == "drop-after":
                return _DroppedResponse()
            if fault == "slow-after":  # accepted, but the answer comes late
                await asyncio.sleep(sim.slow_seconds)
            data = sim.task_object(task, now)
            return sim.envelope({k: data[k] for k in
                                 ("task_id", "task_status", "task_info", "created_at",
                                  "updated_at")})

        async def query(request: Request) -> Response:
            family = family_of(request)
            account = sim._authenticate(request)
            if isinstance(account, Response):
                return account
            fault = await sim._fault(sim.faults.query)
            if isinstance(fault, Response):
                return fault
            if fault in ("drop", "drop-after"):
                return _DroppedResponse()
            external = request.query_params.get("external_task_id")
            if external:
                sim.requests["get"] += 1
                task = sim.by_external.get((account, external))
                if task is None or task.family != family:
                    return sim.envelope(None, 1203, "task not found", 404)
                return sim.envelope(sim.task_object(task))
            sim.requests["list"] += 1
            page = int(request.query_params.get("pageNum", "1"))
            size = int(request.query_params.get("pageSize", "30"))
            now = sim.now()
            mine = [t for t in reversed(sim.order)
                    if t.account == account and t.family == family]
            chunk = mine[(page - 1) * size: page * size]
            return sim.envelope([sim.task_object(t, now) for t in chunk])

        async def query_one(task_or_external: str, request: Request) -> Response:
            sim.requests["get"] += 1
            account = sim._authenticate(request)
            if isinstance(account, Response):
                return account
            fault = await sim._fault(sim.faults.query)
            if isinstance(fault, Response):
                return fault
            if fault in ("drop", "drop-after"):
                return _DroppedResponse()
            family = family_of(request)
            task = sim.tasks.get(task_or_external)
            if task is None or task.account != account:
                task = sim.by_external.get((account, task_or_external))
            if task is None or task.family != family:
                return sim.envelope(None, 1203, "task not found", 404)
            return sim.envelope(sim.task_object(task))

        async def selection(request: Request) -> Response:
            """multi-elements' selection session: answered at once (no task)."""
            account = sim._authenticate(request)
            if isinstance(account, Response):
                return account
            action = str(request.scope["route"].path).rsplit("/", 1)[1]
            body = await request.json()
            sim.selection_calls.append((action, body))
            if action == "init-selection":
                if not (body.get("video_id") or body.get("video_url")):
                    return sim.envelope(None, 1201, "video_id or video_url is required", 400)
                session = str(next(sim._ids))
                sim.sessions[session] = account
                return sim.envelope({"status": 0, "session_id": session, "fps": 24.0,
                                     "original_duration": 5000, "width": 1280, "height": 720,
                                     "total_frame": 120, "normalized_video": ""})
            session = str(body.get("session_id") or "")
            if sim.sessions.get(session) != account:
                return sim.envelope(None, 1201, "session_id is invalid", 400)
            result: dict[str, Any] = {"frame_index": body.get("frame_index", 0),
                                      "rle_mask_list": []}
            if action == "preview-selection":
                result = {"video": f"{sim.public_url}/files/p{session}.mp4",
                          "video_cover": "", "tracking_output": ""}
            return sim.envelope({"status": 0, "session_id": session, "res": result})

        for prefix in ("", "/kling"):
            for action in ("init-selection", "add-selection", "delete-selection",
                           "clear-selection", "preview-selection"):
                app.add_api_route(f"{prefix}/v1/videos/multi-elements/{action}", selection,
                                  methods=["POST"])
            for path in sim.families:
                app.add_api_route(f"{prefix}/v1/{path}", create, methods=["POST"])
                app.add_api_route(f"{prefix}/v1/{path}", query, methods=["GET"])
                app.add_api_route(f"{prefix}/v1/{path}/{{task_or_external}}", query_one,
                                  methods=["GET"])

        @app.get("/files/{name}")
        async def files(name: str) -> Response:
            sim.requests["download"] += 1
            fault = await sim._fault(sim.faults.download)
            if isinstance(fault, Response):
                return fault
            if name.endswith(".png"):
                return Response(sim.image, media_type="image/png")
            if name.endswith(".mp3"):
                return Response(sim.mp3, media_type="audio/mpeg")
            if name.endswith(".wav"):
                return Response(sim.wav, media_type="audio/wav")
            return Response(sim.video, media_type=sim.video_content_type)

        @app.get("/_sim/stats")
        async def stats() -> dict[str, Any]:
            return {"requests": dict(sim.requests), "tasks": len(sim.tasks),
                    "submits_max": max(sim.submits.values(), default=0),
                    "peak_unfinished": dict(sim.peak_unfinished)}

        @app.get("/_sim/tasks")
        async def all_tasks() -> dict[str, Any]:
            """Upstream status-change times, for measuring how stale the relay's view is."""
            return {t.external_task_id or t.task_id: [t.task_id, t.processing_at, t.done_at]
                    for t in sim.order}

        return app


class _DroppedResponse(Response):
    """Promises a body and closes the connection without sending it: a dropped connection."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"1000"),
                                (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"code":', "more_body": True})
        raise ConnectionAbortedError("dropped on purpose by the simulator double")


class RunningSimulator:
    """A simulator served by uvicorn on a loopback port, in a background thread."""

    def __init__(self, sim: KlingSimulatorDouble) -> None:
        self.sim = sim
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        sim.public_url = sim.public_url or self.base_url
        config = uvicorn.Config(sim.app, log_level="critical", access_log=False,
                                lifespan="off", timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def start(self) -> RunningSimulator:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def main() -> None:
    """Run standalone (for the benchmark): `python -m tests.doubles.kling_simulator PORT`."""
    import sys

    port = int(sys.argv[1])
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    processing_after = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    finish_after = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
    sim = KlingSimulatorDouble(api_keys=("bench-key",), concurrency_limit=limit,
                               processing_after=processing_after, finish_after=finish_after,
                               public_url=f"http://127.0.0.1:{port}")
    uvicorn.run(sim.app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="off")


if __name__ == "__main__":
    main()
