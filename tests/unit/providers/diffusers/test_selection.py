"""multi-elements' selection session on this host: the source limits (Kling's 2-5 s or
7-10 s, MP4/MOV; locally sides of 16-2160 px and up to 60 fps, docs/providers.md), Kling's
`points` ({x, y} in 0..1) and `frame_index`, and the masks in Kling's form: a COCO RLE that
pycocotools decodes back to the mask, and a PNG of it."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco

from openkling.core.errors import KlingError
from openkling.providers.diffusers.selection import (
    MAX_POINTS,
    SPANS_S,
    check_frame,
    check_points,
    check_source,
    mask_entry,
)


def probed(**changes: Any) -> dict[str, Any]:
    return {"formats": "mov,mp4,m4a,3gp,3g2,mj2", "fps": 16.0, "frames": 81, "width": 80,
            "height": 48, **changes}


def refused(check: Any, *args: Any) -> str:
    with pytest.raises(KlingError) as info:
        check(*args)
    assert (info.value.http_status, info.value.code) == (400, 1201)
    return info.value.message


@pytest.mark.parametrize(("frames", "fps", "ok"), [
    (49, 24.0, True),    # spans 2.0 s
    (48, 24.0, True),    # spans 1.96 s, plays 2.0 s
    (47, 24.0, False),   # plays 1.96 s
    (121, 24.0, True),   # 5.0 s
    (122, 24.0, False),  # 5.04 s: between Kling's two ranges
    (211, 30.0, True),   # 7.0 s
    (210, 30.0, True),   # spans 6.97 s, plays 7.0 s
    (209, 30.0, False),  # plays 6.97 s
    (601, 60.0, True),   # 10.0 s at 60 fps
    (602, 60.0, False),  # 10.02 s
])
def test_a_source_spans_2_to_5_or_7_to_10_seconds(frames: int, fps: float, ok: bool) -> None:
    if ok:
        check_source(probed(frames=frames, fps=fps))
    else:
        assert refused(check_source, probed(frames=frames, fps=fps)).startswith("video_id: ")


@pytest.mark.parametrize(("size", "ok"), [
    ((16, 16), True), ((15, 48), False), ((80, 15), False),
    ((2160, 2160), True), ((2162, 1080), False), ((1080, 2162), False),
])
def test_sides_are_16_to_2160_pixels(size: tuple[int, int], ok: bool) -> None:
    source = probed(width=size[0], height=size[1])
    if ok:
        check_source(source)
    else:
        assert "each side" in refused(check_source, source)


def test_the_sides_checked_are_the_sources_not_the_normalized_copys() -> None:
    check_source(probed(width=1280, height=720, source_width=1920, source_height=1080))
    assert "2400x1350" in refused(check_source, probed(width=1280, height=720,
                                                       source_width=2400, source_height=1350))


@pytest.mark.parametrize(("frames", "fps", "spans", "ok"), [
    (90, 30.0, ((3.0, 10.0),), True),  # plays 3.0 s though its frames span 2.97 s
    (89, 30.0, ((3.0, 10.0),), False),
    (301, 30.0, ((3.0, 10.0),), True),  # spans exactly 10 s
    (302, 30.0, ((3.0, 10.0),), False),
    (60, 30.0, SPANS_S, True),  # multi-elements: plays 2.0 s
])
def test_a_clip_may_last_its_span_or_its_frames_over_the_rate(
        frames: int, fps: float, spans: tuple[tuple[float, float], ...], ok: bool) -> None:
    source = probed(frames=frames, fps=fps)
    if ok:
        check_source(source, "video_url", spans)
    else:
        assert "its frames span" in refused(check_source, source, "video_url", spans)


@pytest.mark.parametrize(("size", "ok"), [((2160, 720), True), ((720, 2160), True),
                                          ((2160, 719), False), ((48, 16), True),
                                          ((49, 16), False)])
def test_a_source_is_at_most_3_to_1(size: tuple[int, int], ok: bool) -> None:
    source = probed(width=size[0], height=size[1])
    if ok:
        check_source(source)
    else:
        assert "at most 3:1" in refused(check_source, source)


def test_the_frame_rate_is_at_most_60_and_the_container_mp4_or_mov() -> None:
    check_source(probed(fps=60.0, frames=301))
    assert "60 fps" in refused(check_source, probed(fps=61.0, frames=306))
    assert "MP4 or MOV" in refused(check_source, probed(formats="matroska,webm"))
    assert "readable" in refused(check_source, {"error": "no video stream"})


def test_points_are_1_to_10_shares_of_the_frame() -> None:
    assert check_points([{"x": 0, "y": 1}]) == [{"x": 0.0, "y": 1.0}]
    assert len(check_points([{"x": 0.5, "y": 0.5}] * MAX_POINTS)) == MAX_POINTS == 10
    for bad in ([], [{"x": 0.5, "y": 0.5}] * 11, [{"x": 1.01, "y": 0.5}],
                [{"x": -0.01, "y": 0.5}], [{"x": 0.5}], [{"x": True, "y": 0.5}],
                [{"x": "0.5", "y": 0.5}], [{"x": 0.5, "y": 0.5, "z": 0}], "0.5,0.5", None):
        assert refused(check_points, bad).startswith("points: ")


def test_the_frame_index_is_a_frame_of_the_video() -> None:
    session = {"total_frame": 81}
    assert check_frame(0, session) == 0 and check_frame(80, session) == 80
    for bad in (81, -1, "3", 2.0, True, None):
        assert refused(check_frame, bad, session).startswith("frame_index: ")


def test_a_mask_round_trips_through_coco_rle_and_png() -> None:
    mask = np.zeros((48, 80), dtype=bool)
    mask[10:30, 20:45] = True
    mask[0, 79] = True  # a corner pixel: column-major order matters
    entry = mask_entry(mask)
    assert entry["object_id"] == 1
    rle = entry["rle_mask"]
    assert rle["size"] == [48, 80] and isinstance(rle["counts"], str)
    decoded = coco.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    assert decoded.shape == (48, 80) and np.array_equal(decoded.astype(bool), mask)
    png = entry["png_mask"]
    assert png["size"] == [48, 80]
    picture = Image.open(io.BytesIO(base64.b64decode(png["base64"])))
    assert picture.format == "PNG" and picture.size == (80, 48)
    assert np.array_equal(np.asarray(picture) == 255, mask)


def test_an_empty_mask_is_an_rle_of_zeros() -> None:
    entry = mask_entry(np.zeros((4, 6), dtype=bool))
    decoded = coco.decode({"size": [4, 6], "counts": entry["rle_mask"]["counts"].encode()})
    assert not decoded.any()
