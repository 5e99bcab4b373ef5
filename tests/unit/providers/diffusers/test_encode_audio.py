"""The soundtrack beside the video: an AAC track muxed with PyAV, and clear errors for a
waveform the encoder cannot take."""

from __future__ import annotations

from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
av = pytest.importorskip("av")

from openkling.providers.diffusers.encode import write_mp4  # noqa: E402

FRAMES = np.full((9, 32, 64, 3), 0.5, dtype=np.float32)


def decoded_audio(path: Path) -> tuple[str, int, int, int]:
    with av.open(str(path)) as container:
        [stream] = container.streams.audio
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, stream.sample_rate, stream.channels, samples


@pytest.mark.parametrize("channels", [1, 2])
def test_a_waveform_becomes_an_aac_track_of_its_length(tmp_path: Path, channels: int) -> None:
    rate = 16000
    seconds = 9 / 2  # the video: 9 frames at 2 fps
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    wave = np.stack([tone] * channels)[None]  # (1, channels, samples), as LTX-2 returns it
    encoded = write_mp4(FRAMES, tmp_path / "a.mp4", fps=2, audio=wave[0], sample_rate=rate)
    assert (encoded.audio_samples, encoded.sample_rate) == (len(t), rate)
    codec, got_rate, got_channels, samples = decoded_audio(tmp_path / "a.mp4")
    assert (codec, got_rate, got_channels) == ("aac", rate, channels)
    # AAC pads to whole 1024-sample frames (and its priming is trimmed): within one frame.
    assert abs(samples - len(t)) <= 1024


def test_without_audio_the_mp4_is_silent(tmp_path: Path) -> None:
    encoded = write_mp4(FRAMES, tmp_path / "v.mp4", fps=2)
    assert encoded.audio_samples == 0
    with av.open(str(tmp_path / "v.mp4")) as container:
        assert not container.streams.audio


@pytest.mark.parametrize(("shape", "rate", "message"), [
    ((3, 100), 16000, "mono or stereo"),  # three channels
    ((2, 0), 16000, "mono or stereo"),  # no samples
    ((2, 100), 0, "sample rate"),
])
def test_a_waveform_it_cannot_take_is_refused_and_leaves_no_file(
    tmp_path: Path, shape: tuple[int, int], rate: int, message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        write_mp4(FRAMES, tmp_path / "x.mp4", fps=2, audio=np.zeros(shape), sample_rate=rate)
    assert list(tmp_path.iterdir()) == []
