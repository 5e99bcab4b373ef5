"""The tiny image-to-video and text-to-image pipelines through the runner (no model process):
an MP4 checked with PyAV, PNGs of the right count and shape."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
av = pytest.importorskip("av")

from openkling.providers.diffusers.families import (  # noqa: E402 - after the skips
    image2video_call,
    image2video_options,
    image_options,
    images_call,
)
from openkling.providers.diffusers.pipeline import (  # noqa: E402
    GenerationCancelled,
    PipelineRunner,
)
from openkling.providers.diffusers.tiny import TINY_BUILDERS  # noqa: E402

pytestmark = pytest.mark.slow


def load(model: str, data_dir: Path) -> PipelineRunner:
    config = {"model": model, "pipeline": "auto", "device": "cpu", "dtype": "float32",
              "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "none"}
    return PipelineRunner.load(config, data_dir)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def picture(path: Path, size: tuple[int, int]) -> str:
    Image.new("RGB", size, (180, 40, 20)).save(path, format="PNG")
    return str(path)


def probe(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert stream.duration is not None and stream.time_base is not None
        return {"frames": frames, "size": (stream.codec_context.width,
                                           stream.codec_context.height),
                "duration": float(stream.duration * stream.time_base)}


def test_tiny_models_are_labelled_as_noise() -> None:
    for model, (_, readme) in TINY_BUILDERS.items():
        assert readme.startswith(model) and "RANDOM weights" in readme


def test_tiny_image2video_makes_an_mp4_of_the_planned_shape(data_dir: Path,
                                                             tmp_path: Path) -> None:
    runner = load("tiny-random-wan-i2v", data_dir)
    assert type(runner.pipe).__name__ == "WanImageToVideoPipeline"
    options = image2video_options({}, tiny=True)
    call = image2video_call(
        prompt="waves", negative_prompt="", cfg_scale=0.5, mode="std", duration=1,
        image_size=(600, 400), image_path=picture(tmp_path / "first.png", (600, 400)),
        last_image_path=None, seed=3, options=options,
    )
    steps: list[int] = []
    result = runner.generate(call.to_dict(), tmp_path / "v.mp4", lambda s, t: steps.append(s),
                             lambda: False)
    assert steps == [1, 2]
    info = probe(tmp_path / "v.mp4")
    assert info["frames"] == call.num_frames == result["frames"] == 17  # 1 s at 16 fps -> 4k+1
    assert info["size"] == (call.width, call.height)
    assert call.width > call.height  # follows the 3:2 input
    assert info["duration"] == pytest.approx(17 / 16, abs=1e-3)


@pytest.fixture(scope="module")
def image_runner(data_dir: Path) -> PipelineRunner:
    return load("tiny-random-sdxl", data_dir)


@pytest.mark.parametrize("ratio", ["21:9", "3:4"])
def test_tiny_text_to_image_writes_n_pngs_of_the_aspect_ratio(image_runner: PipelineRunner,
                                                              tmp_path: Path, ratio: str) -> None:
    options = image_options({}, tiny=True)
    call = images_call(prompt="a fox", negative_prompt="blur", aspect_ratio=ratio,
                       resolution="1k", n=3, image_path=None, image_fidelity=0.5, seed=1,
                       options=options)
    result = image_runner.generate(call.to_dict(), tmp_path / "img", lambda s, t: None,
                                   lambda: False)
    assert len(result["images"]) == 3
    want_w, want_h = (int(part) for part in ratio.split(":"))
    for name in result["images"]:
        with Image.open(name) as png:
            assert png.format == "PNG"
            assert png.size == (call.width, call.height)
            assert png.width / png.height == pytest.approx(want_w / want_h, rel=0.05)


def test_tiny_image_to_image_from_a_reference(image_runner: PipelineRunner,
                                              tmp_path: Path) -> None:
    options = image_options({}, tiny=True)
    call = images_call(prompt="a fox", negative_prompt=None, aspect_ratio="1:1",
                       resolution="1k", n=2, image_path=picture(tmp_path / "ref.png", (500, 300)),
                       image_fidelity=0.5, seed=1, options=options)
    result = image_runner.generate(call.to_dict(), tmp_path / "img", lambda s, t: None,
                                   lambda: False)
    assert type(image_runner._img2img).__name__ == "StableDiffusionXLImg2ImgPipeline"
    sizes = []
    for name in result["images"]:
        with Image.open(name) as png:
            sizes.append(png.size)
    assert sizes == [(call.width, call.height)] * 2


def _pictures(runner: PipelineRunner, out: Path, **args: Any) -> list[bytes]:
    call = images_call(**{"prompt": "a fox", "negative_prompt": None, "aspect_ratio": "1:1",
                          "resolution": "1k", "n": 2, "image_path": None, "image_fidelity": 0.5,
                          "seed": 1, "options": image_options({}, tiny=True), **args})
    result = runner.generate(call.to_dict(), out, lambda s, t: None, lambda: False)
    pictures = []
    for name in result["images"]:
        with Image.open(name) as png:
            assert png.format == "PNG" and png.size == (call.width, call.height)
            pictures.append(png.tobytes())
    return pictures


def test_image_reference_steers_text_to_image_through_the_tiny_ip_adapter(
        image_runner: PipelineRunner, tmp_path: Path) -> None:
    reference = picture(tmp_path / "ref.png", (300, 200))
    plain = _pictures(image_runner, tmp_path / "plain")
    subject = _pictures(image_runner, tmp_path / "subject", image_path=reference,
                        image_reference="subject")
    face = _pictures(image_runner, tmp_path / "face", image_path=reference,
                     image_reference="face", image_fidelity=0.8)
    assert len(subject) == len(face) == 2
    assert subject != plain and face != plain and face != subject
    # The adapter is taken off after each reference call: the same plain call, the same
    # pictures; and a reference at fidelity 0 adds nothing at all.
    assert _pictures(image_runner, tmp_path / "again") == plain
    assert _pictures(image_runner, tmp_path / "zero", image_path=reference,
                     image_reference="face", image_fidelity=0.0) == plain
    assert image_runner.pipe.image_encoder is None
    assert image_runner.pipe.unet.encoder_hid_proj is None


def test_an_unreadable_reference_adapter_fails_the_call_naming_the_option(
        image_runner: PipelineRunner, tmp_path: Path) -> None:
    folder = tmp_path / "no-adapter-here"
    folder.mkdir()
    options = image_options({"reference_adapter": str(folder)}, tiny=True)
    call = images_call(prompt="a fox", negative_prompt=None, aspect_ratio="1:1",
                       resolution="1k", n=1, image_path=picture(tmp_path / "ref.png", (300, 300)),
                       image_fidelity=0.5, image_reference="face", seed=1, options=options)
    with pytest.raises(ValueError) as info:
        image_runner.generate(call.to_dict(), tmp_path / "img", lambda s, t: None,
                              lambda: False)
    message = str(info.value)
    assert message.startswith("could not read the IP-Adapter's image encoder")
    assert "images.reference_adapter" in message and str(tmp_path) not in message
    # Nothing was attached: the next plain call runs as before.
    assert image_runner.pipe.image_encoder is None
    _pictures(image_runner, tmp_path / "plain")


def test_image_generation_stops_when_cancelled(image_runner: PipelineRunner,
                                               tmp_path: Path) -> None:
    options = image_options({"steps": 20}, tiny=True)
    call = images_call(prompt="a fox", negative_prompt=None, aspect_ratio="1:1",
                       resolution="1k", n=1, image_path=None, image_fidelity=0.5, seed=1,
                       options=options)
    steps: list[int] = []
    with pytest.raises(GenerationCancelled):
        image_runner.generate(call.to_dict(), tmp_path / "img", lambda s, t: steps.append(s),
                              lambda: bool(steps))
    assert steps == [1] and not list(tmp_path.glob("*.png"))
