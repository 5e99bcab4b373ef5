"""The transformer cache hooks of diffusers, as the `cache` option applies them.

Lives in the model process (imports torch and diffusers). What each hook needs, and why some
are refused (docs/providers.md, "Transformer caches"):

- `first_block` and `mag` hook the first and last transformer block and need diffusers'
  block metadata (`TransformerBlockRegistry`): Wan and Qwen-Image blocks have it; LTX-2's
  blocks do not in diffusers 0.42, so both are refused there at load, naming the option.
- `mag` counts denoising steps per transformer and interpolates its magnitude ratios to the
  call's step count, so it is set up again whenever a call's step count changes; it is
  refused with two experts (Wan 2.2 A14B), where each expert sees only part of the steps.
- `taylorseer` is applied as TaylorSeer's light form: the blocks are skipped on predicted
  steps and the transformer's output projections (`proj_out`, LTX-2's `audio_proj_out`)
  are predicted from a Taylor series of their past outputs. diffusers' default patterns
  (modules named `...attn`) match no module of Wan, so the default would skip nothing.
- FasterCache is not offered: its attention cache and step counter are shared by the
  conditional and unconditional passes that Wan, Qwen-Image and LTX-2 run separately, so
  one pass would reuse the other's attention (and it fails outright on LTX-2 and on two
  experts; docs/benchmarks.md).
"""

from __future__ import annotations

import ast
import importlib
import logging
import re
from typing import Any

import torch

diffusers: Any = importlib.import_module("diffusers")

log = logging.getLogger("openkling.providers.diffusers.cache_hooks")

#: The ModuleList names diffusers' block hooks look for (its `_ALL_TRANSFORMER_BLOCK_IDENTIFIERS`
#: holds these among others).
BLOCK_LISTS = ("blocks", "transformer_blocks", "single_transformer_blocks")
#: The output projections TaylorSeer predicts (video; LTX-2's audio).
OUTPUT_PROJECTIONS = ("proj_out", "audio_proj_out")
#: Hook defaults where the option is left unset.
DEFAULT_THRESHOLDS = {"first_block": 0.05, "mag": 0.06}
#: MagCache's step count until the first call sets the real one.
MAG_PLACEHOLDER_STEPS = 28
_MAG_RESULTS = re.compile(r"MagCache Calibration Results: (\[.*\])")


def blocks_of(transformer: Any) -> list[Any]:
    """The transformer blocks the hooks would wrap, in order."""
    found: list[Any] = []
    for name in BLOCK_LISTS:
        blocks = getattr(transformer, name, None)
        if isinstance(blocks, torch.nn.ModuleList):
            found.extend(blocks)
    return found


def _unregistered_block(transformer: Any) -> str | None:
    """The first block class diffusers has no block metadata for, else None."""
    from diffusers.hooks._helpers import TransformerBlockRegistry

    for block in blocks_of(transformer):
        try:
            TransformerBlockRegistry.get(type(block))
        except ValueError:
            return type(block).__name__
    return None


def check_support(name: str, experts: list[Any]) -> None:
    """Refuse, naming the option, a hook that cannot run on these transformers."""
    if name == "none":
        return
    if not experts:
        raise ValueError("cache: this pipeline has no transformer")
    for transformer in experts:
        kind = type(transformer).__name__
        if not blocks_of(transformer):
            raise ValueError(f"cache: {name!r} found no transformer blocks in {kind}")
        if name in ("first_block", "mag"):
            block = _unregistered_block(transformer)
            if block is not None:
                raise ValueError(
                    f"cache: {name!r} does not support {kind}: diffusers "
                    f"{diffusers.__version__} has no block metadata for {block}; use "
                    "'taylorseer' or 'none'")
        if name == "taylorseer" and not any(
                isinstance(getattr(transformer, p, None), torch.nn.Module)
                for p in OUTPUT_PROJECTIONS):
            raise ValueError(f"cache: 'taylorseer' needs an output projection (proj_out) in "
                             f"{kind}")
    if name == "mag" and len(experts) > 1:
        raise ValueError("cache: 'mag' counts steps per transformer, and each of this "
                         "pipeline's two experts runs only part of them; use 'first_block', "
                         "'taylorseer' or 'none'")


def _option(config: dict[str, Any], key: str, default: Any) -> Any:
    """An option's value, or the hook's default where it is unset (None)."""
    value = config.get(key)
    return default if value is None else value


def hook_config(config: dict[str, Any], steps: int, dtype: torch.dtype,
                transformer: Any) -> Any:
    """The diffusers cache config of the `cache` option for a call of `steps` steps."""
    name = config.get("cache", "none")
    threshold = _option(config, "cache_threshold", DEFAULT_THRESHOLDS.get(name, 0.0))
    if name == "first_block":
        return diffusers.FirstBlockCacheConfig(
            threshold=float(threshold))
    if name == "taylorseer":
        block_pattern = rf"^({'|'.join(BLOCK_LISTS)})\.\d+$"
        outputs = [rf"^{p}$" for p in OUTPUT_PROJECTIONS
                   if isinstance(getattr(transformer, p, None), torch.nn.Module)]
        return diffusers.TaylorSeerCacheConfig(
            cache_interval=int(_option(config, "cache_interval", 5)),
            disable_cache_before_step=int(_option(config, "cache_warmup_steps", 3)),
            max_order=int(_option(config, "cache_max_order", 1)),
            taylor_factors_dtype=dtype,
            skip_predict_identifiers=[block_pattern], cache_identifiers=outputs)
    if name == "mag":
        calibrate = bool(config.get("cache_calibrate"))
        ratios = config.get("cache_mag_ratios")
        return diffusers.MagCacheConfig(
            threshold=float(threshold),
            max_skip_steps=int(_option(config, "cache_max_skip_steps", 3)),
            retention_ratio=float(_option(config, "cache_retention_ratio", 0.2)),
            num_inference_steps=steps, calibrate=calibrate,
            mag_ratios=None if calibrate else [float(r) for r in ratios or ()])
    raise ValueError(f"cache: unknown hook {name!r}")


class _CalibrationLog(logging.Handler):
    """Passes diffusers' MagCache calibration result to openkling's log, with what to set."""

    def emit(self, record: logging.LogRecord) -> None:
        found = _MAG_RESULTS.search(record.getMessage())
        if found is None:
            return
        ratios = [round(float(r), 5) for r in ast.literal_eval(found.group(1))]
        log.warning("MagCache calibration (one denoising pass): set cache_mag_ratios = %s "
                    "and cache_calibrate = false", ratios)


class TransformerCache:
    """The `cache` option on a pipeline's transformers (both experts of Wan 2.2 A14B)."""

    def __init__(self, config: dict[str, Any], experts: list[Any], dtype: torch.dtype) -> None:
        self.name = str(config.get("cache") or "none")
        self.config = config
        self.experts = experts
        self.dtype = dtype
        self.steps: int | None = None
        check_support(self.name, experts)
        if self.name == "mag" and config.get("cache_calibrate"):
            mag_log = logging.getLogger("diffusers.hooks.mag_cache")
            mag_log.setLevel(logging.INFO)
            if not any(isinstance(h, _CalibrationLog) for h in mag_log.handlers):
                mag_log.addHandler(_CalibrationLog())
        self._configs: list[Any] = []
        if self.name == "none":
            return
        # Applied at load, before offload and compile wrap the transformers. MagCache's step
        # count is set per call (prepare): its hooks read the config they share each step.
        for transformer in experts:
            hooked = hook_config(config, MAG_PLACEHOLDER_STEPS, dtype, transformer)
            transformer.enable_cache(hooked)
            self._configs.append(hooked)

    def prepare(self, steps: int) -> None:
        """Before a call of `steps` steps: MagCache's ratios interpolated to that count."""
        if self.name != "mag" or steps == self.steps:
            return
        fresh = hook_config(self.config, steps, self.dtype, None)
        for hooked in self._configs:
            hooked.num_inference_steps = fresh.num_inference_steps
            hooked.mag_ratios = fresh.mag_ratios
        self.steps = steps
