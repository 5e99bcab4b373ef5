"""Start-up check of the local provider: each way it cannot work gives the reason and a fix;
a host that can run the model passes. The host is described through the check's seams
(packages present, GPU device files, the hub cache, hub reachability)."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkling.providers.diffusers.model_options import parse_options
from openkling.providers.diffusers.preflight import preflight

WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


def check(options: dict[str, object], *, packages: bool = True, gpu: bool = True,
          cached: bool = True, hub: str | None = None) -> str | None:
    return preflight(parse_options(options),
                     find_spec=lambda name: object() if packages else None,
                     has_gpu=lambda: gpu, hub_problem=lambda: hub,
                     cached=lambda model: cached)


def test_without_the_local_extra_the_fix_is_to_install_it_or_relay() -> None:
    problem = check({}, packages=False)
    assert problem is not None
    assert "pip install 'openkling[local]'" in problem and "OPENKLING_PROVIDER=kling" in problem


def test_cuda_without_a_gpu_is_refused_with_alternatives() -> None:
    problem = check({"device": "cuda"}, gpu=False)
    assert problem is not None and "no NVIDIA GPU" in problem and "--device cpu" in problem
    assert check({"device": "cuda"}, gpu=True) is None
    assert check({"device": "auto"}, gpu=False) is None  # falls back to the CPU


def test_uncached_weights_offline_name_the_download_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    problem = check({"model": WAN}, cached=False)
    assert problem is not None
    assert f"huggingface-cli download {WAN}" in problem
    assert "--model tiny-random-wan" in problem and "OPENKLING_PROVIDER=kling" in problem
    assert check({"model": WAN}, cached=True) is None


def test_uncached_weights_and_an_unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    problem = check({"model": WAN}, cached=False, hub="https://huggingface.co is unreachable")
    assert problem is not None and "cannot be reached" in problem
    assert check({"model": WAN}, cached=False, hub=None) is None  # it will download


def test_tiny_model_needs_only_the_packages() -> None:
    assert check({"model": "tiny-random-wan"}, gpu=False, cached=False, hub="down") is None


def test_a_local_folder_must_hold_a_pipeline(tmp_path: Path) -> None:
    problem = check({"model": str(tmp_path)}, cached=False)
    assert problem is not None and "model_index.json" in problem
    (tmp_path / "model_index.json").write_text("{}")
    assert check({"model": str(tmp_path)}, cached=False, hub="down") is None
