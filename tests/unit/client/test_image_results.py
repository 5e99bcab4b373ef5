"""Image tasks: `task_result.images[{index, url}]` and where `images.download` saves them."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkling.client import Image, KlingClient, KlingClientError, Task, _base

from .doubles import RecordingServerDouble


def _task(status: str = "succeed", images: list[dict[str, object]] | None = None) -> Task:
    return Task.model_validate({"task_id": "77", "task_status": status,
                                "task_result": {"images": images or []}})


def test_images_are_read_from_the_task_result() -> None:
    task = _task(images=[{"index": 1, "url": "/files/b.png"}, {"index": 0, "url": "/a.png"}])
    assert [image.index for image in task.images] == [1, 0]
    assert task.videos == []
    assert [image.index for image in _base.pick_images(task)] == [0, 1]


def test_each_image_gets_task_id_and_index_in_the_folder(tmp_path: Path) -> None:
    image = Image(index=3, url="/x.png")
    assert _base.image_path(tmp_path / "new", "77", image) == tmp_path / "new" / "77_3.png"
    assert _base.image_path(None, "77", image) == Path.cwd() / "77_3.png"


@pytest.mark.parametrize(("task", "words"), [
    (_task("processing"), "is processing, not succeed"),
    (_task("succeed"), "lists no image"),
])
def test_nothing_to_download_is_said_clearly(task: Task, words: str, tmp_path: Path) -> None:
    server = RecordingServerDouble(task.to_wire())
    with KlingClient(base_url="http://127.0.0.1:1", api_key="k", transport=server) as client:
        with pytest.raises(KlingClientError, match=words):
            client.images.download(task, tmp_path)
        with pytest.raises(KlingClientError, match=words):
            client.images.download("77", tmp_path)  # looked up first
    assert list(tmp_path.iterdir()) == []
