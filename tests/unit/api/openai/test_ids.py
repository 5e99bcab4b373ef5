"""OpenAI video ids and Kling family names under /v1/videos/ never collide (docs/api.md)."""

from __future__ import annotations

import re

from starlette.routing import compile_path

from openkling.api.openai.router import VideoIdConvertor
from openkling.api.openai.serving import ID_PREFIX, new_video_id
from openkling.core.families import FAMILIES
from openkling.core.ids import new_task_id


def test_video_ids_have_openai_shape_fit_the_task_id_column_and_sort_by_time() -> None:
    ids = [new_video_id() for _ in range(500)]
    assert all(re.fullmatch(r"video_[0-9a-f]{16}", i) for i in ids)
    assert all(len(i) <= 24 for i in ids)  # tasks.id is String(24)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_no_kling_family_name_can_be_an_openai_video_id() -> None:
    pattern = re.compile(VideoIdConvertor.regex)
    names = {path.split("/", 1)[1] for path in FAMILIES}
    assert names and all(not name.startswith(ID_PREFIX) for name in names)
    assert all(pattern.fullmatch(name) is None for name in names)
    assert pattern.fullmatch(new_video_id()) is not None
    assert pattern.fullmatch(new_task_id()) is None  # Kling ids (19 digits) stay Kling's


def test_the_openai_routes_match_only_openai_ids() -> None:
    regex, _, _ = compile_path("/v1/videos/{video_id:openai_video}")
    assert regex.match("/v1/videos/video_0123456789abcdef")
    for family in FAMILIES:
        if family.startswith("videos/"):
            assert regex.match(f"/v1/{family}") is None
    assert regex.match("/v1/videos/video_") is None
    assert regex.match("/v1/videos/1234567890123456789") is None
