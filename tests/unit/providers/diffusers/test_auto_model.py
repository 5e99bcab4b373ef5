"""`model = "auto"`: the best catalogue text-to-video model that fits the GPU memory found at
start-up (weights whole or with model offload, in 85 % of the memory), Wan 2.1 1.3B without a
GPU. The memory reading is passed in, as the GPU's figure would be."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from openkling.cli.models_command import auto_pick
from openkling.providers.diffusers.catalogue import auto_model, offload_for
from openkling.providers.diffusers.gpu_memory import gpu_memory
from openkling.providers.diffusers.model_options import parse_options

WAN21 = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
A14B = "Wan-AI/Wan2.2-T2V-A14B-Diffusers"
GIB = 1024**3
# Wan 2.2 A14B's largest component: one 14,288,491,584-parameter expert in bfloat16.
A14B_EXPERT_BYTES = 14_288_491_584 * 2
# Where that fits in 85 % of the GPU's memory.
A14B_EDGE = A14B_EXPERT_BYTES / 0.85


def test_no_gpu_picks_the_small_default() -> None:
    assert auto_model(None) == WAN21


@pytest.mark.parametrize(("gpu_bytes", "expected"), [
    (int(A14B_EDGE) - 2, WAN21),  # just under the A14B expert's need
    (int(A14B_EDGE) + 2, A14B),   # just over: A14B, with model offload
    (24 * GIB, WAN21),            # a 24 GB card: A14B would need sequential offload
    (80 * GIB, A14B),             # an 80 GB card: A14B whole
    (1 * GIB, WAN21),             # nothing fits: the small default all the same
])
def test_the_best_model_that_fits(gpu_bytes: int, expected: str) -> None:
    assert auto_model(gpu_bytes) == expected


def test_auto_picks_with_the_offload_auto_then_chooses() -> None:
    assert offload_for(A14B, int(A14B_EDGE) + 2) == "model"
    assert offload_for(A14B, 80 * GIB) == "none"


def test_options_resolve_auto_and_take_the_picked_models_defaults() -> None:
    seen: list[Sequence[str]] = []

    def read(devices: Sequence[str]) -> int | None:
        seen.append(list(devices))
        return 80 * GIB

    options = parse_options({"model": "auto", "devices": "0,1"}, gpu_memory=read)
    assert options.model == A14B
    assert seen == [["cuda:0", "cuda:1"]]
    # The published A14B settings (40 steps, guidance 4.0) come with it.
    assert (options.std_steps, options.guidance_default) == (40, 4.0)
    # No model named is `auto` too.
    assert parse_options({}, gpu_memory=lambda devices: None).model == WAN21
    assert parse_options({"device": "cuda"}, gpu_memory=read).model == A14B


def test_a_named_model_is_kept_and_memory_not_read() -> None:
    def read(devices: Sequence[str]) -> int | None:
        raise AssertionError("read memory for a named model")

    assert parse_options({"model": "tiny-random-wan"}, gpu_memory=read).model == \
        "tiny-random-wan"
    assert parse_options({"model_id": WAN21}, gpu_memory=read).model == WAN21


def test_a_cpu_device_has_no_gpu_memory() -> None:
    assert gpu_memory(["cpu"]) is None
    assert gpu_memory(["cuda:0", "cpu"]) is None


def test_models_command_says_what_auto_picks() -> None:
    pick = auto_pick({"devices": "0"}, read=lambda devices: 80 * GIB)
    assert pick == {"model": A14B, "gpu_bytes": 80 * GIB, "devices": ["cuda:0"]}
    assert auto_pick({}, read=lambda devices: None)["model"] == WAN21
