"""The tiny random Wan pipeline, the in-process runner and the MP4 encoder (no model process)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from openkling.providers.diffusers.encode import to_uint8, write_mp4
from openkling.providers.diffusers.model_options import parse_options
from tests.support.diffusers import probe

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from openkling.providers.diffusers.pipeline import (  # noqa: E402 - needs torch
    GenerationCancelled,
    PipelineRunner,
    resolve_dtype,
)
from openkling.providers.diffusers.tiny import README, ensure_saved  # noqa: E402


def test_tiny_model_is_saved_small_labelled_and_loads_as_a_wan_pipeline(tmp_path: Path) -> None:
    folder = ensure_saved(tmp_path / "tiny-random-wan")
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 1_000_000
    assert (folder / "README.txt").read_text() == README
    assert "RANDOM weights" in README and "noise" in README
    assert (folder / "tokenizer" / "tokenizer.json").is_file()
    pipe = diffusers.DiffusionPipeline.from_pretrained(str(folder))
    assert type(pipe).__name__ == "WanPipeline"
    # Saved once: a second call reuses the folder.
    stamp = (folder / "model_index.json").stat().st_mtime_ns
    ensure_saved(folder)
    assert (folder / "model_index.json").stat().st_mtime_ns == stamp


def test_tokenizer_knows_every_byte(tmp_path: Path) -> None:
    from openkling.providers.diffusers.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    ids = tokenizer("un renard roux 🦊", padding="max_length", max_length=32).input_ids
    assert tokenizer.unk_token_id not in ids
    assert ids[-1] == tokenizer.pad_token_id


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> PipelineRunner:
    options = parse_options({"model": "tiny-random-wan", "device": "cpu"})
    return PipelineRunner.load(options.load_config(), tmp_path_factory.mktemp("data"))


CALL = {
    "prompt": "a fox", "negative_prompt": "blur", "width": 80, "height": 48, "num_frames": 17,
    "num_inference_steps": 3, "guidance_scale": 5.0, "fps": 16, "seed": 3,
    "max_sequence_length": 32,
}


def test_runner_generates_and_encodes(runner: PipelineRunner, tmp_path: Path) -> None:
    steps: list[tuple[int, int]] = []
    result = runner.generate(CALL, tmp_path / "v.mp4", lambda s, t: steps.append((s, t)),
                             lambda: False)
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert result["frames"] == 17 and (result["width"], result["height"]) == (80, 48)
    info = probe(tmp_path / "v.mp4")
    assert info["codec"] == "h264" and info["frames"] == 17


def test_runner_stops_between_steps_when_cancelled(runner: PipelineRunner,
                                                   tmp_path: Path) -> None:
    steps: list[int] = []
    with pytest.raises(GenerationCancelled):
        runner.generate({**CALL, "num_inference_steps": 50}, tmp_path / "v.mp4",
                        lambda s, t: steps.append(s), lambda: bool(steps))
    assert steps == [1]
    assert not (tmp_path / "v.mp4").exists()


def test_first_block_cache_option_applies(tmp_path: Path) -> None:
    options = parse_options({"model": "tiny-random-wan", "device": "cpu",
                             "cache": "first_block", "vae_tiling": True})
    runner = PipelineRunner.load(options.load_config(), tmp_path)
    assert runner.pipe.transformer.is_cache_enabled
    result = runner.generate(CALL, tmp_path / "v.mp4", lambda s, t: None, lambda: False)
    assert result["frames"] == 17


def test_cpu_threads_leave_a_core_for_the_api() -> None:
    from openkling.providers.diffusers.pipeline import cpu_threads

    assert cpu_threads(3) == 3
    assert cpu_threads(None) == max(1, len(os.sched_getaffinity(0)) - 1)


def test_auto_precision() -> None:
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16


def test_encoder_writes_h264_yuv420p(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).random((33, 48, 64, 3), dtype=np.float32)
    video = write_mp4(frames, tmp_path / "out.mp4", fps=16)
    assert video.duration == 33 / 16
    info = probe(tmp_path / "out.mp4")
    assert info == {"codec": "h264", "pix_fmt": "yuv420p", "frames": 33, "size": (64, 48),
                    "fps": 16.0, "duration": pytest.approx(33 / 16, abs=1e-3)}
    assert not list(tmp_path.glob("*.partial"))


def test_encoder_rejects_what_is_not_rgb_video(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RGB frames"):
        write_mp4(np.zeros((4, 16, 16)), tmp_path / "x.mp4", fps=16)
    assert to_uint8(np.array([[[1.0, 0.5, 0.0]]])).tolist() == [[[255, 128, 0]]]
