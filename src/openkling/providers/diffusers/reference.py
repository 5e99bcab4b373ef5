"""IP-Adapter for images/generations' `image_reference`, in the model process.

An attached IP-Adapter changes every call of the pipeline (its UNet then needs image
embeddings), so the adapter is attached for a reference call only and taken off after it.
Its weights and image encoder are read once per model process and kept: attaching is then
a copy of tensors already in memory. Imports torch: only the model process imports this.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

transformers: Any = importlib.import_module("transformers")

log = logging.getLogger(__name__)

__all__ = ["ReferenceAdapters"]


def _weights_file(source: str, subfolder: str, name: str) -> str:
    folder = Path(source)
    if folder.is_dir():
        return str(folder / subfolder / name)
    from huggingface_hub import hf_hub_download

    return str(hf_hub_download(source, name, subfolder=subfolder or None))


def _read_weights(path: str, dtype: torch.dtype) -> dict[str, dict[str, torch.Tensor]]:
    """A published IP-Adapter .safetensors as diffusers' loader takes it: its image
    projection and its attention weights apart."""
    from safetensors.torch import load_file

    state: dict[str, dict[str, torch.Tensor]] = {"image_proj": {}, "ip_adapter": {}}
    for key, value in load_file(path).items():
        part, _, name = key.partition(".")
        if part not in state:
            raise ValueError(f"{path}: {key} is not an IP-Adapter weight")
        state[part][name] = value.to(dtype)
    return state


def _unreadable(what: str, name: str, exc: Exception) -> ValueError:
    """The task's message when the adapter cannot be read: which option to fix, without the
    server's paths (the log has the whole error)."""
    log.error("could not read the IP-Adapter's %s %s: %s", what, name, exc)
    return ValueError(f"could not read the IP-Adapter's {what} {name!r} "
                      f"({type(exc).__name__}): check images.reference_adapter and the "
                      "options beside it")


class ReferenceAdapters:
    """The IP-Adapter weights and image encoders this model process has read, by source."""

    def __init__(self, data_dir: Path, device: torch.device, dtype: torch.dtype) -> None:
        self.data_dir = data_dir
        self.device = device
        self.dtype = dtype
        self._weights: dict[tuple[str, str, str], dict[str, dict[str, torch.Tensor]]] = {}
        self._encoders: dict[tuple[str, str], Any] = {}

    def _source(self, source: str) -> str:
        from openkling.providers.diffusers.families import TINY_REFERENCE_ADAPTER

        if source == TINY_REFERENCE_ADAPTER:
            from openkling.providers.diffusers.tiny import ensure_ip_adapter_saved

            return str(ensure_ip_adapter_saved(self.data_dir / "models" / source))
        return source

    def _encoder(self, source: str, folder: str) -> Any:
        key = (source, folder)
        if key not in self._encoders:
            log.info("loading the IP-Adapter image encoder %s/%s", source, folder)
            try:
                encoder = transformers.CLIPVisionModelWithProjection.from_pretrained(
                    self._source(source), subfolder=folder, dtype=self.dtype)
            except (OSError, ValueError) as exc:
                raise _unreadable("image encoder", folder, exc) from exc
            self._encoders[key] = encoder.to(self.device)
        return self._encoders[key]

    def _state(self, source: str, subfolder: str, name: str) -> dict[str, Any]:
        key = (source, subfolder, name)
        if key not in self._weights:
            log.info("reading IP-Adapter weights %s/%s/%s", source, subfolder, name)
            try:
                path = _weights_file(self._source(source), subfolder, name)
                self._weights[key] = _read_weights(path, self.dtype)
            except (OSError, ValueError) as exc:
                raise _unreadable("weights", name, exc) from exc
        return self._weights[key]

    @contextmanager
    def attached(self, pipe: Any, adapter: dict[str, Any]) -> Iterator[None]:
        """`pipe` with the call's IP-Adapter weights at their scales, for one call."""
        source, subfolder = str(adapter["source"]), str(adapter["subfolder"])
        encoder = self._encoder(source, str(adapter["image_encoder"]))
        states = [self._state(source, subfolder, str(name)) for name in adapter["weights"]]
        size = encoder.config.image_size
        pipe.register_modules(image_encoder=encoder, feature_extractor=transformers
                              .CLIPImageProcessor(size=size, crop_size=size))
        try:
            pipe.load_ip_adapter(states, subfolder=[None] * len(states),
                                 weight_name=[None] * len(states))
            pipe.set_ip_adapter_scale([float(scale) for scale in adapter["scales"]])
            yield
        finally:
            # Also after a failed attach: the next call must find the plain UNet.
            pipe.unload_ip_adapter()
