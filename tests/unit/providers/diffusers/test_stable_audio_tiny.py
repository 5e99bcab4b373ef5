"""The tiny Stable Audio Open through the runner: saved, loaded, one sound of the asked
duration written as a WAV and an MP3, both decoded here."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
av = pytest.importorskip("av")

from openkling.providers.diffusers.families import audio_options, text_to_audio_call  # noqa: E402
from openkling.providers.diffusers.pipeline import (  # noqa: E402
    GenerationCancelled,
    PipelineRunner,
)
from openkling.providers.diffusers.tiny import STABLE_AUDIO_SAMPLE_RATE  # noqa: E402

pytestmark = pytest.mark.slow

CONFIG = {"model": "tiny-random-stable-audio", "pipeline": "auto", "device": "cpu",
          "dtype": "float32", "cpu_threads": 1, "vae_fp32": True, "cpu_offload": "auto"}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> PipelineRunner:
    threads = torch.get_num_threads()
    try:
        return PipelineRunner.load(CONFIG, tmp_path_factory.mktemp("models"))
    finally:
        torch.set_num_threads(threads)


def test_a_sound_of_the_duration_as_wav_and_mp3(runner: PipelineRunner, tmp_path: Path) -> None:
    assert type(runner.pipe).__name__ == "StableAudioPipeline"
    call = text_to_audio_call({"prompt": "rain on a tin roof", "duration": "3.5"}, seed=1,
                              options=audio_options({}, tiny=True))
    steps: list[tuple[int, int]] = []
    result = runner.generate(call.to_dict(), tmp_path / "sound", lambda s, t: steps.append((s, t)),
                             lambda: False)
    assert steps[-1] == (call.num_inference_steps, call.num_inference_steps)
    rate = STABLE_AUDIO_SAMPLE_RATE
    with wave.open(result["wav"]) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, rate)
        assert wav.getnframes() == 3.5 * rate
    with av.open(result["mp3"]) as mp3:
        [stream] = mp3.streams.audio
        samples = sum(frame.samples for frame in mp3.decode(stream))
        assert (stream.codec_context.name, stream.sample_rate, stream.channels) == (
            "mp3float", rate, 2)
    assert samples == 3.5 * rate  # LAME's padding is trimmed by its gapless header
    assert (result["samples"], result["sample_rate"]) == (3.5 * rate, rate)


def test_cancelled_between_steps(runner: PipelineRunner, tmp_path: Path) -> None:
    call = text_to_audio_call({"prompt": "wind", "duration": 3}, seed=1,
                              options=audio_options({}, tiny=True))
    with pytest.raises(GenerationCancelled):
        runner.generate(call.to_dict(), tmp_path / "sound", lambda s, t: None, iter(
            [False, True, True, True]).__next__)
    assert not list(tmp_path.iterdir())
