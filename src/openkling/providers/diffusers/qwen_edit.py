"""Qwen-Image-Edit Plus in the model process: its processor without torchvision, and the
size its input pictures are encoded at.

`QwenImageEditPlusPipeline`'s processor is transformers' `Qwen2VLProcessor`, which insists
on a video processor, and transformers offers video processors only with torchvision. The
edit family reads pictures, never video, so where torchvision is missing the processor is
loaded as `ImageQwen2VLProcessor`: the same class without its video part (same files, same
image tokens). With torchvision installed the pipeline loads its own processor unchanged.
Imports torch and transformers: model process (and tests) only.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

transformers: Any = importlib.import_module("transformers")
_processing: Any = importlib.import_module("transformers.processing_utils")

#: The special tokens of Qwen2.5-VL the processor and the text encoder use for pictures.
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
EDIT_PIPELINE = "QwenImageEditPlusPipeline"
#: Where diffusers 0.42 keeps the area every input picture is encoded at (VAE_IMAGE_SIZE).
_EDIT_MODULE = "diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus"


class ImageQwen2VLProcessor(transformers.Qwen2VLProcessor):  # type: ignore[misc]
    """Qwen2VLProcessor for pictures only: no video processor (which needs torchvision)."""

    def __init__(self, image_processor: Any = None, tokenizer: Any = None,
                 chat_template: Any = None, **kwargs: Any) -> None:
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        _processing.ProcessorMixin.__init__(self, image_processor, tokenizer,
                                            chat_template=chat_template)


def has_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def edit_load_kwargs(source: str, pipeline: str) -> dict[str, Any]:
    """Extra from_pretrained arguments for an edit pipeline loaded without torchvision (its
    processor as ImageQwen2VLProcessor); nothing for any other pipeline, or with
    torchvision."""
    if has_torchvision():
        return {}
    name = pipeline
    if name == "auto":
        diffusers: Any = importlib.import_module("diffusers")
        try:
            name = str(diffusers.DiffusionPipeline.load_config(source).get("_class_name"))
        except (OSError, ValueError):
            return {}  # from_pretrained says what is wrong with the source
    if name != EDIT_PIPELINE:
        return {}
    return {"processor": ImageQwen2VLProcessor.from_pretrained(source, subfolder="processor")}


def set_input_area(area: int) -> None:
    """The pixels QwenImageEditPlusPipeline encodes each input picture at (a module setting
    of diffusers, read on every call; one pipeline per model process)."""
    module: Any = importlib.import_module(_EDIT_MODULE)
    if not hasattr(module, "VAE_IMAGE_SIZE"):
        raise ValueError(f"{_EDIT_MODULE} has no VAE_IMAGE_SIZE: input_area cannot be set "
                         "with this diffusers version")
    module.VAE_IMAGE_SIZE = int(area)
