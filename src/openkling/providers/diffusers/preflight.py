"""Can this host run the configured model? Asked once at start-up, before any task is taken,
so that a missing extra, a missing GPU or weights that cannot be fetched are one clear ERROR
with the fix, and 503 / 5001 for the model's creates, instead of every task failing later.

Nothing here imports torch or diffusers (the API process stays small): packages are looked
up, the GPU through the driver's device files, the weights in the Hugging Face cache.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

from openkling.providers.diffusers.model_options import BUILT_ON_DEVICE, DiffusersOptions

LOCAL_PACKAGES = ("torch", "diffusers", "transformers", "av")
TRY_INSTEAD = ("try `--model tiny-random-wan` (tiny random weights, noise, any CPU), or relay "
               "to Kling with `OPENKLING_PROVIDER=kling`")


def _has_gpu() -> bool:
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def _hub_reachable(timeout: float = 3.0) -> str | None:
    import httpx

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        httpx.head(endpoint, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{endpoint} is unreachable ({type(exc).__name__})"
    return None


def _cached(model: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "model_index.json")
    return isinstance(found, str)


def preflight(options: DiffusersOptions, *,
              find_spec: Callable[[str], object] = importlib.util.find_spec,
              has_gpu: Callable[[], bool] = _has_gpu,
              hub_problem: Callable[[], str | None] = _hub_reachable,
              cached: Callable[[str], bool] = _cached) -> str | None:
    """None when the model can be loaded here as far as can be told without loading it;
    else the reason and the fix, in one sentence an operator can act on."""
    missing = [name for name in LOCAL_PACKAGES if find_spec(name) is None]
    if missing:
        return (f"the 'local' extra is not installed (missing: {', '.join(missing)}); "
                "install it with `pip install 'openkling[local]'` (`--model tiny-random-wan` "
                "then runs on any CPU), or relay to Kling with `OPENKLING_PROVIDER=kling`")
    if options.device.startswith("cuda") and not has_gpu():
        return (f"device {options.device!r} was asked for but this host has no NVIDIA GPU; "
                f"use `--device cpu` (slow for real models), or {TRY_INSTEAD}")
    if options.is_tiny or options.model in BUILT_ON_DEVICE:
        return None  # built in code: nothing to download
    folder = Path(options.model).expanduser()
    if folder.is_dir():
        if not (folder / "model_index.json").is_file():
            return (f"{folder} is not a diffusers pipeline folder (no model_index.json); "
                    f"point `--model` at one, or {TRY_INSTEAD}")
        return None
    if "/" not in options.model:
        return f"model {options.model!r} is neither a local folder nor a hub id; {TRY_INSTEAD}"
    if cached(options.model):
        return None
    fetch = (f"download the weights first with `huggingface-cli download {options.model}` on a "
             "host with internet access and copy the Hugging Face cache here (HF_HOME)")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return f"the weights of {options.model} are not cached and HF_HUB_OFFLINE is set; " \
               f"{fetch}, or {TRY_INSTEAD}"
    problem = hub_problem()
    if problem:
        return (f"the weights of {options.model} are not cached and the Hugging Face hub "
                f"cannot be reached: {problem}; {fetch}, or {TRY_INSTEAD}")
    return None
