"""`openkling models`: the catalogue as the configuration serves it (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openkling.cli.main import app


@pytest.fixture(autouse=True)
def _no_outside_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENKLING_CONFIG", raising=False)
    monkeypatch.delenv("OPENKLING_PROVIDER", raising=False)
    monkeypatch.delenv("OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__MODEL", raising=False)


def test_json_lists_each_model_with_the_kling_names_it_serves() -> None:
    result = CliRunner().invoke(app, ["models", "--model", "tiny-random-wan", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    tiny = rows["tiny-random-wan"]
    assert tiny["pipeline"] == "WanPipeline" and tiny["audio"] is False
    assert tiny["families"] == ["videos/text2video"] and tiny["test_model"] == "tiny-random-wan"
    assert "kling-v1" in tiny["kling_models"]["videos/text2video"]
    assert rows["tiny-random-sdxl"]["served"] is True
    assert rows["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"]["served"] is False
    sound = rows["tiny-random-stable-audio"]
    assert sound["served"] is True and sound["families"] == ["audio/text-to-audio"]
    assert sound["kling_models"] == {"audio/text-to-audio": ["kling-v1"]}


def test_json_lists_hunyuanvideo15_and_flux_with_their_tiny_test_models() -> None:
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    expected = {
        "hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v": (
            "HunyuanVideo15Pipeline", ["videos/text2video"], "tiny-random-hunyuanvideo15"),
        "hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v": (
            "HunyuanVideo15ImageToVideoPipeline", ["videos/image2video"],
            "tiny-random-hunyuanvideo15-i2v"),
        "random-hunyuanvideo15": (
            "HunyuanVideo15Pipeline", ["videos/text2video"], "tiny-random-hunyuanvideo15"),
        "black-forest-labs/FLUX.1-dev": (
            "FluxPipeline", ["images/generations"], "tiny-random-flux"),
        "random-flux.1-dev": ("FluxPipeline", ["images/generations"], "tiny-random-flux"),
        "tiny-random-flux": ("FluxPipeline", ["images/generations"], "tiny-random-flux"),
        "black-forest-labs/FLUX.2-dev": (
            "Flux2Pipeline", ["images/generations"], "tiny-random-flux2"),
    }
    for name, (pipeline, families, test_model) in expected.items():
        row = rows[name]
        assert (row["pipeline"], row["families"], row["test_model"], row["audio"]) == (
            pipeline, families, test_model, False), name


def test_a_configured_route_shows_on_its_model(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "openkling.toml"
    config.write_text('[models."kling-v2-1-master"]\nprovider = "diffusers"\n'
                      'options = { model = "random-wan-small" }\n', encoding="utf-8")
    monkeypatch.setenv("OPENKLING_CONFIG", str(config))
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["random-wan-small"]["kling_models"] == {
        "videos/text2video": ["kling-v2-1-master"]}
    wan = rows["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"]["kling_models"]["videos/text2video"]
    assert "kling-v2-1-master" not in wan and "kling-v1" in wan


def test_the_table_names_every_model() -> None:
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for name in ("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "tiny-random-wan", "tiny-random-sdxl"):
        assert name in result.output


def test_bad_options_are_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENKLING_PROVIDER_OPTIONS__DIFFUSERS__STD_STEPS", "0")
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code != 0
    assert "std_steps" in result.output
