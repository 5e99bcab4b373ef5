"""Weight-only quantization of the transformer(s), the `quantization` option.

torchao does the work, through diffusers' own API: `TorchAoConfig` per component in a
`PipelineQuantizationConfig` handed to `from_pretrained` (the weights are quantized as they
load, so the full-precision transformer never sits on the GPU whole). The built-in random
models are built in code, not loaded: their transformers go through torchao's `quantize_`
with the same config, which is what diffusers' quantizer calls per weight.

The checks (`check_quantization`) are plain Python, so the API process runs them at start-up
without torch; the configs import torch, torchao and diffusers (model process only).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from openkling.providers.diffusers.catalogue import QUANTIZED_COMPONENTS

#: The `quantization` values. Weight-only: weights stored in 8 bits (int8 or float8) and
#: dequantized in each matmul; activations keep the pipeline's dtype. No int4: torchao 0.18's
#: Int4WeightOnlyConfig needs the mslk package (its default layout) or quantizes with a CUDA
#: kernel (tinygemm's layout), while diffusers quantizes each weight as it loads, on the CPU
#: unless the whole pipeline is device-mapped to the GPU, which rules out the model offload a
#: small card needs.
QUANTIZATIONS = ("none", "int8wo", "fp8wo")
#: float8 weights need Ada or Hopper (compute capability 8.9 and newer).
FP8_CAPABILITY = (8, 9)
#: The values that need a CUDA GPU.
CUDA_ONLY = ("fp8wo",)


def check_quantization(name: str, device_type: str | None = None,
                       capability: tuple[int, int] | None = None) -> None:
    """Refuse a `quantization` that cannot run here, naming the option.

    `device_type` is 'cpu' or 'cuda' where known ('auto' before the model process resolves
    it: None); `capability` the CUDA GPU's compute capability where known."""
    if name not in QUANTIZATIONS:
        raise ValueError(f"quantization: {name!r} is not one of {', '.join(QUANTIZATIONS)}")
    if name == "none":
        return
    if importlib.util.find_spec("torchao") is None:
        raise ValueError(f"quantization: {name!r} needs torchao (pip install "
                         "'openkling[local]', or pip install 'torchao>=0.15')")
    if name in CUDA_ONLY and device_type is not None and device_type != "cuda":
        raise ValueError(f"quantization: {name!r} needs a CUDA GPU (the device is "
                         f"{device_type}); on a CPU 'int8wo' runs")
    if name == "fp8wo" and capability is not None and capability < FP8_CAPABILITY:
        raise ValueError(
            "quantization: 'fp8wo' needs a GPU of compute capability 8.9 or newer (Ada, "
            f"Hopper); this one is {capability[0]}.{capability[1]}: use 'int8wo'")


def torchao_config(name: str) -> Any:
    """torchao's config for `name` (an AOBaseConfig)."""
    quantization: Any = importlib.import_module("torchao.quantization")
    if name == "int8wo":
        return quantization.Int8WeightOnlyConfig()
    if name == "fp8wo":
        return quantization.Float8WeightOnlyConfig()
    raise ValueError(f"quantization: no torchao config for {name!r}")


def transformer_components(components: dict[str, Any]) -> list[str]:
    """The quantized components a pipeline has: `components` is its model_index.json (an
    absent optional one, such as Wan's transformer_2, is [null, null] there) or its
    `.components` (None there)."""
    return [name for name in QUANTIZED_COMPONENTS
            if components.get(name) not in (None, [None, None], (None, None))]


def pipeline_quantization(name: str, components: list[str]) -> Any:
    """diffusers' PipelineQuantizationConfig quantizing `components` with torchao."""
    diffusers: Any = importlib.import_module("diffusers")
    return diffusers.PipelineQuantizationConfig(quant_mapping={
        component: diffusers.TorchAoConfig(torchao_config(name)) for component in components})


def quantize_built(name: str, transformers: list[Any]) -> None:
    """Quantize already-built transformers in place (the built-in random models)."""
    quantize_: Any = importlib.import_module("torchao.quantization").quantize_
    for transformer in transformers:
        quantize_(transformer, torchao_config(name))
