"""`images/omni-image` on Qwen-Image-Edit Plus: its model options and the Kling -> pipeline
mapping, field by field (docs/providers.md, "Omni-image").

- `image_list` (`[{"image": ...}]`, in order) are QwenImageEditPlusPipeline's input
  pictures. The pipeline's prompt template prefixes each picture with "Picture N: " (N from
  1, diffusers 0.42's `img_prompt_template`), so each `<<<image_N>>>` of the prompt becomes
  "Picture N" and keeps its meaning. A `<<<image_N>>>` beyond the images sent is refused
  (naming `prompt`). The pipeline reads the last input picture's size before anything else
  (`image[-1].size`) and cannot run on text alone, so a text-only omni-image (valid on
  Kling) is a text-to-image on the provider's images/generations model instead
  (`omni_text_call`): same fields and limits, `auto` being 1:1 as there is no image to
  follow.
- `element_list` names entries of Kling's element library, which does not exist locally: a
  list that asks for something is refused (so is a `<<<element_N>>>` in the prompt).
- `prompt` (required, <= 2500 characters) is the instruction after the references are
  renamed.
- `resolution`: `1k` (default) renders about `area` pixels, `2k` about `area_2k`.
- `aspect_ratio`: Kling's eight image ratios at that area, or `auto` (default): the first
  image's shape at that area. Sides are multiples of `size_multiple`.
- `n` (1..9, default 1): pictures made in one call.
- `watermark_info {"enabled": false}` asks for nothing; any other field that asks for
  something (and any key beside `image` in an `image_list` entry) is refused (400 / 1201
  naming it).

Pure functions only: no torch here; the model process runs the call as multi-image2image's
(`EditCall`, `PipelineRunner._generate_edit`), or a text-only one as images/generations'
(`ImagesCall`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from openkling.core.errors import KlingError
from openkling.core.families import asks_for
from openkling.core.family_requests import MAX_OMNI_REFERENCES
from openkling.core.models import MAX_PROMPT
from openkling.providers.diffusers.families import (
    IMAGE_ASPECT_RATIOS,
    RESOLUTIONS,
    SERVER_FIELDS,
    TINY_EDIT_DEFAULTS,
    EditCall,
    ImageOptions,
    ImagesCall,
    MultiImage2ImageOptions,
    images_call,
    refuse_entry_keys,
    size_for_ratio,
)

FAMILY = "images/omni-image"
IMAGE_LIST = "image_list"
ELEMENT_LIST = "element_list"
AUTO = "auto"
OMNI_N = (1, 9)
#: Kling's fields the model honours, and the server's own.
OMNI_IMAGE_FIELDS = frozenset({"prompt", "n", "aspect_ratio", "resolution", IMAGE_LIST,
                               ELEMENT_LIST}) | SERVER_FIELDS
#: A reference in Kling's prompt: `<<<image_1>>>`, `<<<element_2>>>`.
REFERENCE = re.compile(r"<<<(image|element)_(\d+)>>>")
#: How QwenImageEditPlusPipeline names its N-th input picture in its prompt template.
PICTURE = "Picture {}"


class OmniImageOptions(MultiImage2ImageOptions):
    """The omni-image model (`provider_options.diffusers.omni_image`): multi-image2image's
    options, `area` being resolution 1k's, plus 2k's."""

    area_2k: int = Field(2048 * 2048, ge=256, description="Pixels of each picture made at "
                         "resolution 2k (`area` is 1k's).")


TINY_OMNI_DEFAULTS: dict[str, Any] = {**TINY_EDIT_DEFAULTS, "area_2k": 128 * 128}


def omni_image_options(raw: dict[str, Any], tiny: bool, text_model: str = "") -> OmniImageOptions:
    """The omni-image options; with a tiny text-to-video model, the tiny edit model's."""
    return OmniImageOptions.model_validate({**(TINY_OMNI_DEFAULTS if tiny else {}), **raw})


def picture_prompt(prompt: str, images: int) -> str:
    """The prompt with each `<<<image_N>>>` named as the pipeline names its pictures;
    refuses a reference to an image not sent, or to an element (there is no library)."""

    def rename(match: re.Match[str]) -> str:
        kind, number = match.group(1), int(match.group(2))
        if kind == "element":
            raise KlingError.invalid("prompt", f"{match.group(0)} refers to Kling's element "
                                     "library, which the local diffusers provider does not have")
        if not 1 <= number <= images:
            raise KlingError.invalid("prompt", f"{match.group(0)} refers to an image not sent "
                                     f"(image_list holds {images})")
        return PICTURE.format(number)

    return REFERENCE.sub(rename, prompt)


@dataclass(frozen=True)
class _Asked:
    """What an omni-image asks for, checked: the prompt with its references renamed."""

    prompt: str
    n: int
    resolution: str
    aspect_ratio: str


def _checked(request: dict[str, Any], images: int) -> _Asked:
    """Refuses (400 / 1201) what Kling refuses and any field the model cannot honour."""
    # The images are stored apart (`inputs`) but were sent: values neutral without an image
    # (a reference image's fidelities) ask for something here.
    sent = {**request, "image": "sent"}
    for name in sorted(request):
        if name not in OMNI_IMAGE_FIELDS and asks_for(name, request[name], sent):
            raise KlingError.invalid(name, f"not supported by the local diffusers provider for "
                                     f"{FAMILY} (it takes image_list, prompt, n, resolution "
                                     "and aspect_ratio)")
    refuse_entry_keys(request, IMAGE_LIST, "image")
    if asks_for(ELEMENT_LIST, request.get(ELEMENT_LIST), request):
        raise KlingError.invalid(ELEMENT_LIST, "not supported by the local diffusers provider "
                                 "(it has no element library; send the pictures in image_list)")
    if images > MAX_OMNI_REFERENCES:
        raise KlingError.invalid(IMAGE_LIST, f"takes at most {MAX_OMNI_REFERENCES} images")
    prompt = request.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT:
        raise KlingError.invalid("prompt", f"is required: text of at most {MAX_PROMPT} "
                                 "characters (images as <<<image_1>>>, ...)")
    n = request.get("n")
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not OMNI_N[0] <= n <= OMNI_N[1]:
        raise KlingError.invalid("n", f"must be a whole number from {OMNI_N[0]} to "
                                 f"{OMNI_N[1]}")
    resolution = request.get("resolution") or RESOLUTIONS[0]
    if resolution not in RESOLUTIONS:
        raise KlingError.invalid("resolution", f"must be one of {', '.join(RESOLUTIONS)}")
    aspect_ratio = request.get("aspect_ratio") or AUTO
    if aspect_ratio != AUTO and aspect_ratio not in IMAGE_ASPECT_RATIOS:
        raise KlingError.invalid("aspect_ratio", f"must be one of {AUTO}, "
                                 f"{', '.join(IMAGE_ASPECT_RATIOS)}")
    return _Asked(picture_prompt(prompt, images), n, resolution, aspect_ratio)


def omni_image_call(request: dict[str, Any], *, image_paths: list[str],
                    first_size: tuple[int, int] | None, seed: int,
                    options: OmniImageOptions) -> EditCall:
    """The whole omni-image mapping: the stored request, the paths of its stored images (in
    order) and the first one's size -> one pipeline call; refuses (400 / 1201) what Kling
    refuses and any field the model cannot honour."""
    asked = _checked(request, len(image_paths))
    if not image_paths:
        raise KlingError.invalid(IMAGE_LIST, "Qwen-Image-Edit Plus needs at least one image "
                                 '(a text-only omni-image runs as text-to-image): '
                                 '[{"image": URL or raw base64}, ...]')
    if asked.aspect_ratio == AUTO:
        ratio_w, ratio_h = first_size or (1, 1)
    else:
        ratio_w, ratio_h = IMAGE_ASPECT_RATIOS[asked.aspect_ratio]
    area = options.area if asked.resolution == "1k" else options.area_2k
    width, height = size_for_ratio(ratio_w, ratio_h, area, options.size_multiple)
    return EditCall(
        prompt=asked.prompt, negative_prompt=options.negative_prompt,
        image_paths=list(image_paths), width=width, height=height, n=asked.n,
        num_inference_steps=options.steps, guidance_scale=options.guidance,
        input_area=options.input_area, seed=seed,
    )


def omni_text_call(request: dict[str, Any], *, seed: int, options: ImageOptions) -> ImagesCall:
    """A text-only omni-image as a text-to-image on the images/generations model: the same
    checks, `auto` being 1:1 (there is no image whose shape to follow)."""
    asked = _checked(request, 0)
    aspect_ratio = "1:1" if asked.aspect_ratio == AUTO else asked.aspect_ratio
    return images_call(prompt=asked.prompt, negative_prompt=None, aspect_ratio=aspect_ratio,
                       resolution=asked.resolution, n=asked.n, image_path=None,
                       image_fidelity=0.5, seed=seed, options=options)
