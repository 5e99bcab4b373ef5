"""The model catalogue: its declarations, the offload rule and the listing per configuration."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from openkling.core.families import (
    EXPAND,
    FAMILIES,
    IMAGE2VIDEO,
    IMAGES,
    MULTI_ELEMENTS,
    MULTI_IMAGE2IMAGE,
    MULTI_IMAGE2VIDEO,
    OMNI_IMAGE,
    OMNI_VIDEO,
    TEXT2VIDEO,
    TEXT_TO_AUDIO,
    VIDEO_EXTEND,
)
from openkling.providers.diffusers.catalogue import (
    BY_NAME,
    CATALOGUE,
    GIB,
    listing,
    makes_audio,
    offload_for,
)

WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


def every_name() -> dict[str, dict[str, Any]]:
    """Every Kling name of the local families, routed with no options (the default setup)."""
    return {name: {} for family in (TEXT2VIDEO, IMAGE2VIDEO, IMAGES)
            for name in (*FAMILIES[family].models, FAMILIES[family].default_model)}


def test_every_model_names_a_real_pipeline_and_a_built_in_test_model() -> None:
    from openkling.providers.diffusers.random_models import ARCHITECTURES, BUILDERS
    from openkling.providers.diffusers.tiny import TINY_BUILDERS

    diffusers = importlib.import_module("diffusers")
    for entry in CATALOGUE:
        assert entry.test_model in TINY_BUILDERS, entry.name
        for family, pipeline in entry.pipelines.items():
            assert family in FAMILIES and FAMILIES[family].path == family
            assert issubclass(getattr(diffusers, pipeline), diffusers.DiffusionPipeline)
        if entry.built_in:
            assert entry.name in TINY_BUILDERS or entry.name in ARCHITECTURES or (
                entry.name in BUILDERS), entry.name


@pytest.mark.slow
def test_parameter_counts_are_those_of_the_published_architectures() -> None:
    """A 'meta' build (no memory) of each architecture counts what the catalogue declares."""
    from openkling.providers.diffusers import random_models as rm

    builds = {WAN: rm.build_random_wan(rm.WAN21_T2V_1_3B, "meta"),
              "Wan-AI/Wan2.2-TI2V-5B-Diffusers": rm.build_random_wan(rm.WAN22_TI2V_5B, "meta"),
              "stabilityai/stable-diffusion-xl-base-1.0": rm.build_random_sdxl(
                  rm.SDXL_BASE_1_0, "meta"),
              "random-wan2.2-a14b": rm.build_random_wan(rm.WAN22_T2V_A14B, "meta"),
              "stabilityai/stable-audio-open-1.0": rm.build_random_stable_audio("meta"),
              "Wan-AI/Wan2.1-VACE-1.3B-diffusers": rm.build_random_wan(rm.WAN21_VACE_1_3B,
                                                                       "meta"),
              "Lightricks/LTX-Video-0.9.5": rm.build_random_ltx_video("meta")}
    for name, pipe in builds.items():
        assert BY_NAME[name].parameters == rm.parameter_counts(pipe), name
    assert BY_NAME["random-wan2.1-1.3b"].parameters == BY_NAME[WAN].parameters
    edit = rm.build_qwen_image_edit_plus_parts("meta")
    assert BY_NAME["Qwen/Qwen-Image-Edit-2509"].parameters == {
        name: sum(p.numel() for p in part.parameters()) for name, part in edit.items()}
    assert BY_NAME["random-wan2.1-vace-1.3b"].parameters == (
        BY_NAME["Wan-AI/Wan2.1-VACE-1.3B-diffusers"].parameters)
    # VACE adds 15 blocks (every second of 30 layers) to Wan 2.1 1.3B's transformer.
    assert type(builds["Wan-AI/Wan2.1-VACE-1.3B-diffusers"]).__name__ == "WanVACEPipeline"
    assert builds["Wan-AI/Wan2.1-VACE-1.3B-diffusers"].transformer.config.vace_layers == list(
        range(0, 30, 2))
    assert BY_NAME["Wan-AI/Wan2.2-T2V-A14B-Diffusers"].parameters == (
        BY_NAME["random-wan2.2-a14b"].parameters)
    # Each expert is a 14B transformer: A14B's "14B active" of 27B.
    assert 14e9 < BY_NAME["random-wan2.2-a14b"].parameters["transformer_2"] < 14.5e9


@pytest.mark.slow
def test_hunyuanvideo15_and_flux_counts_are_those_of_their_meta_builds() -> None:
    transformers = importlib.import_module("transformers")
    torch = importlib.import_module("torch")
    from openkling.providers.diffusers import random_models as rm

    hunyuan = rm.parameter_counts(rm.build_random_hunyuanvideo15("meta"))
    flux = rm.parameter_counts(rm.build_random_flux("meta"))
    for name in ("hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v", "random-hunyuanvideo15"):
        assert BY_NAME[name].parameters == hunyuan, name
    for name in ("black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-schnell",
                 "random-flux.1-dev"):
        assert BY_NAME[name].parameters == flux, name
    with torch.device("meta"):
        siglip = transformers.SiglipVisionModel(
            transformers.SiglipVisionConfig(**rm.SIGLIP_SO400M_384))
    assert BY_NAME["hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v"].parameters == {
        **hunyuan, "image_encoder": sum(p.numel() for p in siglip.parameters())}
    flux2 = {name: sum(p.numel() for p in part.parameters())
             for name, part in rm.build_flux2_dev_parts("meta").items()}
    assert BY_NAME["black-forest-labs/FLUX.2-dev"].parameters == flux2
    assert 32e9 < flux2["transformer"] < 32.5e9  # FLUX.2 [dev]'s 32B
    # The published sizes: an 8.3B video transformer, a 12B image one.
    assert 8.2e9 < hunyuan["transformer"] < 8.4e9 and 11.8e9 < flux["transformer"] < 12e9


def test_memory_estimates_follow_the_documented_rule() -> None:
    # Wan 2.1 1.3B: transformer 1.419e9 and UMT5-XXL 5.681e9 parameters in bfloat16, the VAE
    # (1.27e8) in float32: 2 * 7.1e9 + 4 * 1.27e8 bytes = 13.7 GiB; offloaded, the encoder
    # alone: 10.6 GiB.
    row = next(r for r in listing({}, every_name()) if r["name"] == WAN)
    assert (row["memory_gib"], row["memory_offload_gib"]) == (13.7, 10.6)
    assert row["memory_measured"] is False and "estimate" in row["memory_note"]


def test_offload_is_none_on_the_cpu_and_for_models_outside_the_catalogue() -> None:
    assert offload_for(WAN, None) == "none"
    assert offload_for("someone/else", 8 * GIB) == "none"


def test_offload_steps_up_as_the_gpu_shrinks() -> None:
    wan = BY_NAME[WAN]
    whole, largest = wan.memory_bytes(offload=False), wan.memory_bytes(offload=True)
    # The weights may take 85 % of the GPU's memory: both sides of each boundary.
    assert offload_for(WAN, int(whole / 0.85) + 1) == "none"
    assert offload_for(WAN, int(whole / 0.85) - 1024) == "model"
    assert offload_for(WAN, int(largest / 0.85) + 1) == "model"
    assert offload_for(WAN, int(largest / 0.85) - 1024) == "sequential"
    assert offload_for(WAN, 80 * GIB) == "none"  # an H100
    assert offload_for(WAN, 12 * GIB) == "sequential"


def test_the_tiny_wan_setup_renders_audio_on_the_tiny_stable_audio() -> None:
    rows = {r["name"]: r for r in listing({"model": "tiny-random-wan"}, every_name())}
    assert rows["tiny-random-stable-audio"]["served"] is True
    assert rows["tiny-random-stable-audio"]["families"] == [TEXT_TO_AUDIO]
    assert rows["tiny-random-stable-audio"]["pipeline"] == "StableAudioPipeline"


def test_the_tiny_wan_setup_renders_multi_image2video_and_omni_video_on_the_tiny_wan_vace(
) -> None:
    for text_model in ("tiny-random-wan", "tiny-random-ltx2", "tiny-random-wan2.2-a14b",
                       "tiny-random-hunyuanvideo15"):
        rows = {r["name"]: r for r in listing({"model": text_model}, every_name())}
        row = rows["tiny-random-wan-vace"]
        assert row["served"] is True, text_model
        assert (row["families"], row["pipeline"]) == (
            [MULTI_IMAGE2VIDEO, OMNI_VIDEO, MULTI_ELEMENTS], "WanVACEPipeline")
        assert set(row["kling_models"][MULTI_IMAGE2VIDEO]) == set(
            FAMILIES[MULTI_IMAGE2VIDEO].models)
        assert set(row["kling_models"][OMNI_VIDEO]) == set(FAMILIES[OMNI_VIDEO].models)
        # multi-elements repaints with the same Wan VACE (its segmenter is SAM 2).
        assert row["kling_models"][MULTI_ELEMENTS] == ["kling-v1-6"]


def test_the_tiny_wan_setup_edits_several_images_on_the_tiny_qwen_image_edit_plus() -> None:
    for text_model in ("tiny-random-wan", "tiny-random-ltx2", "tiny-random-wan2.2-a14b",
                       "tiny-random-hunyuanvideo15"):
        rows = {r["name"]: r for r in listing({"model": text_model}, every_name())}
        row = rows["tiny-random-qwen-image-edit-plus"]
        assert row["served"] is True, text_model
        assert (row["families"], row["pipeline"]) == (
            [MULTI_IMAGE2IMAGE, OMNI_IMAGE], "QwenImageEditPlusPipeline")
        assert set(row["kling_models"][MULTI_IMAGE2IMAGE]) == set(
            FAMILIES[MULTI_IMAGE2IMAGE].models)
        assert row["kling_models"][OMNI_IMAGE] == ["kling-image-o1"]


def test_the_tiny_hunyuan_setup_serves_image2video_on_its_twin_and_images_on_flux() -> None:
    routes = {**every_name(), "kling-v2": {"images": {"model": "tiny-random-flux"}}}
    rows = {r["name"]: r for r in listing({"model": "tiny-random-hunyuanvideo15"}, routes)}
    text = rows["tiny-random-hunyuanvideo15"]
    assert (text["pipeline"], text["fps"], text["frame_step"]) == (
        "HunyuanVideo15Pipeline", 4, 4)
    assert set(text["kling_models"][TEXT2VIDEO]) == set(FAMILIES[TEXT2VIDEO].models)
    twin = rows["tiny-random-hunyuanvideo15-i2v"]
    assert twin["pipeline"] == "HunyuanVideo15ImageToVideoPipeline"
    assert set(twin["kling_models"][IMAGE2VIDEO]) == set(FAMILIES[IMAGE2VIDEO].models)
    flux = rows["tiny-random-flux"]
    assert (flux["pipeline"], flux["families"]) == ("FluxPipeline", [IMAGES])
    assert flux["kling_models"] == {IMAGES: ["kling-v2"]}
    for name in ("random-hunyuanvideo15", "random-flux.1-dev"):
        assert rows[name]["built_in"] is True and rows[name]["memory_gib"] is not None


def test_the_tiny_wan_setup_outpaints_on_the_tiny_qwen_image() -> None:
    rows = {r["name"]: r for r in listing({"model": "tiny-random-wan"}, every_name())}
    row = rows["tiny-random-qwen-image"]
    assert row["served"] is True and EXPAND in row["families"]
    assert row["kling_models"] == {EXPAND: [FAMILIES[EXPAND].default_model]}


def test_the_tiny_wan_setup_extends_videos_on_the_tiny_ltx_video() -> None:
    rows = {r["name"]: r for r in listing({"model": "tiny-random-wan"}, every_name())}
    row = rows["tiny-random-ltx-video"]
    assert row["served"] is True and row["families"] == [VIDEO_EXTEND]
    assert row["kling_models"] == {VIDEO_EXTEND: [FAMILIES[VIDEO_EXTEND].default_model]}


def test_only_the_ltx2_models_make_sound() -> None:
    assert {entry.name for entry in CATALOGUE if makes_audio(entry.name)} == {
        "tiny-random-ltx2", "tiny-random-ltx2-i2v", "random-ltx2"}
    assert not makes_audio("someone/else")


def test_the_default_setup_serves_every_kling_name_on_the_seven_defaults() -> None:
    rows = {r["name"]: r for r in listing({}, every_name())}
    assert {name for name, row in rows.items() if row["served"]} == {
        WAN, "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "stabilityai/stable-diffusion-xl-base-1.0",
        "stabilityai/stable-audio-open-1.0", "Qwen/Qwen-Image",
        "Wan-AI/Wan2.1-VACE-1.3B-diffusers", "Lightricks/LTX-Video-0.9.5",
        "Qwen/Qwen-Image-Edit-2509"}
    assert set(rows["Qwen/Qwen-Image-Edit-2509"]["kling_models"][MULTI_IMAGE2IMAGE]) == (
        set(FAMILIES[MULTI_IMAGE2IMAGE].models))
    assert rows["Qwen/Qwen-Image-Edit-2509"]["kling_models"][OMNI_IMAGE] == ["kling-image-o1"]
    assert set(rows["Wan-AI/Wan2.1-VACE-1.3B-diffusers"]["kling_models"][MULTI_IMAGE2VIDEO]) == (
        set(FAMILIES[MULTI_IMAGE2VIDEO].models))
    assert set(rows["Wan-AI/Wan2.1-VACE-1.3B-diffusers"]["kling_models"][OMNI_VIDEO]) == (
        set(FAMILIES[OMNI_VIDEO].models))
    # Video extension: LTX-Video's condition pipeline, by the model-less route's default name.
    assert rows["Lightricks/LTX-Video-0.9.5"]["kling_models"] == {
        VIDEO_EXTEND: [FAMILIES[VIDEO_EXTEND].default_model]}
    assert rows["Lightricks/LTX-Video-0.9.5"]["pipeline"] == "LTXConditionPipeline"
    # Outpainting's default is listed as configured (its parameter counts are not in the
    # catalogue yet), served by the default name of Kling's model-less route.
    assert rows["Qwen/Qwen-Image"]["kling_models"] == {EXPAND: [FAMILIES[EXPAND].default_model]}
    assert rows["Qwen/Qwen-Image"]["note"] == "configured, not in the catalogue"
    # Kling's text-to-audio route takes no model: the client's create is routed by the
    # default name.
    assert rows["stabilityai/stable-audio-open-1.0"]["kling_models"] == {
        TEXT_TO_AUDIO: [FAMILIES[TEXT_TO_AUDIO].default_model]}
    assert set(rows[WAN]["kling_models"][TEXT2VIDEO]) == set(FAMILIES[TEXT2VIDEO].models)
    assert set(rows["stabilityai/stable-diffusion-xl-base-1.0"]["kling_models"][IMAGES]) == (
        set(FAMILIES[IMAGES].models) | {FAMILIES[IMAGES].default_model})


def test_a_route_moves_its_kling_name_to_the_model_it_names() -> None:
    routes = {**every_name(), "kling-v2-1-master": {"model": "random-wan-small"},
              "kling-v2-6": {"model": "someone/their-model", "pipeline": "WanPipeline"}}
    rows = {r["name"]: r for r in listing({"model": "tiny-random-wan"}, routes)}
    assert rows["random-wan-small"]["kling_models"] == {TEXT2VIDEO: ["kling-v2-1-master"]}
    assert "kling-v2-1-master" not in rows["tiny-random-wan"]["kling_models"][TEXT2VIDEO]
    assert "kling-v1" in rows["tiny-random-wan"]["kling_models"][TEXT2VIDEO]
    other = rows["someone/their-model"]
    assert other["kling_models"] == {TEXT2VIDEO: ["kling-v2-6"]}
    assert other["pipeline"] == "WanPipeline" and other["test_model"] is None
    assert rows[WAN]["served"] is False


def test_every_row_has_the_fields_the_cli_promises() -> None:
    for row in listing({}, every_name()):
        assert {"name", "pipeline", "families", "audio", "test_model"} <= set(row)


def test_auto_offload_is_none_on_the_cpu_and_an_explicit_choice_stands() -> None:
    import torch

    from openkling.providers.diffusers.pipeline import resolve_offload

    cpu = torch.device("cpu")
    assert resolve_offload("auto", WAN, cpu) == "none"
    assert resolve_offload("model", WAN, cpu) == "model"
    assert resolve_offload("none", WAN, cpu) == "none"
