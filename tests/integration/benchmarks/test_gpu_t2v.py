"""benchmarks/gpu_t2v.py on its small CPU path (random-wan-small, a real server)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")


BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def load_benchmark() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("gpu_t2v", BENCHMARKS / "gpu_t2v.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_small_path_reports_direct_openkling_and_speedup_rows(tmp_path: Path) -> None:
    bench = load_benchmark()
    result = bench.main(["--small", "--data-dir", str(tmp_path),
                         "--json", str(tmp_path / "out.json")])
    assert result["call"]["num_frames"] == 9 and result["call"]["width"] == 96
    direct = result["direct"]["2"]
    assert direct["total_s"] >= direct["pipe_s"] > 0
    served = result["openkling"]["2"]
    assert served["bytes"] > 0 and served["duration"] == "4.5"
    assert set(result["speedups"]) == {"plain", "cache"}
    assert all("error" not in row for row in result["speedups"].values())
    assert (tmp_path / "out.json").is_file()
    assert "overhead" in bench.table(result)
    # The image2video and image rows: Kling's 5 s from a 16:9 first frame, and one 1k square.
    i2v, images = result["families"]["i2v"], result["families"]["images"]
    assert "error" not in i2v and "error" not in images
    assert (i2v["width"], i2v["height"], i2v["frames"]) == (96, 64, 9)
    assert (images["width"], images["height"], images["images"]) == (128, 128, 1)
    assert i2v["generate_s"] > 0 and images["generate_s"] > 0
    assert "image2video 5 s" in bench.table(result)


def test_the_ltx2_row_on_the_tiny_ltx2_writes_and_reports_the_sound(tmp_path: Path) -> None:
    """The CPU path of run_gpu.sh's random-ltx2 row: the same flags on the tiny LTX-2."""
    bench = load_benchmark()
    result = bench.main(["--model", "tiny-random-ltx2", "--device", "cpu", "--steps", "2",
                         "--options", "none", "--skip-openkling", "--families", "t2v",
                         "--set", "vae_tiling=false", "--set", "cpu_threads=1",
                         "--data-dir", str(tmp_path)])
    direct = result["direct"]["2"]
    # The tiny LTX-2's 5 s: 11 frames at 2 fps, and 5.5 s of 16 kHz sound in the MP4 (the
    # causal audio VAE keeps a few ms less).
    assert direct["frames"] == 11 and direct["sample_rate"] == 16000
    assert abs(direct["audio_samples"] - 5.5 * 16000) < 160
    assert f"an audio stream of {direct['audio_samples']} samples at 16000 Hz" in (
        bench.table(result))


def test_families_option_refuses_an_unknown_family() -> None:
    bench = load_benchmark()
    with pytest.raises(SystemExit, match="video"):
        bench.main(["--small", "--families", "t2v,video"])


def test_speedup_rows_run_compile_last_and_all_uses_one_attention_backend() -> None:
    bench = load_benchmark()
    rows = bench.variants(["cache", "cudnn", "flash", "compile"])
    assert [label for label, _ in rows] == ["cache", "cudnn", "flash", "all", "compile"]
    assert dict(rows)["all"] == ["cache", "cudnn", "compile"]
    assert bench.variants(["cache"]) == [("cache", ["cache"])]
