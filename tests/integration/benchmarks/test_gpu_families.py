"""benchmarks/gpu_families.py on its small CPU path: one row per family from the tiny test
models, through each family's mapping and the runner's generate (what the GPU script runs at
full size)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
#: The families the local diffusers provider serves beyond text2video, image2video and images,
#: and images' reference row.
FAMILIES = {"audio/text-to-audio", "videos/video-extend", "videos/multi-image2video",
            "videos/omni-video", "videos/multi-elements", "images/editing/expand",
            "images/multi-image2image", "images/omni-image",
            "images/generations (image_reference)"}


def load_benchmark() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("gpu_families", BENCHMARKS / "gpu_families.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_small_path_writes_a_row_per_family(tmp_path: Path) -> None:
    bench = load_benchmark()
    threads = torch.get_num_threads()
    try:
        result = bench.main(["--small", "--data-dir", str(tmp_path),
                             "--json", str(tmp_path / "out.json")])
    finally:
        torch.set_num_threads(threads)
    rows = json.loads((tmp_path / "out.json").read_text())["families"]
    assert set(rows) == FAMILIES
    assert rows == result["families"]
    for family, row in rows.items():
        assert "error" not in row, family
        assert row["seconds"] > 0 and row["steps"] == 1 and row["peak_gib"] is None
    # Kling's requests: 10 s of sound; 5 s clips (the tiny VACE at 4 fps: 4 x 5 + 1 frames,
    # 80x48 at 16:9); the source's 21 frames and a 5 s continuation at its rate (8k frames).
    assert rows["audio/text-to-audio"]["sound_s"] == pytest.approx(10.0)
    for family in ("videos/multi-image2video", "videos/omni-video", "videos/multi-elements"):
        assert (rows[family]["width"], rows[family]["height"], rows[family]["frames"]) == (
            80, 48, 21), family
    extend = rows["videos/video-extend"]
    assert (extend["width"], extend["height"]) == (80, 48) and extend["frames"] > 21
    # A 1024x576 picture with a quarter added on each side; one 1:1 picture per edit request.
    expand = rows["images/editing/expand"]
    assert (expand["width"], expand["height"], expand["images"]) == (1536, 864, 1)
    for family in ("images/multi-image2image", "images/omni-image"):
        assert rows[family]["images"] == 1 and rows[family]["width"] == rows[family]["height"]
    # A subject reference: one 1:1 picture at the tiny SDXL's 1k side.
    reference = rows["images/generations (image_reference)"]
    assert (reference["width"], reference["height"], reference["images"]) == (128, 128, 1)
    table = bench.main(["--table", str(tmp_path / "out.json"), str(tmp_path / "gone.json")])
    assert table["families"] == rows
    lines = bench.table(rows).splitlines()  # a header, its rule, a line per family
    assert len(lines) == 2 + len(FAMILIES)
    assert all(any(f"| {family} |" in line for line in lines) for family in FAMILIES)


def test_groups_option_refuses_an_unknown_group() -> None:
    bench = load_benchmark()
    with pytest.raises(SystemExit, match="video"):
        bench.main(["--small", "--groups", "audio,video"])
