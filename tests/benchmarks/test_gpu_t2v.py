"""benchmarks/gpu_t2v.py on its small CPU path, and the full-size random architecture's size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from openkling.providers.diffusers.options import parse_options  # noqa: E402
from openkling.providers.diffusers.random_models import (  # noqa: E402
    WAN21_T2V_1_3B,
    build_random_wan,
    parameter_counts,
)

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("gpu_t2v", BENCHMARKS / "gpu_t2v.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_full_size_random_wan_has_the_published_parameter_counts() -> None:
    # Built on the meta device: no memory. The published sizes: a "1.3B" transformer
    # (1.42e9 counted), the UMT5-XXL encoder (5.7e9) and the Wan 2.1 VAE (1.27e8).
    counts = parameter_counts(build_random_wan(WAN21_T2V_1_3B, "meta", torch.bfloat16))
    assert 1.3e9 < counts["transformer"] < 1.5e9
    assert 5.6e9 < counts["text_encoder"] < 5.8e9
    assert 1.2e8 < counts["vae"] < 1.35e8


def test_full_size_random_model_keeps_wans_480p_mapping() -> None:
    options = parse_options({"model": "random-wan2.1-1.3b"})
    assert (options.width, options.height, options.fps) == (832, 480, 16)
    assert options.max_sequence_length == 512


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


def test_speedup_rows_run_compile_last_and_all_uses_one_attention_backend() -> None:
    bench = load_benchmark()
    rows = bench.variants(["cache", "cudnn", "flash", "compile"])
    assert [label for label, _ in rows] == ["cache", "cudnn", "flash", "all", "compile"]
    assert dict(rows)["all"] == ["cache", "cudnn", "compile"]
    assert bench.variants(["cache"]) == [("cache", ["cache"])]
